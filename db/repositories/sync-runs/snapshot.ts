import type { Knex } from 'knex';
import type { SnapshotGroup, SnapshotUser } from '../../../domain/reconcile';
import { insertNew } from '../../batch';

/**
 * A sync run's snapshot: the directory as it read it, staged page by page until the plan and the
 * apply have used it. Scoped by run.
 */

type Db = Knex | Knex.Transaction;

export async function insertSnapshotUsers(db: Db, runId: string, users: readonly SnapshotUser[]): Promise<void> {
  const rows = users.map((u) => ({
    run_id: runId,
    id: u.id,
    directory_id: u.directoryId,
    email: u.email,
    preferred_username: u.preferredUsername,
    given_name: u.givenName,
    family_name: u.familyName,
    updated_ns: u.updatedNs,
    groups: u.groups,
  }));
  await insertNew(db, 'sync_snapshot_users', rows, ['run_id', 'id']);
}

export async function insertSnapshotGroups(db: Db, runId: string, groups: readonly SnapshotGroup[]): Promise<void> {
  const rows = groups.map((g) => ({
    run_id: runId,
    id: g.id,
    directory_id: g.directoryId,
    display_name: g.displayName,
    updated_ns: g.updatedNs,
  }));
  await insertNew(db, 'sync_snapshot_groups', rows, ['run_id', 'id']);
}

/** Deletes the run's snapshot (it has done its job, or the run ended). */
export async function deleteSnapshot(db: Db, runId: string): Promise<void> {
  await db.raw(`DELETE FROM sync_snapshot_users WHERE run_id = ?`, [runId]);
  await db.raw(`DELETE FROM sync_snapshot_groups WHERE run_id = ?`, [runId]);
}
