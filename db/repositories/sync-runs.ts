import type { Knex } from 'knex';
import type { ApplyCounts, PlanSummary, ReconcileKind, SnapshotGroup, SnapshotUser } from '../../domain/reconcile';
import { CROSS_DIRECTORY_ADVICE, CROSS_DIRECTORY_EMAIL_CONFLICT } from '../../domain/conflicts';
import { isRunId } from '../../domain/ids';
import { chunkRows } from '../batch';
import { describePermanentError } from '../errors';
import { markRemovedDirectories } from './directories';
import { resolveUserRoles } from './roles';
import { absenceScopeOfRun, ensureRunDirectories, learnDirectories, summarizeDirectories } from './run-directories';

/**
 * Sync runs (reconciliations and imports): the run row, the directory snapshot it reads into
 * staging tables, the plan computed from snapshot and tables with set-based SQL, and the apply.
 * Everything is scoped by organization and run; every statement is one round trip for the batch.
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
  const rows = (await db('sync_runs').where('organization_id', organizationId).orderBy('id', 'desc').limit(limit)) as Record<string, unknown>[];
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
  await db('sync_runs').where('id', runId).update({
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
      finished_at: status === 'needs_approval' || status === 'planned' ? null : db.raw('now()'),
    });
}

/** Rewrites a completed run's result (what happened after its apply, in the same transaction). */
export async function recordResult(db: Db, runId: string, result: ApplyCounts): Promise<void> {
  await db('sync_runs').where('id', runId).update({ result: JSON.stringify(result), updated_at: db.raw('now()') });
}

export async function insertSnapshotUsers(db: Db, runId: string, users: readonly SnapshotUser[]): Promise<void> {
  const rows = users.map((u) => ({
    run_id: runId,
    id: u.id,
    directory_id: u.directoryId,
    email: u.email,
    preferred_username: u.preferredUsername,
    given_name: u.givenName,
    family_name: u.familyName,
    updated_ns: u.updatedNs,
    groups: u.groups,
  }));
  for (const part of chunkRows(rows)) {
    await db('sync_snapshot_users').insert(part).onConflict(['run_id', 'id']).ignore();
  }
}

export async function insertSnapshotGroups(db: Db, runId: string, groups: readonly SnapshotGroup[]): Promise<void> {
  const rows = groups.map((g) => ({ run_id: runId, id: g.id, directory_id: g.directoryId, display_name: g.displayName, updated_ns: g.updatedNs }));
  for (const part of chunkRows(rows)) {
    await db('sync_snapshot_groups').insert(part).onConflict(['run_id', 'id']).ignore();
  }
}

// ---------------------------------------------------------------------------------------------
// Plan

export interface PlanOptions {
  organizationId: string;
  run: SyncRunRow;
  roleAssignments: { groupId: string; roleName: string }[];
  guard: { share: number; minimum: number };
}

/**
 * The snapshot's desired state per user, as a CTE: its groups restricted to groups that are live
 * after the run (in the snapshot, or for a delta also live in the tables), and the roles those
 * groups carry in Scalekit's mapping.
 */
const DESIRED_USERS = `
  desired AS (
    SELECT s.id, s.directory_id, s.email, s.preferred_username, s.given_name, s.family_name,
           coalesce((SELECT array_agg(DISTINCT g COLLATE "C" ORDER BY g COLLATE "C") FROM unnest(s.groups) g
                      WHERE EXISTS (SELECT 1 FROM sync_snapshot_groups sg WHERE sg.run_id = :run AND sg.id = g)
                         OR (:delta AND EXISTS (SELECT 1 FROM directory_groups dg
                                                  WHERE dg.organization_id = :org AND dg.id = g AND dg.deleted_at IS NULL))), '{}') AS groups,
           coalesce((SELECT array_agg(DISTINCT r.role_name COLLATE "C" ORDER BY r.role_name COLLATE "C")
                       FROM unnest(:role_groups::text[], :role_names::text[]) AS r(group_id, role_name)
                      WHERE r.group_id = ANY(s.groups)), '{}') AS roles
      FROM sync_snapshot_users s
     WHERE s.run_id = :run
  ),
  current AS (
    SELECT u.id, u.email, u.preferred_username, u.given_name, u.family_name, u.active,
           coalesce((SELECT array_agg(r COLLATE "C" ORDER BY r COLLATE "C") FROM unnest(u.roles) r), '{}') AS roles, u.source_ns,
           coalesce((SELECT array_agg(m.group_id COLLATE "C" ORDER BY m.group_id COLLATE "C") FROM group_memberships m
                      WHERE m.organization_id = u.organization_id AND m.user_id = u.id), '{}') AS groups
      FROM directory_users u
     WHERE u.organization_id = :org
  )`;

