import type { Knex } from 'knex';
import { CROSS_DIRECTORY_EMAIL_CONFLICT } from '../../domain/conflicts';

/**
 * E-mail conflicts between directories that wait for a person: user events quarantined because
 * a user of another directory holds the e-mail, and users the organization's last full reconcile
 * could not create or update for that reason. Counted once per (organization, user).
 */

type Db = Knex | Knex.Transaction;

export interface EmailConflict {
  organizationId: string;
  userId: string;
  /** Where it was found: the quarantined event, or the run whose plan row failed. */
  source: { event: string } | { run: string };
  detail: string;
}

const CONFLICTS = `
  SELECT e.organization_id, e.payload -> 'user' ->> 'id' AS user_id, e.id AS event_id, NULL::bigint AS run_id, e.detail
    FROM directory_events e
   WHERE e.outcome = 'quarantined' AND e.detail LIKE :marker AND (:org::text IS NULL OR e.organization_id = :org)
  UNION ALL
  SELECT r.organization_id, p.entity_id, NULL, r.id, p.detail
    FROM organizations o
    CROSS JOIN LATERAL (SELECT id, organization_id FROM sync_runs
                         WHERE organization_id = o.id AND kind = 'full' AND status = 'completed' AND NOT dry_run
                         ORDER BY finished_at DESC LIMIT 1) r
    JOIN sync_plan_changes p ON p.run_id = r.id AND p.entity = 'user' AND p.outcome = 'failed' AND p.detail LIKE :marker
   WHERE (:org::text IS NULL OR o.id = :org)`;

const params = (organizationId: string | null) => ({ org: organizationId, marker: `%${CROSS_DIRECTORY_EMAIL_CONFLICT}%` });

/** The organization's conflicts (the newest event per user first, then failed changes of its last full run). */
export async function listEmailConflicts(db: Db, organizationId: string, limit = 100): Promise<EmailConflict[]> {
  const { rows } = await db.raw(
    `SELECT DISTINCT ON (organization_id, user_id) * FROM (${CONFLICTS}) c
      ORDER BY organization_id, user_id, event_id IS NULL, event_id DESC LIMIT :limit`,
    { ...params(organizationId), limit },
  );
  return (rows as { organization_id: string; user_id: string; event_id: string | null; run_id: string | null; detail: string }[]).map(
    (r) => ({
      organizationId: r.organization_id,
      userId: r.user_id,
      source: r.event_id ? { event: r.event_id } : { run: String(r.run_id) },
      detail: r.detail,
    }),
  );
}

/** How many users are held back by a conflict between directories (of one organization, or all). */
export async function countEmailConflicts(db: Db, organizationId: string | null): Promise<number> {
  const { rows } = await db.raw(
    `SELECT count(*)::int AS n FROM (SELECT DISTINCT organization_id, user_id FROM (${CONFLICTS}) c) d`,
    params(organizationId),
  );
  return Number((rows as { n: number }[])[0]?.n ?? 0);
}
