import type { Knex } from 'knex';

/**
 * Spends a settings link: true the first time its nonce is seen, false ever after (until the
 * link has expired anyway). Spent nonces of expired links are cleared as new ones come in.
 */
export async function spendSettingsLink(db: Knex, nonce: string, organizationId: string, expiresAtSeconds: number): Promise<boolean> {
  await db('settings_link_uses').where('expires_at', '<', db.raw(`now() - interval '1 hour'`)).delete();
  const inserted = (await db('settings_link_uses')
    .insert({ nonce, organization_id: organizationId, expires_at: new Date(expiresAtSeconds * 1000) })
    .onConflict('nonce')
    .ignore()
    .returning('nonce')) as { nonce: string }[];
  return inserted.length === 1;
}
