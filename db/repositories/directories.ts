import type { Knex } from 'knex';
import type { DirectoryWrite } from '../../domain/plan';
import type { DirectoryInfo } from '../../domain/directories';
import { withMirrorWriter } from '../mirror/writer';

/**
 * An organization's directories (it may have several in Scalekit): what Scalekit last listed,
 * each one's enabled state, and whether a full reconcile found it gone. The organization's own
 * view is derived: enabled when any of its directories is.
 */

type Db = Knex | Knex.Transaction;

export interface OrganizationDirectory {
  id: string;
  directoryType: string | null;
  provider: string | null;
  /** Null while neither an event nor Scalekit's listing has said. */
  enabled: boolean | null;
  listedAt: string | null;
  /** When a full reconcile found that Scalekit no longer lists it; null while it exists. */
  removedAt: string | null;
  activeUsers: number;
  users: number;
  groups: number;
}

/**
 * Records directories' states, from enabled/disabled events or from Scalekit's listing, through
 * the mirror's writer (under the organization's lock, like every other writer): see
 * MirrorWriter.writeDirectoryStates. In `db`'s transaction when it is one.
 */
export async function writeDirectoryStates(db: Db, organizationId: string, directories: readonly DirectoryWrite[]): Promise<void> {
  if (directories.length === 0) return;
  await withMirrorWriter(db, organizationId, (writer) => writer.writeDirectoryStates(directories));
}

/** The directories Scalekit lists now (registration, a run's start), as states to write. */
export function listedDirectoryStates(directories: readonly DirectoryInfo[]): DirectoryWrite[] {
  return directories.map((d) => ({
    directoryId: d.id,
    directoryType: d.directoryType,
    provider: d.provider,
    enabled: d.enabled,
    sourceNs: d.listedNs,
    listed: true,
  }));
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);

function toDirectory(r: Record<string, unknown>): OrganizationDirectory {
  return {
    id: r.id as string,
    directoryType: r.directory_type as string | null,
    provider: r.provider as string | null,
    enabled: r.enabled as boolean | null,
    listedAt: iso(r.listed_at),
    removedAt: iso(r.removed_at),
    activeUsers: Number(r.active_users ?? 0),
    users: Number(r.users ?? 0),
    groups: Number(r.groups ?? 0),
  };
}

const DIRECTORY_ROWS = `
  SELECT d.organization_id, d.id, d.directory_type, d.provider, d.enabled, d.listed_at, d.removed_at,
         (SELECT count(*) FILTER (WHERE u.active) FROM directory_users u WHERE u.organization_id = d.organization_id AND u.directory_id = d.id)::int AS active_users,
         (SELECT count(*) FROM directory_users u WHERE u.organization_id = d.organization_id AND u.directory_id = d.id)::int AS users,
         (SELECT count(*) FROM directory_groups g WHERE g.organization_id = d.organization_id AND g.directory_id = d.id AND g.deleted_at IS NULL)::int AS groups
    FROM organization_directories d`;

/** The organization's directories, those Scalekit still lists first (in the order they were first seen). */
export async function listOrganizationDirectories(db: Db, organizationId: string): Promise<OrganizationDirectory[]> {
  const { rows } = await db.raw(`${DIRECTORY_ROWS} WHERE d.organization_id = ? ORDER BY d.removed_at IS NOT NULL, d.created_at, d.id`, [
    organizationId,
  ]);
  return (rows as Record<string, unknown>[]).map(toDirectory);
}

/**
 * Users whose directory is not known yet: Scalekit's user events do not name it, so a user that
 * arrived by webhook (in no group whose directory is known) has none until a run's listing finds
 * them. Such users are judged by a full run only when every directory was read.
 */
export async function usersWithoutDirectory(db: Db, organizationId: string): Promise<{ activeUsers: number; users: number }> {
  const { rows } = await db.raw(
    `SELECT count(*) FILTER (WHERE active)::int AS active_users, count(*)::int AS users
       FROM directory_users WHERE organization_id = ? AND directory_id IS NULL`,
    [organizationId],
  );
  const r = (rows as { active_users: number; users: number }[])[0];
  return { activeUsers: r?.active_users ?? 0, users: r?.users ?? 0 };
}

/** Every organization's directories that still exist, by organization. */
export async function directoriesByOrganization(db: Db): Promise<Map<string, OrganizationDirectory[]>> {
  const { rows } = await db.raw(`${DIRECTORY_ROWS} WHERE d.removed_at IS NULL ORDER BY d.organization_id, d.created_at, d.id`);
  const out = new Map<string, OrganizationDirectory[]>();
  for (const r of rows as Record<string, unknown>[]) {
    const org = r.organization_id as string;
    const list = out.get(org) ?? [];
    list.push(toDirectory(r));
    out.set(org, list);
  }
  return out;
}

/** The organization's view: enabled when any of its directories is; null when none says. */
export function organizationEnabled(directories: readonly Pick<OrganizationDirectory, 'enabled' | 'removedAt'>[]): boolean | null {
  const live = directories.filter((d) => d.removedAt === null && d.enabled !== null);
  if (live.length === 0) return null;
  return live.some((d) => d.enabled === true);
}
