import type { Knex } from 'knex';

/**
 * Pausing an organization's sync: events keep arriving and are kept in the ledger as `deferred`,
 * in arrival order (`seq`), and applied in that order on resume.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE directory_events DROP CONSTRAINT directory_events_outcome_check;
    ALTER TABLE directory_events ADD CONSTRAINT directory_events_outcome_check
      CHECK (outcome IN ('pending', 'deferred', 'applied', 'duplicate', 'stale', 'ignored', 'quarantined'));
    -- Added without a default, then given one: no table rewrite on a large ledger (rows written
    -- before have no seq, and none of them can be deferred).
    ALTER TABLE directory_events ADD COLUMN seq bigint;
    CREATE SEQUENCE directory_events_seq OWNED BY directory_events.seq;
    ALTER TABLE directory_events ALTER COLUMN seq SET DEFAULT nextval('directory_events_seq');
    CREATE INDEX directory_events_deferred ON directory_events (organization_id, seq) WHERE outcome = 'deferred';

    ALTER TABLE organizations ADD COLUMN sync_paused_at timestamptz, ADD COLUMN sync_paused_note text;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM directory_events WHERE outcome = 'deferred') THEN
        RAISE EXCEPTION 'events are kept for paused organizations: resume them (scimflow resume <org>) before this migration is undone';
      END IF;
    END $$;
    ALTER TABLE organizations DROP COLUMN sync_paused_at, DROP COLUMN sync_paused_note;
    DROP INDEX IF EXISTS directory_events_deferred;
    ALTER TABLE directory_events DROP COLUMN seq;
    ALTER TABLE directory_events DROP CONSTRAINT directory_events_outcome_check;
    ALTER TABLE directory_events ADD CONSTRAINT directory_events_outcome_check
      CHECK (outcome IN ('pending', 'applied', 'duplicate', 'stale', 'ignored', 'quarantined'));
  `);
}
