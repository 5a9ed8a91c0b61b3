import type { DirectoryEvent, DirectoryGroupRecord, DirectoryUserRecord } from './events';
import { compareNanos } from './time';

/**
 * Folds a batch of directory events, in arrival order, over the stored state of the entities they
 * touch, applying the freshness rule per entity. The result is the final state to write (one
 * multi-row statement per table) and an outcome per event. Pure: the activity loads the rows,
 * this decides, the repositories write.
 *
 * Rules:
 * - `*_created` and `*_updated` events carry the whole entity (a field left out was cleared);
 *   `user_deleted` may carry only id and email, and only flips the state.
 * - An event older (occurred_at) than what its entity already reflects is `stale` and changes nothing.
 * - `user_deleted` deactivates (a tombstone row even for a user never seen) and drops memberships;
 *   a newer `user_created` (or a newer update that says `active: true`) reactivates.
 * - `groups[]` on a user event is the full membership list: it replaces the stored one. Memberships
 *   are only kept to live groups; a group deletion drops every membership of that group.
 * - Unknown groups referenced by a user event get a placeholder row (freshness zero) that any real
 *   group event later fills in.
 * - Every user and group keeps the directory that provisioned it (an organization may have
 *   several), and only what says so sets it: never a guess, because a wrong directory lets
 *   another directory's full run deactivate the user. Group events name it (when they carry
 *   it); Scalekit's user events do not, so a user's directory is the one it already has, else
 *   the one its groups are known to be of (from a group event or a listing), else unknown until
 *   a reconcile finds the user in a directory's listing. A placeholder group (from a user's
 *   groups[]) has no directory.
 * - `directory_enabled` / `directory_disabled` set that one directory's state, with freshness per directory.
 */

export interface StoredUser {
  id: string;
  email: string | null;
  preferredUsername: string | null;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  dpId: string | null;
  /** The directory that provisioned the user; null while unknown. */
  directoryId: string | null;
  active: boolean;
  roles: string[];
  attributes: Record<string, unknown>;
  sourceNs: string;
  deactivatedAt: string | null;
}

export interface StoredGroup {
  id: string;
  displayName: string | null;
  directoryId: string | null;
  externalId: string | null;
  attributes: Record<string, unknown>;
  deleted: boolean;
  deletedAt: string | null;
  sourceNs: string;
}

/** One of the organization's directories as stored. */
export interface StoredDirectoryState {
  directoryId: string;
  enabled: boolean | null;
  sourceNs: string | null;
  /** A full reconcile found that Scalekit no longer lists it. */
  removed: boolean;
}

export interface UserWrite extends StoredUser {
  sourceEventId: string;
}
export interface GroupWrite extends StoredGroup {
  sourceEventId: string | null;
}
export interface DirectoryWrite {
  directoryId: string;
  directoryType: string | null;
  provider: string | null;
  enabled: boolean;
  /** How fresh the state is: the event's occurred_at, or when scimflow asked Scalekit for the listing. */
  sourceNs: string;
  /** From Scalekit's listing rather than an event. */
  listed?: boolean;
}

export type AppliedOutcome = 'applied' | 'stale';

export interface EventOutcome {
  outcome: AppliedOutcome;
  detail: string | null;
}

export interface BatchPlan {
  outcomes: Map<string, EventOutcome>;
  users: Map<string, UserWrite>;
  groups: Map<string, GroupWrite>;
  /** Groups deleted at some point in this batch: all their stored memberships go. */
  clearedGroups: Set<string>;
  /** Final membership sets of users whose memberships this batch determined. */
  memberships: Map<string, Set<string>>;
  /** Directory states to write, by directory id. */
  directories: Map<string, DirectoryWrite>;
}

export interface PlanInput {
  events: readonly DirectoryEvent[];
  users: ReadonlyMap<string, StoredUser>;
  groups: ReadonlyMap<string, StoredGroup>;
  /** The organization's directories as stored. */
  directories: readonly StoredDirectoryState[];
}

function displayName(u: Pick<StoredUser, 'name' | 'givenName' | 'familyName'>): string | null {
  if (u.name) return u.name;
  const parts = [u.givenName, u.familyName].filter((p): p is string => !!p && p.length > 0);
  return parts.length > 0 ? parts.join(' ') : null;
}

