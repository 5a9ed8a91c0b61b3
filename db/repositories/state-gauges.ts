import type { Knex } from 'knex';
import { countEmailConflicts } from './conflicts';

/** The organizations' state as /metrics reports it: what needs a person, and how fresh things are. */
export interface StateGauges {
  quarantinedEvents: number;
  deferredEvents: number;
  pausedOrganizations: number;
  runsAwaitingApproval: number;
  runsInProgress: number;
  /** Organizations with a directory that have never completed a full reconcile (or import). */
  organizationsNeverReconciled: number;
  /** Age of the oldest "last completed full reconcile" among organizations with a directory. */
  oldestFullReconcileAgeSeconds: number | null;
  /** Users held back because a user of another directory of their organization has their e-mail. */
  emailConflictsBetweenDirectories: number;
  /** Users active in the directory held out of the application by their organization's allowed e-mail domains. */
  heldUsers: number;
  /** Change records ever written, of every organization (each organization's newest sequence, summed). */
  changeRecordsWritten: number;
  /** Change records written and not yet removed by retention (per organization: newest sequence − newest pruned). */
  changeRecordsRetained: number;
  /** Age of the oldest change record kept (null: none kept). */
  oldestChangeRecordAgeSeconds: number | null;
}

export async function readStateGauges(db: Knex): Promise<StateGauges> {
  const { rows } = await db.raw(`
    WITH last_full AS (
      SELECT o.id,
             (SELECT r.finished_at FROM sync_runs r
               WHERE r.organization_id = o.id AND r.kind = 'full' AND r.status = 'completed' AND NOT r.dry_run
               ORDER BY r.finished_at DESC LIMIT 1) AS at
        FROM organizations o
       WHERE EXISTS (SELECT 1 FROM organization_directories d WHERE d.organization_id = o.id AND d.removed_at IS NULL))
    SELECT (SELECT count(*) FROM directory_events WHERE outcome = 'quarantined')::int AS quarantined,
           (SELECT count(*) FROM directory_events WHERE outcome = 'deferred')::int AS deferred,
           (SELECT count(*) FROM organizations WHERE sync_paused)::int AS paused,
           (SELECT count(*) FROM sync_runs WHERE status = 'needs_approval')::int AS awaiting,
           (SELECT count(*) FROM sync_runs WHERE status IN ('running', 'applying'))::int AS in_progress,
           (SELECT count(*) FROM last_full WHERE at IS NULL)::int AS never,
           (SELECT count(*) FROM directory_users WHERE held_reason IS NOT NULL)::int AS held,
           (SELECT extract(epoch FROM now() - min(at)) FROM last_full)::float8 AS oldest,
           -- From the organizations' counters and the committed_at index: no scan of the records.
           (SELECT coalesce(sum(change_sequence), 0) FROM organizations)::float8 AS changes_written,
           (SELECT coalesce(sum(change_sequence - changes_pruned_through), 0) FROM organizations)::float8 AS changes_retained,
           (SELECT extract(epoch FROM now() - min(committed_at)) FROM change_records)::float8 AS oldest_change`);
  const r = (rows as Record<string, number | null>[])[0] ?? {};
  return {
    quarantinedEvents: Number(r.quarantined ?? 0),
    deferredEvents: Number(r.deferred ?? 0),
    pausedOrganizations: Number(r.paused ?? 0),
    runsAwaitingApproval: Number(r.awaiting ?? 0),
    runsInProgress: Number(r.in_progress ?? 0),
    organizationsNeverReconciled: Number(r.never ?? 0),
    oldestFullReconcileAgeSeconds: r.oldest === null || r.oldest === undefined ? null : Math.round(Number(r.oldest)),
    emailConflictsBetweenDirectories: await countEmailConflicts(db, null),
    heldUsers: Number(r.held ?? 0),
    changeRecordsWritten: Number(r.changes_written ?? 0),
    changeRecordsRetained: Number(r.changes_retained ?? 0),
    oldestChangeRecordAgeSeconds: r.oldest_change === null || r.oldest_change === undefined ? null : Math.round(Number(r.oldest_change)),
  };
}
