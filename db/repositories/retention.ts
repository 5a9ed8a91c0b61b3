import type { Knex } from 'knex';
import type { RetentionCounts, RetentionPeriods, RetentionReport } from '../../domain/retention';
import { withMirrorWriterIfFree } from '../mirror/writer';
import { before, DEACTIVATED_WITH_DATA } from './retention-predicates';

/**
 * Retention's queries. Each `prune…` function is one short transaction touching at most `limit`
 * rows of its kind, and returns how many it touched: callers loop until a batch comes back short.
 * Rows are picked with FOR UPDATE SKIP LOCKED, so a batch never waits for (nor holds up) a
 * transaction applying an organization's changes; what was skipped is picked up by a later batch.
 *
 * The expressions and predicates below match the partial indexes of the retention migration
 * word for word (the planner only uses a partial index whose predicate the query repeats).
 */

/** Events whose outcome is final: their payload and ledger row are no longer needed to apply them. */
const RESOLVED = `outcome IN ('applied', 'duplicate', 'stale', 'ignored')`;
/** When the outcome was decided (the ledger row was written, or the event applied). */
const RESOLVED_AT = `coalesce(applied_at, received_at)`;
const HAS_BODY = `(payload IS NOT NULL OR raw_body IS NOT NULL)`;
const RUN_KEPT = `status IN ('completed', 'cancelled', 'failed', 'planned', 'needs_approval')`;
const RUN_FINISHED = `status IN ('completed', 'cancelled', 'failed')`;

/** The directories run `r` read: its per-directory rows, or for a run recorded before them, its one directory. */
const DIRECTORIES_READ = (r: string) => `
  SELECT rd.directory_id FROM sync_run_directories rd WHERE rd.run_id = ${r}.id AND rd.read
  UNION ALL
  SELECT ${r}.directory_id WHERE ${r}.directory_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sync_run_directories rd WHERE rd.run_id = ${r}.id)`;
/** Run `n` read directory `d` (the test lastReadSnapshot makes). */
const READ_DIRECTORY = (n: string, d: string) => `
  (EXISTS (SELECT 1 FROM sync_run_directories nd WHERE nd.run_id = ${n}.id AND nd.directory_id = ${d} AND nd.read)
   OR (${n}.directory_id = ${d} AND NOT EXISTS (SELECT 1 FROM sync_run_directories nd WHERE nd.run_id = ${n}.id)))`;

/**
 * Whether a completed run of `r`'s organization newer than `r` matches `where`. Looked for from the
 * organization's newest run down (its index), where one is found at once. (A scalar subquery: the
 * planner drops ORDER BY and LIMIT from an EXISTS, then reads the organization's runs from the
 * oldest, thousands of them for each run it tests.)
 */
const NEWER_RUN = (r: string, where: string) => `
  (SELECT n.id FROM sync_runs n
    WHERE n.organization_id = ${r}.organization_id AND n.status = 'completed' AND n.snapshot_at > ${r}.snapshot_at AND ${where}
    ORDER BY n.id DESC LIMIT 1)`;

/**
 * Run `r` is no longer read by anything once it is old: any run that did not complete, and a
 * completed run that newer completed runs have replaced. Kept whatever its age: the newest
 * completed run of each organization, kind and dry-run flag (by snapshot and by finish: a delta
 * reads what changed since the newest snapshot, /metrics and the e-mail conflicts read the newest
 * full run), and the newest completed run that read each directory (a delta reads that directory
 * from its snapshot). Without them a delta would read a directory in full again, or, with no
 * completed run left, a scheduled delta would become a full run.
 */
const UNNEEDED = (r: string) => `
  (${r}.status <> 'completed' OR (
     ${NEWER_RUN(r, `n.kind = ${r}.kind AND n.dry_run = ${r}.dry_run AND n.finished_at > ${r}.finished_at`)} IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM (${DIRECTORIES_READ(r)}) d(directory_id)
                      WHERE ${NEWER_RUN(r, READ_DIRECTORY('n', 'd.directory_id'))} IS NULL)))`;

