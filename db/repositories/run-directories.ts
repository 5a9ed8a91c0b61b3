import type { Knex } from 'knex';
import { absenceScope, DISABLED, type AbsenceVerdict, type KnownDirectory, type RunDirectory } from '../../domain/directories';
import { insertNew } from '../batch';
import type { DirectoryPlan } from '../../domain/reconcile';

/**
 * The directories of a sync run: which ones Scalekit listed when it started, which it read (in
 * order) and how far, and what the plan does per directory. Runs recorded before organizations
 * could have several directories have no rows: they read `sync_runs.directory_id`.
 */

type Db = Knex | Knex.Transaction;

export interface RunDirectoryRow extends RunDirectory {
  position: number;
  directoryType: string | null;
  provider: string | null;
  enabled: boolean | null;
  /** A delta reads this directory from here; null: in full. */
  updatedAfter: string | null;
  usersFetched: number;
  groupsFetched: number;
  usersTotal: number | null;
  groupsTotal: number | null;
}

export type NewRunDirectory = Pick<
  RunDirectoryRow,
  'directoryId' | 'directoryType' | 'provider' | 'enabled' | 'read' | 'unreadReason' | 'updatedAfter'
>;

export async function recordRunDirectories(db: Db, runId: string, directories: readonly NewRunDirectory[]): Promise<void> {
  const rows = directories.map((d, position) => ({
    run_id: runId,
    directory_id: d.directoryId,
    position,
    directory_type: d.directoryType,
    provider: d.provider,
    enabled: d.enabled,
    read: d.read,
    unread_reason: d.read ? null : (d.unreadReason ?? null),
    updated_after: d.updatedAfter,
  }));
  await insertNew(db, 'sync_run_directories', rows, ['run_id', 'directory_id']);
}

function toRow(r: Record<string, unknown>): RunDirectoryRow {
  return {
    directoryId: r.directory_id as string,
    position: r.position as number,
    directoryType: r.directory_type as string | null,
    provider: r.provider as string | null,
    enabled: r.enabled as boolean | null,
    read: r.read as boolean,
    unreadReason: r.unread_reason as string | null,
    updatedAfter: r.updated_after instanceof Date ? r.updated_after.toISOString() : null,
    usersFetched: r.users_fetched as number,
    groupsFetched: r.groups_fetched as number,
    usersTotal: r.users_total as number | null,
    groupsTotal: r.groups_total as number | null,
  };
}

export async function listRunDirectories(db: Db, runId: string): Promise<RunDirectoryRow[]> {
  const rows = (await db('sync_run_directories').where('run_id', runId).orderBy('position')) as Record<string, unknown>[];
  return rows.map(toRow);
}

/**
 * The run's directories; a run started before directories were recorded per run read one, its
 * `directory_id`, which is recorded now so the plan's statements find it.
 */
export async function ensureRunDirectories(
  db: Db,
  run: { id: string; directoryId: string | null; updatedAfter: string | null },
): Promise<RunDirectoryRow[]> {
  const rows = await listRunDirectories(db, run.id);
  if (rows.length > 0 || !run.directoryId) return rows;
  await recordRunDirectories(db, run.id, [
    {
      directoryId: run.directoryId,
      directoryType: null,
      provider: null,
      enabled: null,
      read: true,
      unreadReason: null,
      updatedAfter: run.updatedAfter,
    },
  ]);
  return listRunDirectories(db, run.id);
}

/** Sets (never increments) one directory's progress, so a retried step cannot double count. */
export async function recordDirectoryProgress(
  db: Db,
  runId: string,
  directoryId: string,
  p: { usersFetched: number; groupsFetched: number; usersTotal: number | null; groupsTotal: number | null },
): Promise<void> {
  await db('sync_run_directories').where({ run_id: runId, directory_id: directoryId }).update({
    users_fetched: p.usersFetched,
    groups_fetched: p.groupsFetched,
    users_total: p.usersTotal,
    groups_total: p.groupsTotal,
  });
}

/** The snapshot time of the newest completed run that read the directory: a delta of it reads what changed since. */
export async function lastReadSnapshot(db: Db, organizationId: string, directoryId: string): Promise<string | null> {
  const { rows } = await db.raw(
    `SELECT max(r.snapshot_at) AS at FROM sync_runs r
      WHERE r.organization_id = ? AND r.status = 'completed'
        AND (EXISTS (SELECT 1 FROM sync_run_directories d WHERE d.run_id = r.id AND d.directory_id = ? AND d.read)
             OR (r.directory_id = ? AND NOT EXISTS (SELECT 1 FROM sync_run_directories d WHERE d.run_id = r.id)))`,
    [organizationId, directoryId, directoryId],
  );
  const at = (rows as { at: Date | null }[])[0]?.at;
  return at ? at.toISOString() : null;
}

