import type { Knex } from 'knex';

/**
 * The organization's allowed e-mail domains (`organizations.allowed_email_domains`, empty: every
 * domain allowed) decide who reaches the application. `directory_users.held_reason` says why an
 * active user is held out of it (their e-mail is outside the allowed domains), or is null. The
 * mirror's writer keeps it in step with the user's e-mail and the policy, in the same transaction
 * as the change records that tell the application (db/mirror/changes.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE directory_users ADD COLUMN held_reason text;
    CREATE INDEX directory_users_held ON directory_users (organization_id, id) WHERE held_reason IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS directory_users_held;
    ALTER TABLE directory_users DROP COLUMN IF EXISTS held_reason;
  `);
}