function emptyUser(id: string): StoredUser {
  return {
    id,
    email: null,
    preferredUsername: null,
    name: null,
    givenName: null,
    familyName: null,
    dpId: null,
    directoryId: null,
    active: false,
    roles: [],
    attributes: {},
    sourceNs: '0',
    deactivatedAt: null,
  };
}

function emptyGroup(id: string, name: string | null): StoredGroup {
  return {
    id,
    displayName: name,
    directoryId: null,
    externalId: null,
    attributes: {},
    deleted: false,
    deletedAt: null,
    sourceNs: '0',
  };
}

/**
 * `user_created` and `user_updated` carry the whole directory user: a profile field they leave
 * out was cleared in the identity provider. `groups` and `roles` are the exception: absent means
 * "not said", and the stored ones stay.
 */
function mergeProfile(base: StoredUser, rec: DirectoryUserRecord): StoredUser {
  const next: StoredUser = {
    ...base,
    email: rec.email ?? null,
    preferredUsername: rec.preferredUsername ?? null,
    givenName: rec.givenName ?? null,
    familyName: rec.familyName ?? null,
    dpId: rec.dpId ?? null,
    name: rec.name ?? null,
    attributes: rec.attributes,
  };
  if (rec.roles !== undefined) next.roles = rec.roles;
  next.name = displayName(next);
  return next;
}

/** Group events carry the whole group, like user events. */
function mergeGroup(base: StoredGroup, rec: DirectoryGroupRecord): StoredGroup {
  return {
    ...base,
    displayName: rec.displayName ?? null,
    directoryId: rec.directoryId ?? base.directoryId,
    externalId: rec.externalId ?? null,
    attributes: rec.attributes,
  };
}

export function planBatch(input: PlanInput): BatchPlan {
  const plan: BatchPlan = {
    outcomes: new Map(),
    users: new Map(),
    groups: new Map(),
    clearedGroups: new Set(),
    memberships: new Map(),
    directories: new Map(),
  };
  // Working state: stored rows overlaid with this batch's writes.
  const userNow = (id: string): StoredUser | undefined => plan.users.get(id) ?? input.users.get(id);
  const groupNow = (id: string): StoredGroup | undefined => plan.groups.get(id) ?? input.groups.get(id);
  const storedDirectories = new Map(input.directories.map((d) => [d.directoryId, d]));
  const directoryNow = (id: string): { sourceNs: string | null } | undefined => plan.directories.get(id) ?? storedDirectories.get(id);

  const stale = (eventId: string, what: string, eventNs: string, storedNs: string): void => {
    plan.outcomes.set(eventId, {
      outcome: 'stale',
      detail: `${what} already reflects a newer change (stored ${storedNs} ns > event ${eventNs} ns)`,
    });
  };

  for (const event of input.events) {
    if (event.kind === 'user') {
      const rec = event.user;
      const stored = userNow(rec.id);
      if (stored && compareNanos(event.occurredAtNs, stored.sourceNs) < 0) {
        stale(event.id, `user ${rec.id}`, event.occurredAtNs, stored.sourceNs);
        continue;
      }
      const base = stored ?? emptyUser(rec.id);
      let next: StoredUser;
      let detail: string | null = null;
      const directoryId = userDirectory(rec, base, groupNow);
      if (event.type === 'organization.directory.user_deleted') {
        // Deleted payloads may carry only id and email: keep the profile, flip the state.
        next = { ...base };
        if (rec.email !== undefined && rec.email !== null) next.email = rec.email;
        next.active = false;
        next.deactivatedAt = base.active || !stored ? event.occurredAt : (base.deactivatedAt ?? event.occurredAt);
        detail = stored ? (base.active ? 'deactivated' : 'already inactive') : 'tombstone recorded for an unseen user';
        plan.memberships.set(rec.id, new Set());
      } else {
        next = mergeProfile(base, rec);
        const wantsActive = event.type === 'organization.directory.user_created' ? (rec.active ?? true) : rec.active;
        if (wantsActive !== undefined) next.active = wantsActive;
        else if (!stored) next.active = true;
        if (next.active) {
          if (stored && !stored.active) detail = 'reactivated';
          next.deactivatedAt = null;
        } else if (base.active || !stored) {
          next.deactivatedAt = event.occurredAt;
          detail = 'deactivated (active: false)';
        }
        if (!next.active) {
          plan.memberships.set(rec.id, new Set());
        } else if (rec.groups !== undefined) {
          const groups = new Set<string>();
          for (const g of rec.groups) {
            let group = groupNow(g.id);
            if (!group) {
              // Its directory stays unknown: the user's may be a guess of nothing but this group.
              group = emptyGroup(g.id, g.name);
              plan.groups.set(g.id, { ...group, sourceEventId: null });
            }
            if (!group.deleted) groups.add(g.id);
          }
          plan.memberships.set(rec.id, groups);
        }
      }
      next.directoryId = directoryId;
      next.sourceNs = event.occurredAtNs;
      plan.users.set(rec.id, { ...next, sourceEventId: event.id });
      plan.outcomes.set(event.id, { outcome: 'applied', detail });
    } else if (event.kind === 'group') {
      const rec = event.group;
      const stored = groupNow(rec.id);
      if (stored && compareNanos(event.occurredAtNs, stored.sourceNs) < 0) {
        stale(event.id, `group ${rec.id}`, event.occurredAtNs, stored.sourceNs);
        continue;
      }
      const base = stored ?? emptyGroup(rec.id, null);
      let next: StoredGroup;
      let detail: string | null = null;
      if (event.type === 'organization.directory.group_deleted') {
        next = { ...base };
        if (rec.displayName) next.displayName = rec.displayName;
        next.deleted = true;
        next.deletedAt = base.deleted ? base.deletedAt : event.occurredAt;
        plan.clearedGroups.add(rec.id);
        for (const set of plan.memberships.values()) set.delete(rec.id);
        detail = stored && !stored.deleted ? 'group soft-deleted, memberships dropped' : 'group tombstone recorded';
      } else {
        next = mergeGroup(base, rec);
        if (base.deleted) detail = 'group restored';
        next.deleted = false;
        next.deletedAt = null;
      }
      next.directoryId = rec.directoryId ?? next.directoryId;
      next.sourceNs = event.occurredAtNs;
      plan.groups.set(rec.id, { ...next, sourceEventId: event.id });
      plan.outcomes.set(event.id, { outcome: 'applied', detail });
    } else {
      const rec = event.directory;
      const current = directoryNow(rec.id);
      if (current?.sourceNs && compareNanos(event.occurredAtNs, current.sourceNs) < 0) {
        stale(event.id, `directory ${rec.id}`, event.occurredAtNs, current.sourceNs);
        continue;
      }
      plan.directories.set(rec.id, {
        directoryId: rec.id,
        directoryType: rec.directoryType,
        provider: rec.provider,
        enabled: rec.enabled,
        sourceNs: event.occurredAtNs,
      });
      plan.outcomes.set(event.id, { outcome: 'applied', detail: rec.enabled ? 'directory enabled' : 'directory disabled' });
    }
  }
  return plan;
}

