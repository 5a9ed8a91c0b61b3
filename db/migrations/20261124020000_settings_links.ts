import type { Knex } from 'knex';

/** Settings links are single use: the nonce of each spent link, until the link would have expired. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE settings_link_uses (
      nonce             text PRIMARY KEY,
      organization_id   text NOT NULL,
      used_at           timestamptz NOT NULL DEFAULT now(),
      expires_at        timestamptz NOT NULL
    );
    CREATE INDEX settings_link_uses_expires ON settings_link_uses (expires_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS settings_link_uses;`);
}
