import type { Knex } from 'knex';

/**
 * Retention: indexes that let the retention run find what is due in bounded batches, and let
 * /metrics read the age of the oldest row kept of each kind with one index lookup; and a record
 * of retention runs (when, what was pruned, with which settings) for audits and alerting.
 *
 * The indexes are built CONCURRENTLY, so a large ledger keeps taking writes meanwhile; that
 * cannot run inside a transaction, hence `transaction: false` and IF [NOT] EXISTS throughout
 * (a migration interrupted halfway can run again). The expressions and predicates must stay
 * textually the same as in db/repositories/retention.ts, or the planner cannot use them.
 */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS retention_runs (
      id            bigserial PRIMARY KEY,
      trigger       text NOT NULL,
      dry_run       boolean NOT NULL,
      started_at    timestamptz NOT NULL,
      finished_at   timestamptz NOT NULL DEFAULT now(),
      -- false: the run's time budget was spent with rows still due (the next run goes on).
      complete      boolean NOT NULL,
      counts        jsonb NOT NULL,
      periods       jsonb,
      error         text
    )`);
  // Invalid leftovers of an interrupted concurrent build would satisfy IF NOT EXISTS: drop them.
  const { rows } = await knex.raw(`
    SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE NOT i.indisvalid AND c.relname IN ('directory_events_retention_ledger', 'directory_events_retention_payload',
                                               'directory_users_retention_deactivated', 'sync_runs_retention')`);
  for (const { relname } of rows as { relname: string }[]) await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${relname}`);
  await knex.raw(`
    CREATE INDEX CONCURRENTLY IF NOT EXISTS directory_events_retention_ledger
      ON directory_events ((coalesce(applied_at, received_at)))
      WHERE outcome IN ('applied', 'duplicate', 'stale', 'ignored')`);
  await knex.raw(`
    CREATE INDEX CONCURRENTLY IF NOT EXISTS directory_events_retention_payload
      ON directory_events ((coalesce(applied_at, received_at)))
      WHERE outcome IN ('applied', 'duplicate', 'stale', 'ignored') AND (payload IS NOT NULL OR raw_body IS NOT NULL)`);
  await knex.raw(`
    CREATE INDEX CONCURRENTLY IF NOT EXISTS directory_users_retention_deactivated
      ON directory_users (deactivated_at)
      WHERE NOT active AND (email IS NOT NULL OR name IS NOT NULL OR given_name IS NOT NULL OR family_name IS NOT NULL
                            OR preferred_username IS NOT NULL OR attributes <> '{}'::jsonb)`);
  await knex.raw(`
    CREATE INDEX CONCURRENTLY IF NOT EXISTS sync_runs_retention
      ON sync_runs (created_at)
      WHERE status IN ('completed', 'cancelled', 'failed', 'planned', 'needs_approval')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS sync_runs_retention`);
  await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS directory_users_retention_deactivated`);
  await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS directory_events_retention_payload`);
  await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS directory_events_retention_ledger`);
  await knex.raw(`DROP TABLE IF EXISTS retention_runs`);
}