/**
 * The directory that provisioned the user of a user event: the one the event names, else the one
 * the user already has (a directory user id lives in one directory), else the one its groups are
 * known to belong to when they agree, else unknown (null). Never the organization's only known
 * directory: another may exist that scimflow has not heard of yet (its events come before any
 * listing or directory event), and a user stamped with the wrong one is deactivated by that
 * one's full run. A group's directory is only ever set from a group event or a listing.
 */
export function userDirectory(
  rec: Pick<DirectoryUserRecord, 'directoryId' | 'groups'>,
  stored: Pick<StoredUser, 'directoryId'> | undefined,
  groupNow: (id: string) => Pick<StoredGroup, 'directoryId'> | undefined,
): string | null {
  if (rec.directoryId) return rec.directoryId;
  if (stored?.directoryId) return stored.directoryId;
  const ofGroups = new Set<string>();
  for (const g of rec.groups ?? []) {
    const d = groupNow(g.id)?.directoryId;
    if (d) ofGroups.add(d);
  }
  return ofGroups.size === 1 ? ([...ofGroups][0] ?? null) : null;
}

/** Ids a batch needs loaded before planning. */
export function entitiesOf(events: readonly DirectoryEvent[]): { userIds: string[]; groupIds: string[] } {
  const users = new Set<string>();
  const groups = new Set<string>();
  for (const e of events) {
    if (e.kind === 'user') {
      users.add(e.user.id);
      for (const g of e.user.groups ?? []) groups.add(g.id);
    } else if (e.kind === 'group') groups.add(e.group.id);
  }
  return { userIds: [...users], groupIds: [...groups] };
}
