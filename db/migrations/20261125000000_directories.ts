import type { Knex } from 'knex';

/**
 * An organization can have several directories in Scalekit (divisions, or the old and the new
 * identity provider side by side during a migration). Each directory gets a row of its own (its
 * enabled state replaces the organization's single directory columns), every user and group knows
 * the directory that provisioned it, and a sync run records the directories it listed and read.
 * Users written before get an unknown directory (NULL), and groups keep the one their events
 * named (if any): the organization's one directory column held the directory of its last
 * enabled/disabled event (or its primary one), not necessarily the one that provisioned each
 * user. A user of unknown directory is judged only by a run that read every directory, and the
 * next run's listings fill the directory in.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE organization_directories (
      organization_id     text NOT NULL REFERENCES organizations (id),
      id                  text NOT NULL,
      directory_type      text,
      provider            text,
      enabled             boolean,
      -- Freshness of the enabled state: epoch nanoseconds of the newest enabled/disabled event,
      -- or of the moment scimflow asked for the listing that last set it.
      state_ns            bigint,
      -- When Scalekit last listed the directory (registration, a run), and when a full
      -- reconcile found that Scalekit no longer does (its users are deactivated only by a
      -- later full run that does not find it either).
      listed_at           timestamptz,
      removed_at          timestamptz,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, id)
    );
    INSERT INTO organization_directories (organization_id, id, directory_type, provider, enabled, state_ns)
    SELECT id, directory_id, directory_type, directory_provider, directory_enabled, directory_state_ns
      FROM organizations WHERE directory_id IS NOT NULL;

    ALTER TABLE directory_users ADD COLUMN directory_id text;
    CREATE INDEX directory_users_directory ON directory_users (organization_id, directory_id);

    ALTER TABLE organizations
      DROP COLUMN directory_id, DROP COLUMN directory_type, DROP COLUMN directory_provider,
      DROP COLUMN directory_enabled, DROP COLUMN directory_state_ns;

    -- The directories a run found in Scalekit, in the order it reads them; "read" is false for
    -- one it leaves alone, and unread_reason says why (disabled, or its details could not be
    -- read). Absent for runs recorded before: they read sync_runs.directory_id.
    CREATE TABLE sync_run_directories (
      run_id            bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
      directory_id      text NOT NULL,
      position          integer NOT NULL,
      directory_type    text,
      provider          text,
      enabled           boolean,
      read              boolean NOT NULL,
      unread_reason     text,
      updated_after     timestamptz,
      users_fetched     integer NOT NULL DEFAULT 0,
      groups_fetched    integer NOT NULL DEFAULT 0,
      users_total       integer,
      groups_total      integer,
      PRIMARY KEY (run_id, directory_id)
    );
    ALTER TABLE sync_snapshot_users ADD COLUMN directory_id text;
    ALTER TABLE sync_snapshot_groups ADD COLUMN directory_id text;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DO $$
    DECLARE org text;
    BEGIN
      SELECT organization_id INTO org FROM organization_directories WHERE removed_at IS NULL
       GROUP BY organization_id HAVING count(*) > 1 LIMIT 1;
      IF org IS NOT NULL THEN
        RAISE EXCEPTION 'organization % has more than one directory: the previous version reconciles only one of them and would deactivate the users of the others; keep this version until every organization has one directory', org;
      END IF;
    END $$;
    ALTER TABLE sync_snapshot_groups DROP COLUMN directory_id;
    ALTER TABLE sync_snapshot_users DROP COLUMN directory_id;
    DROP TABLE sync_run_directories;
    ALTER TABLE organizations
      ADD COLUMN directory_id text, ADD COLUMN directory_type text, ADD COLUMN directory_provider text,
      ADD COLUMN directory_enabled boolean, ADD COLUMN directory_state_ns bigint;
    UPDATE organizations o
       SET directory_id = d.id, directory_type = d.directory_type, directory_provider = d.provider,
           directory_enabled = d.enabled, directory_state_ns = d.state_ns
      FROM organization_directories d
     WHERE d.organization_id = o.id AND d.removed_at IS NULL;
    DROP INDEX IF EXISTS directory_users_directory; -- (a later migration may have replaced it; dropping the column drops that one)
    ALTER TABLE directory_users DROP COLUMN directory_id;
    DROP TABLE organization_directories;
  `);
}
