import type { Knex } from 'knex';
import type { ApplyCounts } from '../../domain/reconcile';
import { CROSS_DIRECTORY_ADVICE, CROSS_DIRECTORY_EMAIL_CONFLICT } from '../../domain/conflicts';
import { describePermanentError } from '../errors';
import { absenceScopeOfRun, ensureRunDirectories } from '../repositories/run-directories';
import { DESIRED_USERS, type PlanOptions } from '../repositories/sync-runs/plan';
import { completeRun } from '../repositories/sync-runs/runs';
import { deleteSnapshot } from '../repositories/sync-runs/snapshot';
import { appliedCounts } from '../repositories/sync-runs/tallies';
import { markRemovedDirectories } from './directories';
import { resolveUserRoles } from './roles';

/**
 * A sync run's apply: its plan written to the mirror with set-based SQL. Only the writer
 * (db/mirror/writer.ts) calls it, under the organization's lock.
 */

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
  const applied = async (sql: string): Promise<string[]> => ((await trx.raw(sql, params)).rows as { id: string }[]).map((r) => r.id);

  // Groups first (memberships refer to them).
  o.onStep?.('groups');
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

  o.onStep?.('deactivations');
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
  o.onStep?.('e-mail conflicts');
  const collisions = (
    await trx.raw(
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
    )
  ).rows as { id: string; reason: string }[];
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
  o.onStep?.('users created and updated');
  try {
    usersUpserted = await trx.transaction(async (sp) => {
      await sp.raw(freeEmails(), params);
      return ((await sp.raw(upsertUsers(), params)).rows as { id: string }[]).map((r) => r.id);
    });
  } catch (err) {
    if (!describePermanentError(err)) throw err;
    // One record breaks a constraint (e.g. two active users with one email): isolate it.
    usersUpserted = [];
    const ids = (
      (
        await trx.raw(
          `SELECT entity_id AS id FROM sync_plan_changes
        WHERE run_id = :run AND entity = 'user' AND outcome IS NULL AND action IN ('create', 'update', 'reactivate')
        ORDER BY entity_id`,
          params,
        )
      ).rows as { id: string }[]
    ).map((r) => r.id);
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
  o.onStep?.('memberships');
  let memberships = 0;
  if (usersUpserted.length > 0) {
    const removed = await trx.raw(
      `WITH ${DESIRED_USERS},
       target AS (SELECT d.id, d.groups FROM desired d WHERE d.id = ANY(:upserted::text[]))
       DELETE FROM group_memberships m
        USING target t
        WHERE m.organization_id = :org AND m.user_id = t.id AND NOT (m.group_id = ANY(t.groups))`,
      { ...params, upserted: usersUpserted },
    );
    const added = await trx.raw(
      `WITH ${DESIRED_USERS}
       INSERT INTO group_memberships (organization_id, group_id, user_id)
       SELECT :org, g, d.id FROM desired d, unnest(d.groups) g
        WHERE d.id = ANY(:upserted::text[])
          AND EXISTS (SELECT 1 FROM directory_groups dg WHERE dg.organization_id = :org AND dg.id = g AND dg.deleted_at IS NULL)
       ON CONFLICT DO NOTHING`,
      { ...params, upserted: usersUpserted },
    );
    memberships = rowCount(removed) + rowCount(added);
  }

  // Record each planned change's outcome: applied, skipped (changed since the plan), or failed.
  o.onStep?.('outcomes');
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
  const judged = (alias: string) =>
    `(${alias}.directory_id = ANY(:judged_ids::text[]) OR (${alias}.directory_id IS NULL AND :judge_unknown::boolean))`;
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
  o.onStep?.('directories');
  await learnDirectories(trx, o.organizationId, run.id);
  // A full run listed every directory of the organization: one it did not list is marked gone
  // (its users are deactivated by the next full run that does not list it either).
  if (full)
    await markRemovedDirectories(
      trx,
      o.organizationId,
      (await ensureRunDirectories(trx, run)).map((d) => d.directoryId),
      run.createdAt,
    );

  const result = await appliedCounts(trx, run.id, failed.size);
  result.memberships = memberships;
  // Roles follow: every user's grants are resolved again (this also repairs any that drifted).
  o.onStep?.('roles');
  const roleChanges = await resolveUserRoles(
    trx,
    o.organizationId,
    'all',
    () => `sync_run:${run.id}`,
    o.onStep && ((done, total) => o.onStep?.('roles', { done, total })),
  );
  result.roles = { usersChanged: roleChanges.usersChanged, granted: roleChanges.granted, revoked: roleChanges.revoked };
  await completeRun(trx, run.id, result);
  // The snapshot has done its job; the plan stays as the audit record.
  await deleteSnapshot(trx, run.id);
  return result;
}

/**
 * The snapshot says which directory lists each user and group: rows whose directory was not known
 * (or was guessed wrong) learn it. Bookkeeping, not drift: nothing about the person changed.
 */
export async function learnDirectories(trx: Knex.Transaction, organizationId: string, runId: string): Promise<void> {
  // A directory user or group id lives in one directory: the listing is right whatever its age.
  await trx.raw(
    `UPDATE directory_users u SET directory_id = s.directory_id
       FROM sync_snapshot_users s
      WHERE s.run_id = ? AND s.directory_id IS NOT NULL AND u.organization_id = ? AND u.id = s.id
        AND u.directory_id IS DISTINCT FROM s.directory_id`,
    [runId, organizationId],
  );
  await trx.raw(
    `UPDATE directory_groups g SET directory_id = s.directory_id
       FROM sync_snapshot_groups s
      WHERE s.run_id = ? AND s.directory_id IS NOT NULL AND g.organization_id = ? AND g.id = s.id
        AND g.directory_id IS DISTINCT FROM s.directory_id`,
    [runId, organizationId],
  );
}

/** Rows a statement changed, from knex's raw result on PostgreSQL. */
function rowCount(result: unknown): number {
  return Number((result as { rowCount?: number | null }).rowCount ?? 0);
}