function change(field: string, before: string, after: string): string {
  return `'${field}', CASE WHEN ${before} IS DISTINCT FROM ${after} THEN jsonb_build_object('from', to_jsonb(${before}), 'to', to_jsonb(${after})) END`;
}

type Tally = (where: { entity: 'user' | 'group'; action?: string; exceptAction?: string; outcome: string | null }) => number;

/** Counts a run's planned changes by entity, action and outcome (one query). */
async function tallyChanges(trx: Knex.Transaction, runId: string): Promise<Tally> {
  const { rows } = await trx.raw(
    `SELECT entity, action, outcome, count(*)::int AS n FROM sync_plan_changes WHERE run_id = ? GROUP BY entity, action, outcome`,
    [runId],
  );
  const counts = rows as { entity: string; action: string; outcome: string | null; n: number }[];
  return (w) =>
    counts
      .filter(
        (c) =>
          c.entity === w.entity &&
          c.outcome === w.outcome &&
          (w.action === undefined || c.action === w.action) &&
          (w.exceptAction === undefined || c.action !== w.exceptAction),
      )
      .reduce((a, c) => a + c.n, 0);
}

/**
 * Computes the plan into sync_plan_changes (replacing any earlier plan of the run, so a retried
 * step is harmless) and summarizes it. Entities changed by events newer than the snapshot are
 * listed as skipped_newer and left alone.
 */
