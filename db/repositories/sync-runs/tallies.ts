import type { Knex } from 'knex';
import type { ApplyCounts } from '../../../domain/reconcile';

/**
 * Counts of a sync run: its planned changes by entity, action and outcome, and the sizes its plan
 * and apply report (snapshot, active users: what the deprovision guard weighs).
 */

export type Tally = (where: { entity: 'user' | 'group'; action?: string; exceptAction?: string; outcome: string | null }) => number;

/** Counts a run's planned changes by entity, action and outcome (one query). */
export async function tallyChanges(trx: Knex.Transaction, runId: string): Promise<Tally> {
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

/** What the plan weighs its changes against: the snapshot's size and the organization's active users. */
export async function planBaseline(
  trx: Knex.Transaction,
  params: { run: string; org: string },
): Promise<{ snap_users: number; snap_groups: number; active: number }> {
  const [baseline = { snap_users: 0, snap_groups: 0, active: 0 }] = (
    await trx.raw(
      `SELECT (SELECT count(*) FROM sync_snapshot_users WHERE run_id = :run)::int AS snap_users,
              (SELECT count(*) FROM sync_snapshot_groups WHERE run_id = :run)::int AS snap_groups,
              (SELECT count(*) FROM directory_users WHERE organization_id = :org AND active)::int AS active`,
      params,
    )
  ).rows as { snap_users: number; snap_groups: number; active: number }[];
  return baseline;
}

/** Users in the run's snapshot. */
async function snapshotUserCount(trx: Knex.Transaction, runId: string): Promise<number> {
  return Number(
    ((await trx.raw(`SELECT count(*)::int AS n FROM sync_snapshot_users WHERE run_id = ?`, [runId])).rows as { n: number }[])[0]?.n ?? 0,
  );
}

/**
 * What a run's apply did, from its plan's outcomes: changes applied by kind, those skipped because
 * an event newer than the snapshot changed the entity, and `failed` users; drift is what changed.
 */
export async function appliedCounts(trx: Knex.Transaction, runId: string, failed: number): Promise<ApplyCounts> {
  const tally = await tallyChanges(trx, runId);
  const n = (entity: 'user' | 'group', action: string) => tally({ entity, action, outcome: 'applied' });
  const skippedNewer = (entity: 'user' | 'group') => tally({ entity, outcome: 'skipped_newer' });
  const snapUsers = await snapshotUserCount(trx, runId);
  const result: ApplyCounts = {
    users: {
      created: n('user', 'create'),
      updated: n('user', 'update'),
      deactivated: n('user', 'deactivate'),
      reactivated: n('user', 'reactivate'),
      unchanged: 0,
      skippedNewer: skippedNewer('user'),
      failed,
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
    snapUsers -
      result.users.created -
      result.users.updated -
      result.users.reactivated -
      failed -
      tally({ entity: 'user', exceptAction: 'deactivate', outcome: 'skipped_newer' }),
  );
  result.drift =
    result.users.created +
    result.users.updated +
    result.users.deactivated +
    result.users.reactivated +
    result.groups.created +
    result.groups.updated +
    result.groups.deleted +
    result.groups.restored;
  return result;
}
