import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Knex } from 'knex';
import type { ChangeCause } from '../../domain/changes';
import type { DirectoryEvent } from '../../domain/events';
import type { BatchPlan, DirectoryWrite, StoredDirectoryState } from '../../domain/plan';
import type { RoleMapping } from '../../domain/roles';
import type { ApplyCounts } from '../../domain/reconcile';
import { ensureOrganization } from '../repositories/directory';
import { ChangeCapture, type Cause, type CauseOf } from './changes';
import type { RoleResolution } from '../repositories/roles';
import type { PlanOptions } from '../repositories/sync-runs/plan';
import * as directories from './directories';
import * as entities from './entities';
import * as policy from './policy';
import { lockOrganization, tryLockOrganization } from './lock';
import * as roles from './roles';
import { applyPlan } from './sync-run-apply';

/**
 * The one writer of the directory mirror: an organization's users, groups, memberships, the roles
 * its users hold, its role mappings and default role, its allowed e-mail domains, and its
 * directories' states. Every change
 * to them (an event batch, a sync run's apply, a role change, a quarantined event retried, a
 * deferred event applied on resume, a directory's enabled state, retention's purge) is made here,
 * in a transaction that holds the organization's lock: `withMirrorWriter` (or, for background
 * work that must not wait, `withMirrorWriterIfFree`) is the only way to get one. Each method
 * applies one change set and returns what changed.
 *
 * Every method names what it is about to change, with the change's cause, before it writes, and
 * the transaction's change records are made when `fn` is done, just before the commit (see
 * db/mirror/changes.ts): a write path cannot leave its records out.
 *
 * The statements themselves are in the modules next to this one (db/mirror/*), which nothing
 * but this writer imports (the lint configuration refuses any other import of them).
 */

type Db = Knex | Knex.Transaction;

export interface MirrorWriterOptions {
  /** Create the organization's row first when scimflow does not know it yet (event batches). */
  ensureOrganization?: boolean;
  /** The events this writer applies were deferred by a pause (their records say so). */
  deferredEvents?: boolean;
}

/** How an event batch came to be applied, for its records' causes. */
export type EventOrigin = 'live' | 'deferred' | 'retry';

/** What an event's change records name as their cause. */
function eventCause(e: DirectoryEvent, origin: EventOrigin): Cause {
  const cause: ChangeCause =
    origin === 'retry'
      ? { type: 'quarantine_retry', eventId: e.id, eventType: e.type }
      : { type: 'event', eventId: e.id, eventType: e.type, deferred: origin === 'deferred' };
  return { cause, occurredAt: e.occurredAt };
}

