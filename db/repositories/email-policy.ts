import type { Knex } from 'knex';
import type { PolicyUser } from '../../domain/email-policy';

/** Reads of the organizations' allowed e-mail domains and the users they hold (written by the mirror's writer). */

type Db = Knex | Knex.Transaction;

export interface EmailPolicyView {
  organizationId: string;
  /** Canonical, sorted; empty: every domain allowed. */
  allowedDomains: string[];
  /** Users active in the directory held out of the application by the policy. */
  heldUsers: number;
}

/** The organization's policy and how many it holds, or null for an organization scimflow does not know. */
export async function getEmailPolicy(db: Db, organizationId: string): Promise<EmailPolicyView | null> {
  const { rows } = await db.raw(
    `SELECT o.allowed_email_domains,
            (SELECT count(*)::int FROM directory_users u WHERE u.organization_id = o.id AND u.held_reason IS NOT NULL) AS held
       FROM organizations o WHERE o.id = ?`,
    [organizationId],
  );
  const row = (rows as { allowed_email_domains: string[] | null; held: number }[])[0];
  if (!row) return null;
  return { organizationId, allowedDomains: row.allowed_email_domains ?? [], heldUsers: row.held };
}

/** Held users of the organization by id, `limit` of them after `after` (an id). */
export async function listHeldUsers(db: Db, organizationId: string, opts: { limit: number; after?: string | null }): Promise<PolicyUser[]> {
  const { rows } = await db.raw(
    `SELECT id, email, name, held_reason FROM directory_users
      WHERE organization_id = ? AND held_reason IS NOT NULL ${opts.after ? 'AND id > ?' : ''}
      ORDER BY id LIMIT ?`,
    opts.after ? [organizationId, opts.after, opts.limit] : [organizationId, opts.limit],
  );
  return (rows as { id: string; email: string | null; name: string | null; held_reason: string }[]).map((r) => ({
    id: r.id,
    email: r.email,
    name: r.name,
    reason: r.held_reason,
  }));
}

/** The users a policy decides about (active in the directory), with whether they are held now, in id order. */
export async function* activeUsersForPolicy(
  db: Db,
  organizationId: string,
  pageSize = 5_000,
): AsyncGenerator<{ id: string; email: string | null; name: string | null; heldReason: string | null }[]> {
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: { id: string; email: string | null; name: string | null; held_reason: string | null }[] } = await db.raw(
      `SELECT id, email, name, held_reason FROM directory_users
        WHERE organization_id = ? AND active ${after !== null ? 'AND id > ?' : ''}
        ORDER BY id LIMIT ?`,
      after !== null ? [organizationId, after, pageSize] : [organizationId, pageSize],
    );
    const page = rows.map((r) => ({
      id: r.id,
      email: r.email,
      name: r.name,
      heldReason: r.held_reason,
    }));
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.id;
  }
}
