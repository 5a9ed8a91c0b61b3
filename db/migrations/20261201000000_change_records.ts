import type { Knex } from 'knex';

/**
 * The change stream: one row per real change of an organization's directory mirror, written by
 * the mirror's writer in the same transaction as the change.
 *
 * - `organizations.change_sequence` hands out each organization's record numbers (1, 2, 3…)
 *   under the organization's lock, so they have no gaps and follow commit order;
 *   `changes_pruned_through` is the highest one retention has removed (a cursor before it is gone).
 * - `directory_users.provisioned_at`: when the user was first seen active (the application was
 *   told to create them). Users active now, or deactivated once, count as provisioned already.
 * - `change_records.txid` is the writing transaction's id: readers of the whole stream take only
 *   records of transactions older than every one still running, so a record that commits late
 *   is never passed over (see db/repositories/changes.ts).
 * - `change_feed` (one row) keeps the highest (txid, id) retention removed, for the same check
 *   on the stream of every organization.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE organizations
      ADD COLUMN change_sequence bigint NOT NULL DEFAULT 0,
      ADD COLUMN changes_pruned_through bigint NOT NULL DEFAULT 0;

    ALTER TABLE directory_users ADD COLUMN provisioned_at timestamptz;
    UPDATE directory_users SET provisioned_at = created_at WHERE active OR deactivated_at IS NOT NULL;

    CREATE TABLE change_records (
      id                bigserial PRIMARY KEY,
      organization_id   text NOT NULL REFERENCES organizations (id),
      sequence          bigint NOT NULL,
      kind              text NOT NULL,
      subject_type      text NOT NULL,
      subject_id        text NOT NULL,
      view              jsonb NOT NULL,
      changes           jsonb NOT NULL DEFAULT '{}'::jsonb,
      cause             jsonb NOT NULL,
      occurred_at       timestamptz,
      committed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
      txid              xid8 NOT NULL DEFAULT pg_current_xact_id(),
      UNIQUE (organization_id, sequence)
    );
    CREATE INDEX change_records_feed ON change_records (txid, id);
    CREATE INDEX change_records_committed ON change_records (committed_at);

    CREATE TABLE change_feed (
      id            integer PRIMARY KEY CHECK (id = 1),
      pruned_txid   xid8,
      pruned_id     bigint
    );
    INSERT INTO change_feed (id) VALUES (1);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS change_feed;
    DROP TABLE IF EXISTS change_records;
    ALTER TABLE directory_users DROP COLUMN IF EXISTS provisioned_at;
    ALTER TABLE organizations DROP COLUMN IF EXISTS change_sequence, DROP COLUMN IF EXISTS changes_pruned_through;
  `);
}
