import type { Knex } from 'knex';

/**
 * Reconciliations and imports: a run row, the directory snapshot it read (staging), and the plan
 * of changes it computed, which is also the audit record of what it applied.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE sync_runs (
      id                bigserial PRIMARY KEY,
      organization_id   text NOT NULL REFERENCES organizations (id),
      kind              text NOT NULL CHECK (kind IN ('full', 'delta')),
      trigger           text NOT NULL,
      dry_run           boolean NOT NULL DEFAULT false,
      status            text NOT NULL CHECK (status IN ('running', 'planned', 'needs_approval', 'applying', 'completed', 'cancelled', 'failed')),
      phase             text NOT NULL DEFAULT 'users',
      directory_id      text,
      -- Everything the directory said is at least as new as this instant.
      snapshot_at       timestamptz NOT NULL,
      snapshot_ns       bigint NOT NULL,
      updated_after     timestamptz,
      pages_fetched     integer NOT NULL DEFAULT 0,
      users_fetched     integer NOT NULL DEFAULT 0,
      groups_fetched    integer NOT NULL DEFAULT 0,
      users_total       integer,
      groups_total      integer,
      plan              jsonb,
      result            jsonb,
      drift             integer,
      error             text,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      finished_at       timestamptz
    );
    CREATE INDEX sync_runs_org ON sync_runs (organization_id, id DESC);

    CREATE TABLE sync_snapshot_users (
      run_id            bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
      id                text NOT NULL,
      email             text,
      preferred_username text,
      given_name        text,
      family_name       text,
      updated_ns        bigint NOT NULL,
      groups            text[] NOT NULL,
      PRIMARY KEY (run_id, id)
    );

    CREATE TABLE sync_snapshot_groups (
      run_id            bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
      id                text NOT NULL,
      display_name      text,
      updated_ns        bigint NOT NULL,
      PRIMARY KEY (run_id, id)
    );

    CREATE TABLE sync_plan_changes (
      run_id            bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
      entity            text NOT NULL CHECK (entity IN ('user', 'group')),
      entity_id         text NOT NULL,
      action            text NOT NULL CHECK (action IN ('create', 'update', 'deactivate', 'reactivate', 'delete', 'restore')),
      changes           jsonb NOT NULL,
      outcome           text CHECK (outcome IN ('applied', 'skipped_newer', 'skipped', 'failed')),
      detail            text,
      PRIMARY KEY (run_id, entity, entity_id)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS sync_plan_changes;
    DROP TABLE IF EXISTS sync_snapshot_groups;
    DROP TABLE IF EXISTS sync_snapshot_users;
    DROP TABLE IF EXISTS sync_runs;
  `);
}