export async function computePlan(trx: Knex.Transaction, o: PlanOptions): Promise<PlanSummary> {
  const run = o.run;
  const delta = run.kind === 'delta';
  // Absent from the snapshot counts only for entities of a directory the run read (or one gone
  // from Scalekit): see domain/directories.ts.
  const scope = await absenceScopeOfRun(trx, o.organizationId, run);
  const params = {
    run: run.id,
    org: o.organizationId,
    ns: run.snapshotNs,
    delta,
    full: !delta,
    role_groups: o.roleAssignments.map((a) => a.groupId),
    role_names: o.roleAssignments.map((a) => a.roleName),
    judged_ids: scope.judgedIds,
    judged_reasons: scope.judgedReasons,
    judge_unknown: scope.unknown.judged,
    unknown_reason: scope.unknown.reason,
  };
  const absence = (alias: string) => `
    CASE WHEN ${alias}.source_ns > :ns THEN 'changed by an event newer than the snapshot'
         WHEN ${alias}.directory_id IS NULL THEN :unknown_reason::text
         ELSE (:judged_reasons::text[])[array_position(:judged_ids::text[], ${alias}.directory_id)] END`;
  const judged = (alias: string) => `(${alias}.directory_id = ANY(:judged_ids::text[]) OR (${alias}.directory_id IS NULL AND :judge_unknown::boolean))`;
  await trx.raw(`DELETE FROM sync_plan_changes WHERE run_id = ?`, [run.id]);
  // The snapshot was just loaded: without fresh statistics the planner expects one row and picks
  // nested loops that turn quadratic on a large directory.
  await trx.raw(`ANALYZE sync_snapshot_users, sync_snapshot_groups`);

  // Users present in the directory: create, reactivate or update.
  await trx.raw(
    `WITH ${DESIRED_USERS},
     diff AS (
       SELECT d.id,
              CASE WHEN c.id IS NULL THEN 'create' WHEN NOT c.active THEN 'reactivate' ELSE 'update' END AS action,
              jsonb_strip_nulls(jsonb_build_object(
                ${change('email', 'c.email', 'd.email')},
                ${change('givenName', 'c.given_name', 'd.given_name')},
                ${change('familyName', 'c.family_name', 'd.family_name')},
                ${change('preferredUsername', 'c.preferred_username', 'd.preferred_username')},
                ${change('groups', 'c.groups', 'd.groups')},
                ${change('roles', 'c.roles', 'd.roles')},
                'active', CASE WHEN c.id IS NULL OR NOT c.active THEN jsonb_build_object('from', to_jsonb(c.active), 'to', true) END
              )) AS changes,
              c.source_ns
         FROM desired d LEFT JOIN current c ON c.id = d.id
     )
     INSERT INTO sync_plan_changes (run_id, entity, entity_id, action, changes, outcome, detail)
     SELECT :run::bigint, 'user', id, action, changes,
            CASE WHEN source_ns > :ns THEN 'skipped_newer' END,
            CASE WHEN source_ns > :ns THEN 'changed by an event newer than the snapshot' END
       FROM diff
      WHERE changes <> '{}'::jsonb`,
    params,
  );
  // Users no longer in the directory (full runs only): deactivate.
  if (!delta) {
    await trx.raw(
      `INSERT INTO sync_plan_changes (run_id, entity, entity_id, action, changes, outcome, detail)
       SELECT :run::bigint, 'user', u.id, 'deactivate', jsonb_build_object('active', jsonb_build_object('from', true, 'to', false)),
              CASE WHEN u.source_ns > :ns THEN 'skipped_newer' END,
              ${absence('u')}
         FROM directory_users u
        WHERE u.organization_id = :org AND u.active
          AND NOT EXISTS (SELECT 1 FROM sync_snapshot_users s WHERE s.run_id = :run AND s.id = u.id)
          AND ${judged('u')}`,
      params,
    );
  }
  // Groups: create, restore, rename; for full runs, delete those absent.
  await trx.raw(
    `INSERT INTO sync_plan_changes (run_id, entity, entity_id, action, changes, outcome, detail)
     SELECT :run::bigint, 'group', s.id,
            CASE WHEN g.id IS NULL THEN 'create' WHEN g.deleted_at IS NOT NULL THEN 'restore' ELSE 'update' END,
            jsonb_strip_nulls(jsonb_build_object(
              ${change('displayName', 'g.display_name', 's.display_name')},
              'deleted', CASE WHEN g.deleted_at IS NOT NULL THEN jsonb_build_object('from', true, 'to', false) END)),
            CASE WHEN g.source_ns > :ns THEN 'skipped_newer' END,
            CASE WHEN g.source_ns > :ns THEN 'changed by an event newer than the snapshot' END
       FROM sync_snapshot_groups s
       LEFT JOIN directory_groups g ON g.organization_id = :org AND g.id = s.id
      WHERE s.run_id = :run
        AND (g.id IS NULL OR g.deleted_at IS NOT NULL OR g.display_name IS DISTINCT FROM s.display_name)
     UNION ALL
     SELECT :run::bigint, 'group', g.id, 'delete', jsonb_build_object('deleted', jsonb_build_object('from', false, 'to', true)),
            CASE WHEN g.source_ns > :ns THEN 'skipped_newer' END,
            ${absence('g')}
       FROM directory_groups g
      WHERE :full AND g.organization_id = :org AND g.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM sync_snapshot_groups s WHERE s.run_id = :run AND s.id = g.id)
        AND ${judged('g')}`,
    params,
  );

  await trx.raw(`ANALYZE sync_plan_changes`);
  const tally = await tallyChanges(trx, run.id);
  const n = (entity: 'user' | 'group', action: string) => tally({ entity, action, outcome: null });
  const skipped = (entity: 'user' | 'group') => tally({ entity, outcome: 'skipped_newer' });
  const [{ snap_users, snap_groups, active } = { snap_users: 0, snap_groups: 0, active: 0 }] = (
    await trx.raw(
      `SELECT (SELECT count(*) FROM sync_snapshot_users WHERE run_id = :run)::int AS snap_users,
              (SELECT count(*) FROM sync_snapshot_groups WHERE run_id = :run)::int AS snap_groups,
              (SELECT count(*) FROM directory_users WHERE organization_id = :org AND active)::int AS active`,
      params,
    )
  ).rows as { snap_users: number; snap_groups: number; active: number }[];

  const users = {
    create: n('user', 'create'),
    update: n('user', 'update'),
    deactivate: n('user', 'deactivate'),
    reactivate: n('user', 'reactivate'),
    unchanged: 0,
    skippedNewer: skipped('user'),
  };
  users.unchanged =
    snap_users - users.create - users.update - users.reactivate - tally({ entity: 'user', exceptAction: 'deactivate', outcome: 'skipped_newer' });
  const groups = {
    create: n('group', 'create'),
    update: n('group', 'update'),
    delete: n('group', 'delete'),
    restore: n('group', 'restore'),
    unchanged: 0,
    skippedNewer: skipped('group'),
  };
  groups.unchanged =
    snap_groups - groups.create - groups.update - groups.restore - tally({ entity: 'group', exceptAction: 'delete', outcome: 'skipped_newer' });
  const drift =
    users.create + users.update + users.deactivate + users.reactivate + groups.create + groups.update + groups.delete + groups.restore;
  const needsApproval =
    !run.dryRun && users.deactivate >= o.guard.minimum && users.deactivate > o.guard.share * active;
  const directories = await summarizeDirectories(trx, o.organizationId, run.id);
  const plan: PlanSummary = { users, groups, activeUsersBefore: active, drift, needsApproval, guard: o.guard, directories };
  await trx('sync_runs')
    .where('id', run.id)
    .update({ plan: JSON.stringify(plan), drift, phase: 'plan', updated_at: trx.raw('now()') });
  return plan;
}