/**
 * For the statements that test, run by run, whether a run is still read (UNNEEDED): the planner
 * costs their correlated subqueries high enough to compile them (JIT), which takes longer than
 * running them (about half a second against a tenth for a batch of 2,000 runs).
 */
const NO_JIT = 'SET LOCAL jit = off';

// ---------------------------------------------------------------------------------------------
// The event ledger

/**
 * Deletes ledger rows of resolved events older than the period. Deferred (paused organization),
 * pending and quarantined events are never touched: they are kept until they are resolved.
 */
export async function pruneLedgerEvents(db: Knex, seconds: number, limit: number): Promise<number> {
  const [age, s] = before(seconds);
  const result = await db.raw(
    `DELETE FROM directory_events e
      USING (SELECT id FROM directory_events
              WHERE ${RESOLVED} AND ${RESOLVED_AT} < ${age}
              ORDER BY ${RESOLVED_AT}
              LIMIT ? FOR UPDATE SKIP LOCKED) v
      WHERE e.id = v.id`,
    [s, limit],
  );
  return result.rowCount ?? 0;
}

/** Clears payload and raw body of resolved events older than the period; the row stays. */
export async function clearEventPayloads(db: Knex, seconds: number, limit: number): Promise<number> {
  const [age, s] = before(seconds);
  const result = await db.raw(
    `UPDATE directory_events e SET payload = NULL, raw_body = NULL
       FROM (SELECT id FROM directory_events
              WHERE ${RESOLVED} AND ${HAS_BODY} AND ${RESOLVED_AT} < ${age}
              ORDER BY ${RESOLVED_AT}
              LIMIT ? FOR UPDATE SKIP LOCKED) v
      WHERE e.id = v.id`,
    [s, limit],
  );
  return result.rowCount ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Sync runs

/**
 * Ends runs that retention is about to remove but that could still change data: a dry run's plan
 * (or a run waiting for approval) older than the period is cancelled, so it can no longer be
 * approved once its snapshot starts going; a run in progress without any progress for the whole
 * period (its workflow is gone) is marked failed.
 */
export async function endExpiredRuns(db: Knex, seconds: number, limit: number): Promise<number> {
  const [age, s] = before(seconds);
  const result = await db.raw(
    `UPDATE sync_runs r
        SET status = CASE WHEN r.status IN ('planned', 'needs_approval') THEN 'cancelled' ELSE 'failed' END,
            error = CASE WHEN r.status IN ('planned', 'needs_approval')
                         THEN 'not approved within the sync run retention period; expired'
                         ELSE 'no progress within the sync run retention period; abandoned' END,
            finished_at = now(), updated_at = now()
       FROM (SELECT id FROM sync_runs
              WHERE (status IN ('planned', 'needs_approval') AND created_at < ${age})
                 OR (status IN ('running', 'applying') AND updated_at < ${age})
              ORDER BY id
              LIMIT ? FOR UPDATE SKIP LOCKED) v
      WHERE r.id = v.id`,
    [s, s, limit],
  );
  return result.rowCount ?? 0;
}

/** Deletes up to `budget` rows of one run-scoped table for the given runs. */
async function deleteRunRows(trx: Knex.Transaction, table: string, runIds: string[], budget: number): Promise<number> {
  if (budget <= 0 || runIds.length === 0) return 0;
  const result = await trx.raw(
    `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE run_id = ANY(?::bigint[]) LIMIT ?))`,
    [runIds, budget],
  );
  return result.rowCount ?? 0;
}

/**
 * Deletes finished runs older than the period, a batch at a time: first their plan changes and
 * snapshot rows (up to `limit`), then, once none are left, the run rows themselves. The completed
 * runs that deltas, /metrics and the e-mail conflicts still read stay, whatever their age (see
 * UNNEEDED), until newer ones replace them.
 */
export async function pruneSyncRuns(db: Knex, seconds: number, limit: number): Promise<{ runs: number; rows: number }> {
  const [age, s] = before(seconds);
  return db.transaction(async (trx) => {
    await trx.raw(NO_JIT);
    const { rows: picked } = await trx.raw(
      `SELECT r.id FROM sync_runs r WHERE r.${RUN_KEPT} AND r.created_at < ${age} AND r.${RUN_FINISHED} AND ${UNNEEDED('r')}
        ORDER BY r.created_at LIMIT ? FOR UPDATE OF r SKIP LOCKED`,
      [s, limit],
    );
    const ids = (picked as { id: string }[]).map((r) => r.id);
    if (ids.length === 0) return { runs: 0, rows: 0 };
    let rows = 0;
    for (const table of ['sync_plan_changes', 'sync_snapshot_users', 'sync_snapshot_groups']) {
      rows += await deleteRunRows(trx, table, ids, limit - rows);
    }
    // Rows left over: the next batch goes on with the same runs.
    if (rows >= limit) return { runs: 0, rows };
    const deleted = await trx.raw(`DELETE FROM sync_runs WHERE id = ANY(?::bigint[])`, [ids]);
    return { runs: deleted.rowCount ?? 0, rows };
  });
}

/**
 * Snapshot rows (people's names and e-mails as the directory listed them) of runs that have
 * finished, whatever their age: a run deletes its snapshot when it ends, this catches any left.
 */
export async function pruneFinishedRunSnapshots(db: Knex, limit: number): Promise<number> {
  return db.transaction(async (trx) => {
    const { rows: picked } = await trx.raw(
      `SELECT r.id FROM sync_runs r
        WHERE r.id IN (SELECT run_id FROM sync_snapshot_users UNION SELECT run_id FROM sync_snapshot_groups)
          AND r.${RUN_FINISHED}
        LIMIT 100 FOR UPDATE OF r SKIP LOCKED`,
    );
    const ids = (picked as { id: string }[]).map((r) => r.id);
    let rows = 0;
    for (const table of ['sync_snapshot_users', 'sync_snapshot_groups']) rows += await deleteRunRows(trx, table, ids, limit - rows);
    return rows;
  });
}

// ---------------------------------------------------------------------------------------------
// Deactivated users

/**
 * Clears the personal fields (email, names, username, attributes) of up to `limit` users of one
 * organization deactivated longer ago than the period, through the mirror's writer, under the
 * organization's lock (the lock every writer of its directory data takes). An organization whose lock is held (a batch being
 * applied) is skipped, never waited for: its ids are added to `busy` and a later run takes it.
 * Ids, the active flag and the freshness clock stay, so a late event is still recognized as stale
 * and a reactivation fills the fields again. Active users are never touched.
 * Returns the users purged, or null when no organization (other than the busy ones) has any due.
 */
export async function purgeDeactivatedUsers(db: Knex, seconds: number, limit: number, busy: Set<string>): Promise<number | null> {
  const [age, s] = before(seconds);
  return db.transaction(async (trx) => {
    const { rows: due } = await trx.raw(
      `SELECT organization_id FROM directory_users
        WHERE ${DEACTIVATED_WITH_DATA} AND deactivated_at < ${age} AND NOT (organization_id = ANY(?::text[]))
        ORDER BY deactivated_at LIMIT 1`,
      [s, [...busy]],
    );
    const organizationId = (due as { organization_id: string }[])[0]?.organization_id;
    if (organizationId === undefined) return null;
    const purged = await withMirrorWriterIfFree(trx, organizationId, (writer) => writer.purgeDeactivatedUsers(seconds, limit));
    if (purged === undefined) {
      busy.add(organizationId);
      return 0;
    }
    return purged;
  });
}

// ---------------------------------------------------------------------------------------------
// Settings links

/** Spent settings-link nonces an hour past their link's expiry (the link is dead anyway). */
export async function pruneSettingsLinkUses(db: Knex, limit: number): Promise<number> {
  const result = await db.raw(
    `DELETE FROM settings_link_uses
      WHERE ctid = ANY(ARRAY(SELECT ctid FROM settings_link_uses WHERE expires_at < now() - interval '1 hour' LIMIT ?))`,
    [limit],
  );
  return result.rowCount ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Dry run: what a run would prune now

export async function countDue(db: Knex, p: RetentionPeriods): Promise<RetentionCounts> {
  return db.transaction(async (trx) => {
    await trx.raw(NO_JIT);
    return countDueIn(trx, p);
  });
}

async function countDueIn(db: Knex.Transaction, p: RetentionPeriods): Promise<RetentionCounts> {
  const ledger = p.eventLedgerSeconds;
  const payloads = p.eventPayloadSeconds;
  const runs = p.syncRunSeconds;
  const users = p.deactivatedUserSeconds;
  const changes = p.changeRecordSeconds;
  // The runs a run would delete, once: testing whether a run is still read costs a few lookups.
  const { rows } = await db.raw(
    `WITH due AS MATERIALIZED (
       SELECT r.id FROM sync_runs r
        WHERE :runs > 0
          AND ((r.${RUN_KEPT} AND r.created_at < now() - :runs * interval '1 second' AND ${UNNEEDED('r')})
               OR (r.status IN ('running', 'applying') AND r.updated_at < now() - :runs * interval '1 second')))
     SELECT
       CASE WHEN :ledger > 0 THEN (SELECT count(*) FROM directory_events
                                    WHERE ${RESOLVED} AND ${RESOLVED_AT} < now() - :ledger * interval '1 second') ELSE 0 END AS ledger,
       CASE WHEN :payloads > 0 THEN (SELECT count(*) FROM directory_events
                                      WHERE ${RESOLVED} AND ${HAS_BODY} AND ${RESOLVED_AT} < now() - :payloads * interval '1 second'
                                        AND NOT (:ledger > 0 AND ${RESOLVED_AT} < now() - :ledger * interval '1 second')) ELSE 0 END AS payloads,
       CASE WHEN :runs > 0 THEN (SELECT count(*) FROM sync_runs
                                  WHERE (status IN ('planned', 'needs_approval') AND created_at < now() - :runs * interval '1 second')
                                     OR (status IN ('running', 'applying') AND updated_at < now() - :runs * interval '1 second')) ELSE 0 END AS ended,
       (SELECT count(*) FROM due) AS runs,
       (SELECT count(*) FROM sync_plan_changes WHERE run_id IN (SELECT id FROM due))
         + (SELECT count(*) FROM sync_snapshot_users WHERE run_id IN (SELECT id FROM due))
         + (SELECT count(*) FROM sync_snapshot_groups WHERE run_id IN (SELECT id FROM due))
         + (SELECT count(*) FROM sync_snapshot_users s JOIN sync_runs r ON r.id = s.run_id
             WHERE r.${RUN_FINISHED} AND r.id NOT IN (SELECT id FROM due))
         + (SELECT count(*) FROM sync_snapshot_groups s JOIN sync_runs r ON r.id = s.run_id
             WHERE r.${RUN_FINISHED} AND r.id NOT IN (SELECT id FROM due)) AS run_rows,
       CASE WHEN :users > 0 THEN (SELECT count(*) FROM directory_users
                                   WHERE ${DEACTIVATED_WITH_DATA} AND deactivated_at < now() - :users * interval '1 second') ELSE 0 END AS users,
       (SELECT count(*) FROM settings_link_uses WHERE expires_at < now() - interval '1 hour') AS links,
       CASE WHEN :changes > 0 THEN (SELECT count(*) FROM change_records WHERE committed_at < now() - :changes * interval '1 second') ELSE 0 END AS changes`,
    { ledger, payloads, runs, users, changes },
  );
  const r = (rows as Record<string, string | number>[])[0] ?? {};
  return {
    eventPayloadsCleared: Number(r.payloads ?? 0),
    ledgerEventsDeleted: Number(r.ledger ?? 0),
    syncRunsEnded: Number(r.ended ?? 0),
    syncRunsDeleted: Number(r.runs ?? 0),
    syncRunRowsDeleted: Number(r.run_rows ?? 0),
    deactivatedUsersPurged: Number(r.users ?? 0),
    settingsLinkUsesDeleted: Number(r.links ?? 0),
    changeRecordsDeleted: Number(r.changes ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------
// What is kept, for /metrics and `scimflow retention status`

export interface RetentionGauges {
  /** Age of the oldest payload or raw body kept for a resolved event. */
  oldestEventPayloadAgeSeconds: number | null;
  /** Age of the oldest ledger row of a resolved event. */
  oldestLedgerEventAgeSeconds: number | null;
  /**
   * Age of the oldest sync run that retention governs (finished, planned, waiting for approval),
   * not counting the completed runs kept until newer ones replace them (see UNNEEDED).
   */
  oldestSyncRunAgeSeconds: number | null;
  /** How long ago the oldest deactivated user still holding personal fields was deactivated. */
  oldestDeactivatedUserDataAgeSeconds: number | null;
  /** Since the last retention run (not a dry run) finished. */
  lastRunAgeSeconds: number | null;
  /** Rows pruned or cleared by that run. */
  lastRunRows: number | null;
}

/**
 * One index lookup per figure (the retention migration's partial indexes); the sync run figure
 * steps past the few runs per organization kept whatever their age.
 */
export async function readRetentionGauges(db: Knex): Promise<RetentionGauges> {
  const age = (expr: string, from: string) => `(SELECT extract(epoch FROM now() - ${expr}) FROM ${from} ORDER BY ${expr} LIMIT 1)::float8`;
  const { rows } = await db.raw(`
    SELECT ${age(RESOLVED_AT, `directory_events WHERE ${RESOLVED} AND ${HAS_BODY}`)} AS payload,
           ${age(RESOLVED_AT, `directory_events WHERE ${RESOLVED}`)} AS ledger,
           ${age('r.created_at', `sync_runs r WHERE r.${RUN_KEPT} AND ${UNNEEDED('r')}`)} AS run,
           ${age('deactivated_at', `directory_users WHERE ${DEACTIVATED_WITH_DATA} AND deactivated_at IS NOT NULL`)} AS users,
           (SELECT extract(epoch FROM now() - finished_at) FROM retention_runs WHERE NOT dry_run ORDER BY id DESC LIMIT 1)::float8 AS last_age,
           (SELECT counts FROM retention_runs WHERE NOT dry_run ORDER BY id DESC LIMIT 1) AS last_counts`);
  const r = (rows as Record<string, unknown>[])[0] ?? {};
  const seconds = (v: unknown) => (v === null || v === undefined ? null : Math.max(0, Math.round(Number(v))));
  const lastCounts = r.last_counts as Record<string, number> | null | undefined;
  return {
    oldestEventPayloadAgeSeconds: seconds(r.payload),
    oldestLedgerEventAgeSeconds: seconds(r.ledger),
    oldestSyncRunAgeSeconds: seconds(r.run),
    oldestDeactivatedUserDataAgeSeconds: seconds(r.users),
    lastRunAgeSeconds: seconds(r.last_age),
    lastRunRows: lastCounts ? Object.values(lastCounts).reduce((a, b) => a + Number(b), 0) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// The record of retention runs

/** Runs kept in the record (newest first); older ones go as new ones come in. */
const RUNS_KEPT = 1_000;

export async function recordRetentionRun(db: Knex, report: RetentionReport): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('retention_runs').insert({
      trigger: report.trigger,
      dry_run: report.dryRun,
      started_at: report.startedAt,
      finished_at: report.finishedAt ?? trx.raw('now()'),
      complete: report.complete,
      counts: JSON.stringify(report.counts),
      periods: report.periods ? JSON.stringify(report.periods) : null,
      error: report.error,
    });
    await trx.raw(`DELETE FROM retention_runs WHERE id <= (SELECT max(id) - ? FROM retention_runs)`, [RUNS_KEPT]);
  });
}

export interface RetentionRunRow {
  id: string;
  trigger: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  complete: boolean;
  counts: RetentionCounts;
  periods: RetentionPeriods | null;
  error: string | null;
}

export async function listRetentionRuns(db: Knex, limit: number): Promise<RetentionRunRow[]> {
  const rows = (await db('retention_runs').orderBy('id', 'desc').limit(limit)) as Record<string, unknown>[];
  return rows.map((r) => ({
    id: String(r.id),
    trigger: r.trigger as string,
    dryRun: r.dry_run as boolean,
    startedAt: (r.started_at as Date).toISOString(),
    finishedAt: (r.finished_at as Date).toISOString(),
    complete: r.complete as boolean,
    counts: r.counts as RetentionCounts,
    periods: r.periods as RetentionPeriods | null,
    error: r.error as string | null,
  }));
}
