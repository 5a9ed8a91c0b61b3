import type { Knex } from 'knex';
import type { ApplyCounts, PlanSummary, ReconcileKind } from '../../../domain/reconcile';
import { isRunId } from '../../../domain/ids';

/**
 * Sync runs (reconciliations and imports): the run row, its status and progress. Its snapshot,
 * plan and tallies are in the modules next to this one; the apply is the mirror's writer's
 * (db/mirror/writer.ts). Everything is scoped by organization and run.
 */

type Db = Knex | Knex.Transaction;

export type RunStatus = 'running' | 'planned' | 'needs_approval' | 'applying' | 'completed' | 'cancelled' | 'failed';

export interface SyncRunRow {
  id: string;
  organizationId: string;
  kind: ReconcileKind;
  trigger: string;
  dryRun: boolean;
  status: RunStatus;
  phase: string;
  directoryId: string | null;
  snapshotAt: string;
  snapshotNs: string;
  updatedAfter: string | null;
  pagesFetched: number;
  usersFetched: number;
  groupsFetched: number;
  usersTotal: number | null;
  groupsTotal: number | null;
  plan: PlanSummary | null;
  result: ApplyCounts | null;
  drift: number | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** Scalekit's group → role assignments when the run opened; null on runs opened before they were recorded. */
  roleAssignments: RoleAssignment[] | null;
}

export interface RoleAssignment {
  groupId: string;
  roleName: string;
}

function toRun(r: Record<string, unknown>): SyncRunRow {
  const iso = (v: unknown) => (v ? (v as Date).toISOString() : null);
  return {
    id: String(r.id),
    organizationId: r.organization_id as string,
    kind: r.kind as ReconcileKind,
    trigger: r.trigger as string,
    dryRun: r.dry_run as boolean,
    status: r.status as RunStatus,
    phase: r.phase as string,
    directoryId: r.directory_id as string | null,
    snapshotAt: iso(r.snapshot_at) as string,
    snapshotNs: r.snapshot_ns as string,
    updatedAfter: iso(r.updated_after),
    pagesFetched: r.pages_fetched as number,
    usersFetched: r.users_fetched as number,
    groupsFetched: r.groups_fetched as number,
    usersTotal: r.users_total as number | null,
    groupsTotal: r.groups_total as number | null,
    plan: r.plan as PlanSummary | null,
    result: r.result as ApplyCounts | null,
    drift: r.drift as number | null,
    error: r.error as string | null,
    createdAt: iso(r.created_at) as string,
    finishedAt: iso(r.finished_at),
    roleAssignments: (r.role_assignments as RoleAssignment[] | null | undefined) ?? null,
  };
}

export interface NewRun {
  organizationId: string;
  kind: ReconcileKind;
  trigger: string;
  dryRun: boolean;
  directoryId: string;
  updatedAfter: string | null;
  /** Scalekit's group → role assignments of the directories the run reads, as listed when it opens. */
  roleAssignments: RoleAssignment[];
}

/** Creates a run whose snapshot time is the database's now (before any page is read). */
export async function createRun(db: Db, run: NewRun): Promise<SyncRunRow> {
  const { rows } = await db.raw(
    `INSERT INTO sync_runs (organization_id, kind, trigger, dry_run, status, phase, directory_id, snapshot_at, snapshot_ns, updated_after, role_assignments)
     SELECT ?, ?, ?, ?, 'running', 'users', ?, t.now, (extract(epoch FROM t.now) * 1000000)::bigint * 1000, ?, ?::jsonb
       FROM (SELECT clock_timestamp() AS now) t
     RETURNING *`,
    [run.organizationId, run.kind, run.trigger, run.dryRun, run.directoryId, run.updatedAfter, JSON.stringify(run.roleAssignments)],
  );
  return toRun((rows as Record<string, unknown>[])[0] as Record<string, unknown>);
}

export async function getRun(db: Db, organizationId: string, runId: string): Promise<SyncRunRow | undefined> {
  if (!isRunId(runId)) return undefined;
  const row = await db('sync_runs').where({ organization_id: organizationId, id: runId }).first();
  return row ? toRun(row as Record<string, unknown>) : undefined;
}

export async function listRuns(db: Db, organizationId: string, limit = 50): Promise<SyncRunRow[]> {
  const rows = (await db('sync_runs').where('organization_id', organizationId).orderBy('id', 'desc').limit(limit)) as Record<
    string,
    unknown
  >[];
  return rows.map(toRun);
}

/** The snapshot time of the newest run that completed: deltas read what changed since. */
export async function lastCompletedSnapshot(db: Db, organizationId: string): Promise<string | null> {
  const row = await db('sync_runs')
    .where({ organization_id: organizationId, status: 'completed' })
    .orderBy('snapshot_at', 'desc')
    .first('snapshot_at');
  return row ? (row.snapshot_at as Date).toISOString() : null;
}

export interface Progress {
  phase: string;
  pagesFetched: number;
  usersFetched: number;
  groupsFetched: number;
  usersTotal: number | null;
  groupsTotal: number | null;
}

/** Sets (never increments) progress, so a retried step cannot double count. */
export async function recordProgress(db: Db, runId: string, p: Progress): Promise<void> {
  await db('sync_runs')
    .where('id', runId)
    .update({
      phase: p.phase,
      pages_fetched: p.pagesFetched,
      users_fetched: p.usersFetched,
      groups_fetched: p.groupsFetched,
      users_total: p.usersTotal,
      groups_total: p.groupsTotal,
      updated_at: db.raw('now()'),
    });
}

export async function finishRun(
  db: Db,
  runId: string,
  status: Extract<RunStatus, 'completed' | 'cancelled' | 'failed' | 'planned' | 'needs_approval'>,
  fields: { error?: string | null } = {},
): Promise<void> {
  await db('sync_runs')
    .where('id', runId)
    .update({
      status,
      error: fields.error ?? null,
      updated_at: db.raw('now()'),
      finished_at: status === 'needs_approval' || status === 'planned' ? null : db.raw('clock_timestamp()'),
    });
}

/** Rewrites a completed run's result (what happened after its apply, in the same transaction). */
export async function recordResult(db: Db, runId: string, result: ApplyCounts): Promise<void> {
  await db('sync_runs')
    .where('id', runId)
    .update({ result: JSON.stringify(result), updated_at: db.raw('now()') });
}

/**
 * Claims the run for its apply (status applying) unless it has ended: cancelled meanwhile, or
 * expired by retention. The row lock this takes keeps it from ending during the apply. False when
 * it had ended.
 */
export async function claimRunForApply(db: Db, runId: string): Promise<boolean> {
  const claimed = await db('sync_runs')
    .where('id', runId)
    .whereNotIn('status', ['cancelled', 'failed'])
    .update({ status: 'applying', phase: 'apply' });
  return claimed > 0;
}

/**
 * Completes an applied run with its result. Its end is the clock's, not now(): the apply's
 * transaction began when the apply did, and the run's duration must include it.
 */
export async function completeRun(db: Db, runId: string, result: ApplyCounts): Promise<void> {
  await db('sync_runs')
    .where('id', runId)
    .update({
      status: 'completed',
      phase: 'done',
      result: JSON.stringify(result),
      drift: result.drift,
      finished_at: db.raw('clock_timestamp()'),
      updated_at: db.raw('now()'),
    });
}

/** Records the run's plan summary (plan step). */
export async function recordPlan(db: Db, runId: string, plan: PlanSummary): Promise<void> {
  await db('sync_runs')
    .where('id', runId)
    .update({ plan: JSON.stringify(plan), drift: plan.drift, phase: 'plan', updated_at: db.raw('now()') });
}