export interface PlanChange {
  entity: 'user' | 'group';
  entityId: string;
  action: string;
  changes: Record<string, { from: unknown; to: unknown }>;
  outcome: string | null;
  detail: string | null;
}

export async function listPlanChanges(
  db: Db,
  runId: string,
  page: { limit: number; after?: string },
): Promise<PlanChange[]> {
  const q = db('sync_plan_changes')
    .where('run_id', runId)
    .orderByRaw('entity, entity_id')
    .limit(page.limit)
    .select('entity', 'entity_id', 'action', 'changes', 'outcome', 'detail');
  if (page.after) {
    // Cursor: "<entity>:<entity id>" of the last change of the previous page.
    const colon = page.after.indexOf(':');
    q.andWhereRaw('(entity, entity_id) > (?, ?)', [page.after.slice(0, Math.max(colon, 0)), page.after.slice(colon + 1)]);
  }
  const rows = (await q) as Record<string, unknown>[];
  return rows.map((r) => ({
    entity: r.entity as 'user' | 'group',
    entityId: r.entity_id as string,
    action: r.action as string,
    changes: r.changes as Record<string, { from: unknown; to: unknown }>,
    outcome: r.outcome as string | null,
    detail: r.detail as string | null,
  }));
}

// ---------------------------------------------------------------------------------------------
// Apply

/**
 * Applies a run's plan in one transaction. Freshness is checked again on every row (an event
 * newer than the snapshot may have landed since the plan): such rows are skipped, not overwritten.
 */
