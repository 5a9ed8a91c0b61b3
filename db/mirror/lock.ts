import type { Knex } from 'knex';
import type { StoredDirectoryState } from '../../domain/plan';

/**
 * The organization's lock: its row in `organizations`, held FOR UPDATE until the transaction ends.
 * Every writer of an organization's directory data (event batches, sync run applies, role
 * changes, quarantine retries, directory states, retention's purge) takes it before writing, so
 * writers of one organization queue up here and none waits on another in a cycle.
 */
export interface OrganizationLock {
  /** Whether the organization has a row (one scimflow does not know locks nothing). */
  known: boolean;
  /** The organization's directories, as the lock holder sees them. */
  directories: StoredDirectoryState[];
}

/** Locks the organization row for the transaction and returns the organization's directories. */
export async function lockOrganization(db: Knex.Transaction, organizationId: string): Promise<OrganizationLock> {
  const { rows: locked } = await db.raw(`SELECT 1 FROM organizations WHERE id = ? FOR UPDATE`, [organizationId]);
  return { known: (locked as unknown[]).length > 0, directories: await readDirectories(db, organizationId) };
}

/**
 * Locks the organization row unless another transaction holds it: false then, without waiting
 * (for background work, such as retention, that must never hold up an organization's writers).
 */
export async function tryLockOrganization(db: Knex.Transaction, organizationId: string): Promise<boolean> {
  const { rows: locked } = await db.raw(`SELECT 1 FROM organizations WHERE id = ? FOR UPDATE SKIP LOCKED`, [organizationId]);
  return (locked as unknown[]).length > 0;
}

async function readDirectories(db: Knex.Transaction, organizationId: string): Promise<StoredDirectoryState[]> {
  const { rows } = await db.raw(
    `SELECT id, enabled, state_ns, removed_at FROM organization_directories WHERE organization_id = ? ORDER BY created_at, id`,
    [organizationId],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    directoryId: r.id as string,
    enabled: r.enabled as boolean | null,
    sourceNs: r.state_ns as string | null,
    removed: r.removed_at !== null,
  }));
}
