import type { Knex } from 'knex';

/**
 * Where a run's plan or apply is: one row per run, written by the activity between the
 * statements of its (single, long) transaction from another connection, so readers see it while
 * that transaction runs. The run's own row cannot carry it: the apply holds its lock until the
 * commit.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE sync_run_steps (
      run_id           bigint PRIMARY KEY REFERENCES sync_runs (id) ON DELETE CASCADE,
      phase            text NOT NULL,
      step             text NOT NULL,
      done             bigint,
      total            bigint,
      phase_started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS sync_run_steps`);
}
