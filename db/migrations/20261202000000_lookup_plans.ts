import type { Knex } from 'knex';

/**
 * The index of users by directory covers only users whose directory is known. As an index on
 * (organization_id, directory_id) for every row it competed with the primary key for lookups by
 * (organization_id, id): for an organization the statistics have not seen yet (its first import)
 * the planner expects one row for the organization, picks the smaller index and filters on id, and
 * every foreign-key check of the import's memberships then walks all of the organization's users.
 * Partial, it answers `directory_id = …` as before and can no longer be chosen for an id lookup.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX directory_users_known_directory ON directory_users (organization_id, directory_id) WHERE directory_id IS NOT NULL;
    DROP INDEX directory_users_directory;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX directory_users_directory ON directory_users (organization_id, directory_id);
    DROP INDEX IF EXISTS directory_users_known_directory;
  `);
}
