import type { Knex } from 'knex';

/**
 * Scalekit's group → role assignments, recorded on a run's row when it opens (the step that
 * already asks Scalekit for the organization's directories), so the plan and apply steps need only
 * PostgreSQL. NULL on runs opened before: those ask Scalekit at plan and apply, as they did.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS role_assignments jsonb`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE sync_runs DROP COLUMN IF EXISTS role_assignments`);
}