export async function applyPlan(trx: Knex.Transaction, o: PlanOptions): Promise<ApplyCounts> {
  const run = o.run;
  const params = {
    run: run.id,
    org: o.organizationId,
    ns: run.snapshotNs,
    delta: run.kind === 'delta',
    role_groups: o.roleAssignments.map((a) => a.groupId),
    role_names: o.roleAssignments.map((a) => a.roleName),
  };
  const applied = async (sql: string): Promise<string[]> =>
    ((await trx.raw(sql, params)).rows as { id: string }[]).map((r) => r.id);

  // Groups first (memberships refer to them).
  const groupsUpserted = await applied(
    `INSERT INTO directory_groups AS g (organization_id, id, display_name, directory_id, source_ns, source_event_id)
     SELECT :org, s.id, s.display_name, s.directory_id, :ns, 'sync_run:' || :run
       FROM sync_snapshot_groups s
       JOIN sync_plan_changes p ON p.run_id = s.run_id AND p.entity = 'group' AND p.entity_id = s.id
      WHERE s.run_id = :run AND p.outcome IS NULL AND p.action IN ('create', 'update', 'restore')
     ON CONFLICT (organization_id, id) DO UPDATE
        SET display_name = excluded.display_name, directory_id = coalesce(excluded.directory_id, g.directory_id), deleted_at = NULL, source_ns = excluded.source_ns,
            source_event_id = excluded.source_event_id, updated_at = now()
      WHERE g.source_ns <= :ns
     RETURNING g.id`,
  );
  const groupsDeleted = await applied(
    `UPDATE directory_groups g
        SET deleted_at = now(), source_ns = :ns, source_event_id = 'sync_run:' || :run, updated_at = now()
       FROM sync_plan_changes p
      WHERE p.run_id = :run AND p.entity = 'group' AND p.action = 'delete' AND p.outcome IS NULL
        AND g.organization_id = :org AND g.id = p.entity_id AND g.source_ns <= :ns AND g.deleted_at IS NULL
     RETURNING g.id`,
  );
  if (groupsDeleted.length > 0) {
    await trx.raw(`DELETE FROM group_memberships WHERE organization_id = ? AND group_id = ANY(?::text[])`, [
      o.organizationId,
      groupsDeleted,
    ]);
  }

  const usersDeactivated = await applied(
    `UPDATE directory_users u
        SET active = false, deactivated_at = now(), source_ns = :ns, source_event_id = 'sync_run:' || :run, updated_at = now()
       FROM sync_plan_changes p
      WHERE p.run_id = :run AND p.entity = 'user' AND p.action = 'deactivate' AND p.outcome IS NULL
        AND u.organization_id = :org AND u.id = p.entity_id AND u.source_ns <= :ns AND u.active
     RETURNING u.id`,
  );
  if (usersDeactivated.length > 0) {
    await trx.raw(`DELETE FROM group_memberships WHERE organization_id = ? AND user_id = ANY(?::text[])`, [
      o.organizationId,
      usersDeactivated,
    ]);
  }

  // Emails that cannot be given out: listed for two directory users, or held by an active user
  // this run leaves as it is. Those users fail up front (one statement), the rest go in one upsert.
  // The reason names both users and their directories (see domain/conflicts.ts).
  const failed = new Map<string, string>();
  const collisions = (await trx.raw(
    `WITH up AS MATERIALIZED (
       SELECT s.id, s.directory_id AS dir, lower(s.email) AS e
         FROM sync_snapshot_users s
         JOIN sync_plan_changes p ON p.run_id = s.run_id AND p.entity = 'user' AND p.entity_id = s.id
        WHERE s.run_id = :run AND p.outcome IS NULL AND p.action IN ('create', 'update', 'reactivate') AND s.email IS NOT NULL),
     dup AS (
       SELECT e, count(DISTINCT dir) AS dirs,
              string_agg(id || ' (directory ' || coalesce(dir, 'not known yet') || ')', ', ' ORDER BY id) AS who
         FROM up GROUP BY e HAVING count(*) > 1),
     held AS (
       SELECT lower(u.email) AS e, u.id, u.directory_id AS dir FROM directory_users u
        WHERE u.organization_id = :org AND u.active AND u.email IS NOT NULL
          AND u.id NOT IN (SELECT id FROM up)
          AND u.id NOT IN (SELECT entity_id FROM sync_plan_changes
                            WHERE run_id = :run AND entity = 'user' AND action = 'deactivate' AND outcome IS NULL))
     SELECT up.id,
            CASE WHEN d.e IS NOT NULL AND d.dirs > 1
                   THEN :between || ': the directories list this e-mail for ' || d.who || '; ' || :advice
                 WHEN d.e IS NOT NULL THEN 'the directory lists this e-mail for more than one user: ' || d.who
                 WHEN up.dir IS NOT NULL AND h.dir IS NOT NULL AND up.dir <> h.dir
                   THEN :between || ': user ' || up.id || ' (directory ' || up.dir || ') has the e-mail of active user '
                        || h.id || ' (directory ' || h.dir || '); ' || :advice
                 ELSE 'e-mail conflict: user ' || up.id || ' (directory ' || coalesce(up.dir, 'not known yet')
                      || ') has the e-mail of active user ' || h.id || ' (directory ' || coalesce(h.dir, 'not known yet') || ')' END AS reason
       FROM up
       LEFT JOIN dup d ON d.e = up.e
       LEFT JOIN held h ON h.e = up.e
      WHERE d.e IS NOT NULL OR h.id IS NOT NULL`,
    { ...params, between: CROSS_DIRECTORY_EMAIL_CONFLICT, advice: CROSS_DIRECTORY_ADVICE },
  )).rows as { id: string; reason: string }[];
  for (const c of collisions) failed.set(c.id, `unique constraint violated: ${c.reason}`);
  if (failed.size > 0) {
    await trx.raw(
      `UPDATE sync_plan_changes SET outcome = 'failed', detail = v.reason
         FROM unnest(:ids::text[], :reasons::text[]) AS v(id, reason)
        WHERE run_id = :run AND entity = 'user' AND entity_id = v.id`,
      { ...params, ids: [...failed.keys()], reasons: [...failed.values()] },
    );
  }

  // Users created, updated or reactivated from the snapshot, with their desired memberships.
  // Emails changing hands inside the run (A and B swap) are freed first, in the same statement's
  // savepoint, so the unique index never sees both at once.
  const freeEmails = (only?: string) => `
    UPDATE directory_users u SET email = NULL
      FROM sync_plan_changes p
     WHERE p.run_id = :run AND p.entity = 'user' AND p.outcome IS NULL AND p.action IN ('update', 'reactivate')
       AND p.changes -> 'email' IS NOT NULL AND u.organization_id = :org AND u.id = p.entity_id AND u.source_ns <= :ns
       ${only ? `AND u.id = ${only}` : ''}`;
  const upsertUsers = (only?: string) => `
    WITH ${DESIRED_USERS}
    INSERT INTO directory_users AS u (organization_id, id, directory_id, email, preferred_username, given_name, family_name, name,
                                      active, roles, source_ns, source_event_id, deactivated_at)
    SELECT :org, d.id, d.directory_id, d.email, d.preferred_username, d.given_name, d.family_name,
           nullif(concat_ws(' ', d.given_name, d.family_name), ''), true, d.roles, :ns, 'sync_run:' || :run, NULL
      FROM desired d
      JOIN sync_plan_changes p ON p.run_id = :run AND p.entity = 'user' AND p.entity_id = d.id
     WHERE p.outcome IS NULL AND p.action IN ('create', 'update', 'reactivate') ${only ? `AND d.id = ${only}` : ''}
    ON CONFLICT (organization_id, id) DO UPDATE
       SET directory_id = coalesce(excluded.directory_id, u.directory_id), email = excluded.email, preferred_username = excluded.preferred_username,
           given_name = excluded.given_name, family_name = excluded.family_name,
           name = CASE WHEN u.given_name IS DISTINCT FROM excluded.given_name OR u.family_name IS DISTINCT FROM excluded.family_name
                         OR u.name IS NULL THEN excluded.name ELSE u.name END,
           active = true, deactivated_at = NULL, roles = excluded.roles,
           source_ns = excluded.source_ns, source_event_id = excluded.source_event_id, updated_at = now()
     WHERE u.source_ns <= :ns
    RETURNING u.id`;
  let usersUpserted: string[];
  try {
    usersUpserted = await trx.transaction(async (sp) => {
      await sp.raw(freeEmails(), params);
      return ((await sp.raw(upsertUsers(), params)).rows as { id: string }[]).map((r) => r.id);
    });
  } catch (err) {
    if (!describePermanentError(err)) throw err;
    // One record breaks a constraint (e.g. two active users with one email): isolate it.
    usersUpserted = [];
    const ids = ((await trx.raw(
      `SELECT entity_id AS id FROM sync_plan_changes
        WHERE run_id = :run AND entity = 'user' AND outcome IS NULL AND action IN ('create', 'update', 'reactivate')
        ORDER BY entity_id`,
      params,
    )).rows as { id: string }[]).map((r) => r.id);
    for (const id of ids) {
      try {
        const got = await trx.transaction(async (sp) => {
          await sp.raw(freeEmails(':only'), { ...params, only: id });
          return ((await sp.raw(upsertUsers(':only'), { ...params, only: id })).rows as { id: string }[]).map((r) => r.id);
        });
        usersUpserted.push(...got);
      } catch (inner) {
        const reason = describePermanentError(inner);
        if (!reason) throw inner;
        failed.set(id, reason);
      }
    }
  }
  if (usersUpserted.length > 0) {
    await trx.raw(
      `WITH ${DESIRED_USERS},
       target AS (SELECT d.id, d.groups FROM desired d WHERE d.id = ANY(:upserted::text[]))
       DELETE FROM group_memberships m
        USING target t
        WHERE m.organization_id = :org AND m.user_id = t.id AND NOT (m.group_id = ANY(t.groups))`,
      { ...params, upserted: usersUpserted },
    );
    await trx.raw(
      `WITH ${DESIRED_USERS}
       INSERT INTO group_memberships (organization_id, group_id, user_id)
       SELECT :org, g, d.id FROM desired d, unnest(d.groups) g
        WHERE d.id = ANY(:upserted::text[])
          AND EXISTS (SELECT 1 FROM directory_groups dg WHERE dg.organization_id = :org AND dg.id = g AND dg.deleted_at IS NULL)
       ON CONFLICT DO NOTHING`,
      { ...params, upserted: usersUpserted },
    );
  }

  // Record each planned change's outcome: applied, skipped (changed since the plan), or failed.
  const appliedUsers = [...usersUpserted, ...usersDeactivated];
  const appliedGroups = [...groupsUpserted, ...groupsDeleted];
  await trx.raw(
    `UPDATE sync_plan_changes p
        SET outcome = CASE
              WHEN (p.entity = 'user' AND p.entity_id = ANY(:users::text[])) OR (p.entity = 'group' AND p.entity_id = ANY(:groups::text[])) THEN 'applied'
              WHEN p.entity = 'user' AND p.entity_id = ANY(:failed_ids::text[]) THEN 'failed'
              WHEN coalesce(u.source_ns, g.source_ns, 0) > :ns THEN 'skipped_newer'
              ELSE 'skipped' END,
            detail = CASE
              WHEN p.entity = 'user' AND p.entity_id = ANY(:failed_ids::text[]) THEN (:failed_reasons::text[])[array_position(:failed_ids::text[], p.entity_id)]
              WHEN (p.entity = 'user' AND p.entity_id = ANY(:users::text[])) OR (p.entity = 'group' AND p.entity_id = ANY(:groups::text[])) THEN p.detail
              WHEN coalesce(u.source_ns, g.source_ns, 0) > :ns THEN 'changed by an event newer than the snapshot'
              ELSE 'nothing left to change: already in the planned state' END
       FROM sync_plan_changes q
       LEFT JOIN directory_users u ON q.entity = 'user' AND u.organization_id = :org AND u.id = q.entity_id
       LEFT JOIN directory_groups g ON q.entity = 'group' AND g.organization_id = :org AND g.id = q.entity_id
      WHERE p.run_id = :run AND p.outcome IS NULL
        AND q.run_id = p.run_id AND q.entity = p.entity AND q.entity_id = p.entity_id`,
    { ...params, users: appliedUsers, groups: appliedGroups, failed_ids: [...failed.keys()], failed_reasons: [...failed.values()] },
  );

  // The tables now reflect the directory as of the snapshot: an event older than it, arriving
  // late, is stale from here on (for a full run every entity of the directories it judged; for a
  // delta the ones it read). Entities changed by newer events keep their newer clock; failed ones theirs.
  const full = run.kind === 'full';
  const scope = await absenceScopeOfRun(trx, o.organizationId, run);
  const sweep = { ...params, full, judged_ids: scope.judgedIds, judge_unknown: scope.unknown.judged };
  const judged = (alias: string) => `(${alias}.directory_id = ANY(:judged_ids::text[]) OR (${alias}.directory_id IS NULL AND :judge_unknown::boolean))`;
  await trx.raw(
    `UPDATE directory_users u SET source_ns = :ns
      WHERE u.organization_id = :org AND u.source_ns < :ns AND NOT (u.id = ANY(:failed_ids::text[]))
        AND ((:full AND ${judged('u')}) OR EXISTS (SELECT 1 FROM sync_snapshot_users s WHERE s.run_id = :run AND s.id = u.id))`,
    { ...sweep, failed_ids: [...failed.keys()] },
  );
  await trx.raw(
    `UPDATE directory_groups g SET source_ns = :ns
      WHERE g.organization_id = :org AND g.source_ns < :ns
        AND ((:full AND ${judged('g')}) OR EXISTS (SELECT 1 FROM sync_snapshot_groups s WHERE s.run_id = :run AND s.id = g.id))`,
    sweep,
  );
  await learnDirectories(trx, o.organizationId, run.id);
  // A full run listed every directory of the organization: one it did not list is marked gone
  // (its users are deactivated by the next full run that does not list it either).
  if (full) await markRemovedDirectories(trx, o.organizationId, (await ensureRunDirectories(trx, run)).map((d) => d.directoryId), run.createdAt);

  const tally = await tallyChanges(trx, run.id);
  const n = (entity: 'user' | 'group', action: string) => tally({ entity, action, outcome: 'applied' });
  const skippedNewer = (entity: 'user' | 'group') => tally({ entity, outcome: 'skipped_newer' });
  const snapUsers = Number(
    ((await trx.raw(`SELECT count(*)::int AS n FROM sync_snapshot_users WHERE run_id = ?`, [run.id])).rows as { n: number }[])[0]?.n ?? 0,
  );
  const result: ApplyCounts = {
    users: {
      created: n('user', 'create'),
      updated: n('user', 'update'),
      deactivated: n('user', 'deactivate'),
      reactivated: n('user', 'reactivate'),
      unchanged: 0,
      skippedNewer: skippedNewer('user'),
      failed: failed.size,
    },
    groups: {
      created: n('group', 'create'),
      updated: n('group', 'update'),
      deleted: n('group', 'delete'),
      restored: n('group', 'restore'),
      skippedNewer: skippedNewer('group'),
    },
    drift: 0,
  };
  result.users.unchanged = Math.max(
    0,
    snapUsers - result.users.created - result.users.updated - result.users.reactivated - failed.size -
      tally({ entity: 'user', exceptAction: 'deactivate', outcome: 'skipped_newer' }),
  );
  result.drift =
    result.users.created + result.users.updated + result.users.deactivated + result.users.reactivated +
    result.groups.created + result.groups.updated + result.groups.deleted + result.groups.restored;
  // Roles follow: every user's grants are resolved again (this also repairs any that drifted).
  const roleChanges = await resolveUserRoles(trx, o.organizationId, 'all', () => `sync_run:${run.id}`);
  result.roles = { usersChanged: roleChanges.usersChanged, granted: roleChanges.granted, revoked: roleChanges.revoked };
  await trx('sync_runs').where('id', run.id).update({
    status: 'completed',
    phase: 'done',
    result: JSON.stringify(result),
    drift: result.drift,
    finished_at: trx.raw('now()'),
    updated_at: trx.raw('now()'),
  });
  // The snapshot has done its job; the plan stays as the audit record.
  await trx.raw(`DELETE FROM sync_snapshot_users WHERE run_id = ?`, [run.id]);
  await trx.raw(`DELETE FROM sync_snapshot_groups WHERE run_id = ?`, [run.id]);
  return result;
}