export interface RunAbsenceScope {
  /** Directories whose entities, absent from the snapshot, are deactivated (deleted), with why. */
  judgedIds: string[];
  judgedReasons: string[];
  /** For entities whose directory is not known. */
  unknown: AbsenceVerdict;
}

/** The organization's directories as stored: `removed` when a full run found Scalekit no longer lists it. */
async function knownDirectories(trx: Knex.Transaction, organizationId: string): Promise<KnownDirectory[]> {
  const { rows } = await trx.raw(`SELECT id, removed_at IS NOT NULL AS removed FROM organization_directories WHERE organization_id = ?`, [
    organizationId,
  ]);
  return (rows as { id: string; removed: boolean }[]).map((r) => ({ directoryId: r.id, removed: r.removed }));
}

/** Whose absence from the run's snapshot counts, for the directories the organization's entities have. */
export async function absenceScopeOfRun(
  trx: Knex.Transaction,
  organizationId: string,
  run: { id: string; directoryId: string | null; updatedAfter: string | null },
): Promise<RunAbsenceScope> {
  const directories = await ensureRunDirectories(trx, run);
  const { rows } = await trx.raw(
    `SELECT DISTINCT directory_id FROM directory_users WHERE organization_id = ?
     UNION
     SELECT DISTINCT directory_id FROM directory_groups WHERE organization_id = ?`,
    [organizationId, organizationId],
  );
  const known = await knownDirectories(trx, organizationId);
  const scope = absenceScope(
    (rows as { directory_id: string | null }[]).map((r) => r.directory_id),
    directories,
    known,
  );
  return { judgedIds: scope.judgedIds, judgedReasons: scope.judgedReasons, unknown: scope.unknown };
}

/**
 * The plan per directory: each directory the run listed (read or left alone, and why), and any
 * directory of the organization's active users that Scalekit no longer lists (for the first
 * time, or confirmed by an earlier full run).
 */
export async function summarizeDirectories(trx: Knex.Transaction, organizationId: string, runId: string): Promise<DirectoryPlan[]> {
  const directories = await listRunDirectories(trx, runId);
  // A user whose directory is not stored yet is counted under the directory that listed it.
  const { rows } = await trx.raw(
    `SELECT coalesce(s.directory_id, u.directory_id) AS directory_id,
            count(*)::int AS active,
            count(p.entity_id)::int AS deactivate
       FROM directory_users u
       LEFT JOIN sync_snapshot_users s ON s.run_id = :run AND s.id = u.id
       LEFT JOIN sync_plan_changes p ON p.run_id = :run AND p.entity = 'user' AND p.entity_id = u.id AND p.action = 'deactivate'
      WHERE u.organization_id = :org AND u.active
      GROUP BY 1`,
    { run: runId, org: organizationId },
  );
  const byDirectory = new Map(
    (rows as { directory_id: string | null; active: number; deactivate: number }[]).map((r) => [r.directory_id, r]),
  );
  const out: DirectoryPlan[] = directories.map((d) => {
    const counts = byDirectory.get(d.directoryId);
    const unread = !d.read && d.unreadReason && d.unreadReason !== DISABLED ? { notRead: d.unreadReason } : {};
    return {
      id: d.directoryId,
      provider: d.provider,
      enabled: d.enabled,
      read: d.read,
      removed: false,
      usersFetched: d.usersFetched,
      activeUsers: counts?.active ?? 0,
      deactivate: counts?.deactivate ?? 0,
      ...unread,
    };
  });
  const listed = new Set(directories.map((d) => d.directoryId));
  const removedBefore = new Set((await knownDirectories(trx, organizationId)).filter((d) => d.removed).map((d) => d.directoryId));
  for (const [id, counts] of byDirectory) {
    if (id !== null && listed.has(id)) continue;
    out.push({
      id,
      provider: null,
      enabled: null,
      read: false,
      removed: id !== null,
      usersFetched: 0,
      activeUsers: counts.active,
      deactivate: counts.deactivate,
      ...(id !== null && !removedBefore.has(id) ? { missingOnce: true } : {}),
    });
  }
  return out;
}
