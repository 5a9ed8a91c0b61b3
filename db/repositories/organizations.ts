import type { Knex } from 'knex';
import type { DirectoryInfo } from '../../domain/directories';
import {
  directoriesByOrganization,
  listedDirectoryStates,
  organizationEnabled,
  writeDirectoryStates,
  type OrganizationDirectory,
} from './directories';

/** Organizations: registration with what Scalekit says, and the list with counts. */

export interface OrganizationUpsert {
  organizationId: string;
  displayName: string | null;
  /** The directories Scalekit lists for it now (none: not asked, or none set up yet). */
  directories: readonly DirectoryInfo[];
}

/** Creates or refreshes the organization row and its directories; returns whether it was created. */
export async function upsertOrganization(db: Knex, o: OrganizationUpsert): Promise<'created' | 'updated'> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw(
      `INSERT INTO organizations (id, display_name)
       VALUES (?, ?)
       ON CONFLICT (id) DO UPDATE
          SET display_name = coalesce(EXCLUDED.display_name, organizations.display_name),
              updated_at   = now()
       RETURNING (xmax = 0) AS inserted`,
      [o.organizationId, o.displayName],
    );
    await writeDirectoryStates(trx, o.organizationId, listedDirectoryStates(o.directories));
    return (rows as { inserted: boolean }[])[0]?.inserted ? 'created' : 'updated';
  });
}

export interface OrganizationListRow {
  id: string;
  displayName: string | null;
  /** Its directories that still exist in Scalekit, in the order they were first seen. */
  directories: OrganizationDirectory[];
  /** Enabled when any of its directories is; null when none has said. */
  directoryEnabled: boolean | null;
  syncPaused: boolean;
  activeUsers: number;
  totalUsers: number;
  lastRun: { id: string; kind: string; trigger: string; status: string; createdAt: string; finishedAt: string | null } | null;
}

export async function listOrganizations(db: Knex): Promise<OrganizationListRow[]> {
  const { rows } = await db.raw(
    `SELECT o.id, o.display_name, o.sync_paused,
            coalesce(u.active, 0) AS active_users, coalesce(u.total, 0) AS total_users,
            r.id AS run_id, r.kind AS run_kind, r.trigger AS run_trigger, r.status AS run_status,
            r.created_at AS run_created_at, r.finished_at AS run_finished_at
       FROM organizations o
       LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE active)::int AS active, count(*)::int AS total
                            FROM directory_users WHERE organization_id = o.id) u ON true
       LEFT JOIN LATERAL (SELECT id, kind, trigger, status, created_at, finished_at
                            FROM sync_runs WHERE organization_id = o.id ORDER BY id DESC LIMIT 1) r ON true
      ORDER BY o.id`,
  );
  const directories = await directoriesByOrganization(db);
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);
  return (rows as Record<string, unknown>[]).map((r) => ({
    id: r.id as string,
    displayName: r.display_name as string | null,
    directories: directories.get(r.id as string) ?? [],
    directoryEnabled: organizationEnabled(directories.get(r.id as string) ?? []),
    syncPaused: r.sync_paused as boolean,
    activeUsers: Number(r.active_users),
    totalUsers: Number(r.total_users),
    lastRun:
      r.run_id === null || r.run_id === undefined
        ? null
        : {
            id: String(r.run_id),
            kind: r.run_kind as string,
            trigger: r.run_trigger as string,
            status: r.run_status as string,
            createdAt: iso(r.run_created_at) as string,
            finishedAt: iso(r.run_finished_at),
          },
  }));
}

export async function organizationExists(db: Knex, organizationId: string): Promise<boolean> {
  const row = (await db('organizations').where('id', organizationId).first('id')) as { id: string } | undefined;
  return row !== undefined;
}

/**
 * Whether scimflow has heard of the organization: registered, or only named by events in the
 * ledger (a delivery the webhook quarantined before any workflow saw it is still worth reading).
 */
export async function organizationHeardOf(db: Knex, organizationId: string): Promise<boolean> {
  const { rows } = await db.raw(
    `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = ?) OR EXISTS (SELECT 1 FROM directory_events WHERE organization_id = ?) AS known`,
    [organizationId, organizationId],
  );
  return (rows as { known: boolean }[])[0]?.known === true;
}

/**
 * Records the organization's sync pause (for listings; the workflow holds the real state), or
 * clears it. False when scimflow does not know the organization.
 */
export async function recordSyncPause(
  db: Knex,
  organizationId: string,
  pause: { since: string; note: string | null } | null,
): Promise<boolean> {
  const updated = await db('organizations')
    .where('id', organizationId)
    .update({
      sync_paused: pause !== null,
      sync_paused_at: pause?.since ?? null,
      sync_paused_note: pause?.note ?? null,
      updated_at: db.fn.now(),
    });
  return updated > 0;
}

/** The organization's display name (null when it has none, or scimflow does not know it). */
export async function organizationName(db: Knex, organizationId: string): Promise<string | null> {
  const row = (await db('organizations').where('id', organizationId).first('display_name')) as { display_name: string | null } | undefined;
  return row?.display_name ?? null;
}
