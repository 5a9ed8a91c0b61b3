import type { Knex } from 'knex';
import type { PlanSummary, StepReporter } from '../../../domain/reconcile';
import { needsApproval, type DeprovisionGuard } from '../../../domain/deprovision-guard';
import { absenceScopeOfRun, summarizeDirectories } from '../run-directories';
import { recordPlan, type SyncRunRow } from './runs';
import { planBaseline, tallyChanges } from './tallies';

/**
 * A sync run's plan: computed from its snapshot and the mirror's tables with set-based SQL into
 * sync_plan_changes, one round trip per statement for the whole run, and read back page by page.
 */

type Db = Knex | Knex.Transaction;

export interface PlanOptions {
  organizationId: string;
  run: SyncRunRow;
  roleAssignments: { groupId: string; roleName: string }[];
  guard: DeprovisionGuard;
  /** Told which step the plan or apply has reached (see PLAN_STEPS, APPLY_STEPS). */
  onStep?: StepReporter;
}

/**
 * The snapshot's desired state per user, as a CTE: its groups restricted to groups that are live
 * after the run (in the snapshot, or for a delta also live in the tables), and the roles those
 * groups carry in Scalekit's mapping.
 */
export const DESIRED_USERS = `
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
  const judged = (alias: string) =>
    `(${alias}.directory_id = ANY(:judged_ids::text[]) OR (${alias}.directory_id IS NULL AND :judge_unknown::boolean))`;
  await trx.raw(`DELETE FROM sync_plan_changes WHERE run_id = ?`, [run.id]);
  // The snapshot was just loaded: without fresh statistics the planner expects one row and picks
  // nested loops that turn quadratic on a large directory.
  await trx.raw(`ANALYZE sync_snapshot_users, sync_snapshot_groups`);

  // Users present in the directory: create, reactivate or update.
  o.onStep?.('users in the directory');
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
  o.onStep?.('users no longer in it');
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
  o.onStep?.('groups');
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

  o.onStep?.('summary');
  await trx.raw(`ANALYZE sync_plan_changes`);
  const tally = await tallyChanges(trx, run.id);
  const n = (entity: 'user' | 'group', action: string) => tally({ entity, action, outcome: null });
  const skipped = (entity: 'user' | 'group') => tally({ entity, outcome: 'skipped_newer' });
  const { snap_users, snap_groups, active } = await planBaseline(trx, params);

  const users = {
    create: n('user', 'create'),
    update: n('user', 'update'),
    deactivate: n('user', 'deactivate'),
    reactivate: n('user', 'reactivate'),
    unchanged: 0,
    skippedNewer: skipped('user'),
  };
  users.unchanged =
    snap_users -
    users.create -
    users.update -
    users.reactivate -
    tally({ entity: 'user', exceptAction: 'deactivate', outcome: 'skipped_newer' });
  const groups = {
    create: n('group', 'create'),
    update: n('group', 'update'),
    delete: n('group', 'delete'),
    restore: n('group', 'restore'),
    unchanged: 0,
    skippedNewer: skipped('group'),
  };
  groups.unchanged =
    snap_groups -
    groups.create -
    groups.update -
    groups.restore -
    tally({ entity: 'group', exceptAction: 'delete', outcome: 'skipped_newer' });
  const drift =
    users.create + users.update + users.deactivate + users.reactivate + groups.create + groups.update + groups.delete + groups.restore;
  const guarded = needsApproval({ dryRun: run.dryRun, deactivate: users.deactivate, activeUsers: active }, o.guard);
  const directories = await summarizeDirectories(trx, o.organizationId, run.id);
  const plan: PlanSummary = { users, groups, activeUsersBefore: active, drift, needsApproval: guarded, guard: o.guard, directories };
  await recordPlan(trx, run.id, plan);
  return plan;
}

export interface PlanChange {
  entity: 'user' | 'group';
  entityId: string;
  /** Who or what it is, for people reading the plan: the user's e-mail (or name), the group's name; null when none is known. */
  label: string | null;
  action: string;
  changes: Record<string, { from: unknown; to: unknown }>;
  outcome: string | null;
  detail: string | null;
}

export async function listPlanChanges(db: Db, runId: string, page: { limit: number; after?: string }): Promise<PlanChange[]> {
  const bindings: unknown[] = [runId];
  let after = '';
  if (page.after) {
    // Cursor: "<entity>:<entity id>" of the last change of the previous page.
    const colon = page.after.indexOf(':');
    after = 'AND (c.entity, c.entity_id) > (?, ?)';
    bindings.push(page.after.slice(0, Math.max(colon, 0)), page.after.slice(colon + 1));
  }
  bindings.push(page.limit);
  // The label: as the plan has it (what the directory says now), else as the mirror has it.
  const { rows } = await db.raw(
    `SELECT c.entity, c.entity_id, c.action, c.changes, c.outcome, c.detail,
            CASE c.entity
              WHEN 'user' THEN coalesce(c.changes #>> '{email,to}', u.email, c.changes #>> '{name,to}', u.name)
              ELSE coalesce(c.changes #>> '{displayName,to}', c.changes #>> '{display_name,to}', g.display_name)
            END AS label
       FROM sync_plan_changes c
       JOIN sync_runs r ON r.id = c.run_id
       LEFT JOIN directory_users u ON c.entity = 'user' AND u.organization_id = r.organization_id AND u.id = c.entity_id
       LEFT JOIN directory_groups g ON c.entity = 'group' AND g.organization_id = r.organization_id AND g.id = c.entity_id
      WHERE c.run_id = ? ${after}
      ORDER BY c.entity, c.entity_id
      LIMIT ?`,
    bindings as Knex.RawBinding[],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    entity: r.entity as 'user' | 'group',
    entityId: r.entity_id as string,
    label: (r.label as string | null) ?? null,
    action: r.action as string,
    changes: r.changes as Record<string, { from: unknown; to: unknown }>,
    outcome: r.outcome as string | null,
    detail: r.detail as string | null,
  }));
}
