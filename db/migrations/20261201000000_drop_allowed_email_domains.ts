import type { Knex } from 'knex';

/**
 * organizations.allowed_email_domains: created with the first schema and never read or written
 * since. Down adds it back as it was (empty for every organization: nothing ever filled it).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE organizations DROP COLUMN IF EXISTS allowed_email_domains`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE organizations ADD COLUMN IF NOT EXISTS allowed_email_domains text[] NOT NULL DEFAULT '{}'`);
}
