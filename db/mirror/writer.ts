import type { Knex } from 'knex';
import type { BatchPlan, DirectoryWrite, StoredDirectoryState } from '../../domain/plan';
import type { RoleMapping } from '../../domain/roles';
import type { ApplyCounts } from '../../domain/reconcile';
import { ensureOrganization } from '../repositories/directory';
import type { RoleResolution } from '../repositories/roles';
import type { PlanOptions } from '../repositories/sync-runs/plan';
import * as directories from './directories';
import * as entities from './entities';
import { lockOrganization, tryLockOrganization } from './lock';
import * as roles from './roles';
import { applyPlan } from './sync-run-apply';

/**
 * The one writer of the directory mirror: an organization's users, groups, memberships, the roles
 * its users hold, its role mappings and default role, and its directories' states. Every change
 * to them (an event batch, a sync run's apply, a role change, a quarantined event retried, a
 * deferred event applied on resume, a directory's enabled state, retention's purge) is made here,
 * in a transaction that holds the organization's lock: `withMirrorWriter` (or, for background
 * work that must not wait, `withMirrorWriterIfFree`) is the only way to get one. Each method
 * applies one change set and returns what changed.
 *
 * The statements themselves are in the modules next to this one (db/mirror/*), which nothing
 * but this writer imports (the lint configuration refuses any other import of them).
 */

type Db = Knex | Knex.Transaction;

export interface MirrorWriterOptions {
  /** Create the organization's row first when scimflow does not know it yet (event batches). */
  ensureOrganization?: boolean;
}

/** What an event batch's plan wrote, by kind. */
export interface EventPlanWritten {
  users: number;
  groups: number;
  /** Groups whose memberships were all dropped (deleted groups). */
  clearedGroups: number;
  /** Users whose memberships were made exactly the planned set. */
  membershipSets: number;
  directories: number;
}

class MirrorWriter {
  constructor(
    /**
     * The transaction the writer holds the organization's lock in, for what the caller writes
     * alongside the mirror in the same transaction (ledger outcomes, the run's row) and for reads.
     */
    readonly trx: Knex.Transaction,
    readonly organizationId: string,
    /** Whether scimflow knows the organization (it has a row): one it does not know locks nothing. */
    readonly organizationKnown: boolean,
  ) {}

  /**
   * Runs `fn` in a savepoint of the writer's transaction: an error rolls back only what `fn`
   * wrote. The lock stays held.
   */
  async savepoint<T>(fn: (writer: MirrorWriter) => Promise<T>): Promise<T> {
    return this.trx.transaction((sp) => fn(new MirrorWriter(sp, this.organizationId, this.organizationKnown)));
  }

  /** The organization's directories as they stand in this transaction (written ones included). */
  async directories(): Promise<StoredDirectoryState[]> {
    return (await lockOrganization(this.trx, this.organizationId)).directories;
  }

  /** Writes an event batch's plan: groups and users, then memberships (the foreign keys' order), then directory states. */
  async writeEventPlan(plan: BatchPlan): Promise<EventPlanWritten> {
    const org = this.organizationId;
    const groups = [...plan.groups.values()];
    const users = [...plan.users.values()];
    const clearedGroups = [...plan.clearedGroups];
    const states = [...plan.directories.values()];
    await entities.upsertGroups(this.trx, org, groups);
    await entities.upsertUsers(this.trx, org, users);
    await entities.clearGroupMemberships(this.trx, org, clearedGroups);
    await entities.replaceMemberships(this.trx, org, plan.memberships);
    if (states.length > 0) await this.writeDirectoryStates(states);
    return {
      users: users.length,
      groups: groups.length,
      clearedGroups: clearedGroups.length,
      membershipSets: plan.memberships.size,
      directories: states.length,
    };
  }

  /**
   * Records directories' states, from enabled/disabled events or from Scalekit's listing (see
   * db/mirror/directories.ts for the freshness rule). Returns how many were written.
   */
  async writeDirectoryStates(states: readonly DirectoryWrite[]): Promise<number> {
    if (states.length === 0) return 0;
    await directories.writeDirectoryStates(this.trx, this.organizationId, states);
    return states.length;
  }

  /**
   * Brings the roles of the given users (or of every user) in line with their state, the
   * organization's mappings and default role; `origin` names what caused a user's change.
   */
  async resolveRoles(scope: readonly string[] | 'all', origin: (userId: string) => string): Promise<RoleResolution> {
    return roles.resolveUserRoles(this.trx, this.organizationId, scope, origin);
  }

  /** Maps a group to a role (or changes its mapping). Roles are not resolved: see resolveRoles. */
  async mapGroup(mapping: RoleMapping): Promise<void> {
    await roles.upsertRoleMapping(this.trx, this.organizationId, mapping);
  }

  /** Removes the group's mapping; false when it had none. Roles are not resolved: see resolveRoles. */
  async unmapGroup(groupId: string): Promise<boolean> {
    return roles.deleteRoleMapping(this.trx, this.organizationId, groupId);
  }

  /** Sets (or clears) the organization's default role. Roles are not resolved: see resolveRoles. */
  async setDefaultRole(role: string | null): Promise<void> {
    await roles.setDefaultRole(this.trx, this.organizationId, role);
  }

  /**
   * Clears the personal fields of up to `limit` users deactivated longer ago than `seconds` (see
   * db/mirror/entities.ts). Returns the users purged.
   */
  async purgeDeactivatedUsers(seconds: number, limit: number): Promise<number> {
    return entities.purgeDeactivatedUsers(this.trx, this.organizationId, seconds, limit);
  }

  /**
   * Applies a sync run's plan (computed in this transaction, or before): freshness is checked
   * again on every row, roles are resolved again, and the run is completed. Returns its counts.
   */
  async applySyncRunPlan(options: Omit<PlanOptions, 'organizationId'>): Promise<ApplyCounts> {
    return applyPlan(this.trx, { ...options, organizationId: this.organizationId });
  }
}

/**
 * Runs `fn` with the writer of the organization's mirror: in a new transaction, or in `db` when
 * it is one, with the organization's lock taken first (writers of one organization queue up
 * there). Everything `fn` writes commits or rolls back together.
 */
export async function withMirrorWriter<T>(
  db: Db,
  organizationId: string,
  fn: (writer: MirrorWriter) => Promise<T>,
  options: MirrorWriterOptions = {},
): Promise<T> {
  const run = async (trx: Knex.Transaction) => {
    if (options.ensureOrganization) await ensureOrganization(trx, organizationId);
    const { known } = await lockOrganization(trx, organizationId);
    return fn(new MirrorWriter(trx, organizationId, known));
  };
  return db.isTransaction ? run(db as Knex.Transaction) : db.transaction(run);
}

/**
 * Like withMirrorWriter, in `trx`, for background work that must never hold up an organization's
 * writers: when another transaction holds the organization's lock, `fn` does not run and the
 * result is undefined, at once.
 */
export async function withMirrorWriterIfFree<T>(
  trx: Knex.Transaction,
  organizationId: string,
  fn: (writer: MirrorWriter) => Promise<T>,
): Promise<T | undefined> {
  if (!(await tryLockOrganization(trx, organizationId))) return undefined;
  return fn(new MirrorWriter(trx, organizationId, true));
}

export type { MirrorWriter };