/** Each subject's cause in an event batch: the last applied event that names it, else the batch's last. */
function eventCauses(events: readonly DirectoryEvent[], origin: EventOrigin) {
  const ns = (e: DirectoryEvent) => BigInt(e.occurredAtNs);
  const ordered = [...events].sort((a, b) => (ns(a) < ns(b) ? -1 : ns(a) > ns(b) ? 1 : 0));
  const users = new Map<string, DirectoryEvent>();
  const groups = new Map<string, DirectoryEvent>();
  const directories = new Map<string, DirectoryEvent>();
  for (const e of ordered) {
    if (e.kind === 'user') users.set(e.user.id, e);
    else if (e.kind === 'group') groups.set(e.group.id, e);
    else directories.set(e.directory.id, e);
  }
  const last = ordered[ordered.length - 1];
  const pick = (map: Map<string, DirectoryEvent>) => (id: string) => {
    const e = map.get(id) ?? last;
    return e ? eventCause(e, origin) : { cause: { type: 'retention' } as ChangeCause, occurredAt: null };
  };
  return { users: pick(users), groups: pick(groups), directories: pick(directories) };
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
    /** The transaction's change records in the making (shared with its savepoints). */
    readonly changes: ChangeCapture,
    /** How the events this writer applies came (live, deferred by a pause, retried from quarantine). */
    readonly eventOrigin: EventOrigin = 'live',
  ) {}

  /**
   * Runs `fn` in a savepoint of the writer's transaction: an error rolls back only what `fn`
   * wrote (and the causes it named). The lock stays held. `eventOrigin` changes how the events
   * written in it are told (a quarantined event retried).
   */
  async savepoint<T>(fn: (writer: MirrorWriter) => Promise<T>, eventOrigin: EventOrigin = this.eventOrigin): Promise<T> {
    const saved = this.changes.save();
    try {
      return await this.trx.transaction((sp) =>
        fn(new MirrorWriter(sp, this.organizationId, this.organizationKnown, this.changes, eventOrigin)),
      );
    } catch (err) {
      this.changes.restore(saved);
      throw err;
    }
  }

  /** The cause the change records of `event` name, applied by this writer. */
  eventCause(event: DirectoryEvent): Cause {
    return eventCause(event, this.eventOrigin);
  }

  /** The organization's directories as they stand in this transaction (written ones included). */
  async directories(): Promise<StoredDirectoryState[]> {
    return (await lockOrganization(this.trx, this.organizationId)).directories;
  }

  /**
   * Writes an event batch's plan (made from `events`): groups and users, then memberships (the
   * foreign keys' order), then directory states.
   */
  async writeEventPlan(plan: BatchPlan, events: readonly DirectoryEvent[]): Promise<EventPlanWritten> {
    const org = this.organizationId;
    const groups = [...plan.groups.values()];
    const users = [...plan.users.values()];
    const clearedGroups = [...plan.clearedGroups];
    const states = [...plan.directories.values()];
    const applied = events.filter((e) => plan.outcomes.get(e.id)?.outcome !== 'stale');
    const causes = eventCauses(applied.length > 0 ? applied : events, this.eventOrigin);
    // The members of deleted groups lose them: they change too.
    const members = await entities.membersOfGroups(this.trx, org, clearedGroups);
    await this.changes.touchGroups(this.trx, plan.groups.keys(), causes.groups);
    await this.changes.touchUsers(this.trx, [...plan.users.keys(), ...plan.memberships.keys()], causes.users);
    await this.changes.touchUsers(this.trx, members, causes.users, true);
    await this.changes.touchDirectories(this.trx, plan.directories.keys(), causes.directories);
    await entities.upsertGroups(this.trx, org, groups);
    await entities.upsertUsers(this.trx, org, users);
    await entities.clearGroupMemberships(this.trx, org, clearedGroups);
    await entities.replaceMemberships(this.trx, org, plan.memberships);
    if (states.length > 0) await directories.writeDirectoryStates(this.trx, org, states);
    return {
      users: users.length,
      groups: groups.length,
      clearedGroups: clearedGroups.length,
      membershipSets: plan.memberships.size,
      directories: states.length,
    };
  }

  /**
   * Records directories' states from Scalekit's listing (see db/mirror/directories.ts for the
   * freshness rule; events' states are written with their batch). Returns how many were written.
   */
  async writeDirectoryStates(states: readonly DirectoryWrite[]): Promise<number> {
    if (states.length === 0) return 0;
    await this.changes.touchDirectories(
      this.trx,
      states.map((d) => d.directoryId),
      { cause: { type: 'directory_listing' }, occurredAt: null },
    );
    await directories.writeDirectoryStates(this.trx, this.organizationId, states);
    return states.length;
  }

  /**
   * Brings the roles of the given users (or of every user) in line with their state, the
   * organization's mappings and default role; `origin` names what caused a user's change (kept
   * with the grant), `cause` the same for the change records (a user named earlier in the
   * transaction keeps the cause it has: the event that changed them).
   */
  async resolveRoles(scope: readonly string[] | 'all', origin: (userId: string) => string, cause: CauseOf): Promise<RoleResolution> {
    if (scope === 'all') await this.changes.touchOrganization(this.trx, typeof cause === 'function' ? cause('') : cause);
    else await this.changes.touchUsers(this.trx, scope, cause, true);
    return roles.resolveUserRoles(this.trx, this.organizationId, scope, origin);
  }

  /**
   * Maps a group to a role (or changes its mapping). Roles are not resolved: see resolveRoles,
   * which records what the mapping changes for users (a mapping is in no view by itself).
   */
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

  /** The organization's allowed e-mail domains as they stand in this transaction (empty: every domain allowed). */
  async allowedEmailDomains(): Promise<string[]> {
    return policy.readAllowedDomains(this.trx, this.organizationId);
  }

  /**
   * Sets the organization's allowed e-mail domains (canonical: domain/email-policy.ts). Every user
   * is named: those it holds or releases are told to the application (deactivated, provisioned or
   * reactivated) with the policy change as the cause.
   */
  async setAllowedEmailDomains(domains: readonly string[], summary: string): Promise<void> {
    await this.changes.touchOrganization(this.trx, { cause: { type: 'email_policy', summary }, occurredAt: null });
    await policy.writeAllowedDomains(this.trx, this.organizationId, domains);
  }

  /**
   * Clears the personal fields of up to `limit` users deactivated longer ago than `seconds` (see
   * db/mirror/entities.ts). Returns the users purged.
   */
  async purgeDeactivatedUsers(seconds: number, limit: number): Promise<number> {
    const due = await entities.usersDueForPurge(this.trx, this.organizationId, seconds, limit);
    if (due.length === 0) return 0;
    await this.changes.touchUsers(this.trx, due, { cause: { type: 'retention' }, occurredAt: null });
    return entities.purgeUsers(this.trx, this.organizationId, due);
  }

  /**
   * Applies a sync run's plan (computed in this transaction, or before): freshness is checked
   * again on every row, roles are resolved again, and the run is completed. Returns its counts.
   */
  async applySyncRunPlan(options: Omit<PlanOptions, 'organizationId'>): Promise<ApplyCounts> {
    await this.changes.touchOrganization(this.trx, {
      cause: { type: 'sync_run', runId: options.run.id, runKind: options.run.kind },
      occurredAt: null,
    });
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
    const changes = new ChangeCapture(organizationId);
    const result = await fn(new MirrorWriter(trx, organizationId, known, changes, options.deferredEvents ? 'deferred' : 'live'));
    await changes.finish(trx);
    return result;
  };
  if (db.isTransaction) return run(db as Knex.Transaction);
  // A span from the transaction's start to its commit (or rollback), when tracing is on
  // (observability/tracing.ts); OpenTelemetry's no-op tracer otherwise.
  return trace.getTracer('scimflow').startActiveSpan('mirror transaction', { attributes: { 'db.system': 'postgresql' } }, async (span) => {
    try {
      return await db.transaction(run);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).name });
      throw err;
    } finally {
      span.end();
    }
  });
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
  const changes = new ChangeCapture(organizationId);
  const result = await fn(new MirrorWriter(trx, organizationId, true, changes));
  await changes.finish(trx);
  return result;
}

export type { MirrorWriter };
