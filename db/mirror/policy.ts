import type { Knex } from 'knex';

/** The organization's allowed e-mail domains (canonical, sorted; empty: every domain allowed). */
export async function readAllowedDomains(db: Knex | Knex.Transaction, organizationId: string): Promise<string[]> {
  const { rows } = await db.raw(`SELECT allowed_email_domains FROM organizations WHERE id = ?`, [organizationId]);
  return ((rows as { allowed_email_domains: string[] | null }[])[0]?.allowed_email_domains ?? []) as string[];
}

export async function writeAllowedDomains(trx: Knex.Transaction, organizationId: string, domains: readonly string[]): Promise<void> {
  await trx.raw(`UPDATE organizations SET allowed_email_domains = ?::text[], updated_at = now() WHERE id = ?`, [
    [...domains],
    organizationId,
  ]);
}
