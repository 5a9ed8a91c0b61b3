import type { Knex } from 'knex';

/**
 * What /metrics reports of the organizations' state is read at every scrape: these indexes keep
 * those reads proportional to what they count (quarantined events, runs waiting for a person,
 * each organization's last full reconcile), not to the size of the ledger or the run history.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX directory_events_quarantined ON directory_events (organization_id) WHERE outcome = 'quarantined';
    CREATE INDEX sync_runs_open ON sync_runs (status) WHERE status IN ('running', 'needs_approval', 'applying');
    CREATE INDEX sync_runs_last_full ON sync_runs (organization_id, finished_at DESC) WHERE kind = 'full' AND status = 'completed' AND NOT dry_run;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS sync_runs_last_full;
    DROP INDEX IF EXISTS sync_runs_open;
    DROP INDEX IF EXISTS directory_events_quarantined;
  `);
}
