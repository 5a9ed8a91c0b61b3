import { formatNs, nowNs } from './clock';
import { IdFactory, Rng } from './random';
import {
  DIRECTORY_PROVIDERS,
  EmulatorError,
  type CreateGroupInput,
  type CreateOrganizationInput,
  type CreateUserInput,
  type DirectoryProviderName,
  type DirectorySnapshot,
  type DirectoryView,
  type EmitOptions,
  type GroupView,
  type OrganizationView,
  type RoleAssignmentInput,
  type UpdateGroupInput,
  type UpdateUserInput,
  type UserProfile,
  type UserView,
} from './types';
import {
  deletedUserData,
  directoryData,
  groupData,
  userData,
  type EventDraft,
  type UserPayloadSource,
} from './webhook-payloads';

/**
 * The in-memory Scalekit: organizations, each with one SCIM directory, its users, groups,
 * memberships and group→role assignments. Every mutation that Scalekit would announce hands an
 * EventDraft to the sink, in the order Scalekit would send them.
 */

export interface StoredUser {
  id: string;
  active: boolean;
  profile: UserProfile & { dpId: string; email: string };
  createdNs: bigint;
  updatedNs: bigint;
}

export interface StoredGroup {
  id: string;
  displayName: string;
  externalId: string | null;
  dpId: string;
  rawAttributes: Record<string, unknown>;
  createdNs: bigint;
  updatedNs: bigint;
}

export interface StoredDirectory {
  id: string;
  name: string;
  provider: DirectoryProviderName;
  enabled: boolean;
  createdNs: bigint;
  updatedNs: bigint;
  roleAssignments: RoleAssignmentInput[];
}

export interface StoredOrganization {
  id: string;
  displayName: string;
  externalId: string | null;
  createdNs: bigint;
  updatedNs: bigint;
  directory: StoredDirectory;
  /** False until the organization's IT admin sets SCIM up (the portal's enable does). */
  directoryProvisioned: boolean;
  /** Insertion order is id order (ids only grow), which is the listing order. */
  users: Map<string, StoredUser>;
  groups: Map<string, StoredGroup>;
  userGroups: Map<string, Set<string>>;
  groupUsers: Map<string, Set<string>>;
  /** Bumped on every change: list caches are keyed by it. */
  version: number;
  listCache: Map<string, { version: number; items: readonly (StoredUser | StoredGroup)[] }>;
}

export type EventSink = (draft: EventDraft) => void;

/** Ids only grow, and all have the same prefix per kind: compare by length, then text. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function sortedIds(ids: Iterable<string>): string[] {
  return [...ids].sort(compareIds);
}

function uuidFrom(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => rng.int(0, 15).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function applyPatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete target[key];
    else target[key] = value;
  }
}

export class DirectoryStore {
  readonly organizations = new Map<string, StoredOrganization>();
  private readonly ids: IdFactory;
  private readonly rng: Rng;

  constructor(
    seed: number,
    private readonly sink: EventSink,
  ) {
    this.ids = new IdFactory(seed);
    this.rng = new Rng(seed ^ 0x0d1c7);
  }

  newId(prefix: string): string {
    return this.ids.next(prefix);
  }

  newUuid(): string {
    return uuidFrom(this.rng);
  }

  private emit(options: EmitOptions | undefined, draft: EventDraft): void {
    if (options?.emit !== false) this.sink(draft);
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  organization(organizationId: string): StoredOrganization {
    const org = this.organizations.get(organizationId);
    if (!org) throw new EmulatorError('not_found', `organization ${organizationId} not found`);
    return org;
  }

  organizationByExternalId(externalId: string): StoredOrganization {
    for (const org of this.organizations.values()) if (org.externalId === externalId) return org;
    throw new EmulatorError('not_found', `organization with external id ${externalId} not found`);
  }

  directory(organizationId: string, directoryId: string): StoredOrganization {
    const org = this.organization(organizationId);
    if (org.directory.id !== directoryId || !org.directoryProvisioned) {
      throw new EmulatorError('not_found', `directory ${directoryId} not found in organization ${organizationId}`);
    }
    return org;
  }

  private user(org: StoredOrganization, userId: string): StoredUser {
    const user = org.users.get(userId);
    if (!user) throw new EmulatorError('not_found', `directory user ${userId} not found in ${org.id}`);
    return user;
  }

  private group(org: StoredOrganization, groupId: string): StoredGroup {
    const group = org.groups.get(groupId);
    if (!group) throw new EmulatorError('not_found', `directory group ${groupId} not found in ${org.id}`);
    return group;
  }

  /** A disabled directory's SCIM endpoint refuses the IdP, so nothing can change in it. */
  private writable(organizationId: string): StoredOrganization {
    const org = this.organization(organizationId);
    if (!org.directory.enabled) {
      throw new EmulatorError(
        'failed_precondition',
        `directory ${org.directory.id} of ${org.id} is disabled: enable it before changing users or groups`,
      );
    }
    return org;
  }

  private touch(org: StoredOrganization): void {
    org.version++;
  }

  // -------------------------------------------------------------------------------------------
  // Derived data

  groupIdsOf(org: StoredOrganization, userId: string): string[] {
    return sortedIds(org.userGroups.get(userId) ?? []);
  }

  rolesOf(org: StoredOrganization, userId: string): string[] {
    const groups = org.userGroups.get(userId);
    if (!groups || org.directory.roleAssignments.length === 0) return [];
    const roles = new Set<string>();
    for (const a of org.directory.roleAssignments) if (groups.has(a.groupId)) roles.add(a.roleName);
    return [...roles].sort();
  }

  activeMemberCount(org: StoredOrganization, groupId: string): number {
    let n = 0;
    for (const id of org.groupUsers.get(groupId) ?? []) if (org.users.get(id)?.active) n++;
    return n;
  }

  private payloadSource(org: StoredOrganization, user: StoredUser): UserPayloadSource {
    return {
      id: user.id,
      organizationId: org.id,
      active: user.active,
      profile: user.profile,
      groups: this.groupIdsOf(org, user.id).map((id) => ({ id, name: org.groups.get(id)?.displayName ?? '' })),
      roles: this.rolesOf(org, user.id),
    };
  }

  private userEvent(org: StoredOrganization, user: StoredUser, type: 'created' | 'updated' | 'deleted'): EventDraft {
    const source = this.payloadSource(org, user);
    return {
      type: `organization.directory.user_${type}`,
      organizationId: org.id,
      object: 'DirectoryUser',
      data: type === 'deleted' ? deletedUserData(source) : userData(source),
    };
  }

  private groupEvent(org: StoredOrganization, group: StoredGroup, type: 'created' | 'updated' | 'deleted'): EventDraft {
    return {
      type: `organization.directory.group_${type}`,
      organizationId: org.id,
      object: 'DirectoryGroup',
      data: groupData({ ...group, organizationId: org.id, directoryId: org.directory.id }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Organizations and directories

  createOrganization(input: CreateOrganizationInput, options?: EmitOptions): OrganizationView {
    if (!input.displayName) throw new EmulatorError('invalid_argument', 'displayName is required');
    const provider = input.provider ?? 'OKTA';
    if (!DIRECTORY_PROVIDERS.includes(provider)) {
      throw new EmulatorError('invalid_argument', `provider must be one of ${DIRECTORY_PROVIDERS.join(', ')}`);
    }
    if (input.externalId !== undefined) {
      for (const o of this.organizations.values()) {
        if (o.externalId === input.externalId) {
          throw new EmulatorError('conflict', `an organization with external id ${input.externalId} exists`);
        }
      }
    }
    const now = nowNs();
    const id = this.newId('org_');
    const directory: StoredDirectory = {
      id: this.newId('dir_'),
      name: input.directoryName ?? `${provider.charAt(0)}${provider.slice(1).toLowerCase().replace('_', ' ')} SCIM`,
      provider,
      enabled: false,
      createdNs: now,
      updatedNs: now,
      roleAssignments: [],
    };
    const org: StoredOrganization = {
      id,
      displayName: input.displayName,
      externalId: input.externalId ?? null,
      createdNs: now,
      updatedNs: now,
      directory,
      directoryProvisioned: input.withoutDirectory !== true,
      users: new Map(),
      groups: new Map(),
      userGroups: new Map(),
      groupUsers: new Map(),
      version: 0,
      listCache: new Map(),
    };
    this.organizations.set(id, org);
    if (input.directoryEnabled !== false && input.withoutDirectory !== true) this.setDirectoryEnabled(id, true, options);
    return this.organizationView(org);
  }

  /** Returns false (and sends nothing) when the directory already was in that state. */
  setDirectoryEnabled(organizationId: string, enabled: boolean, options?: EmitOptions): boolean {
    const org = this.organization(organizationId);
    if (org.directory.enabled === enabled) return false;
    org.directoryProvisioned = true;
    org.directory.enabled = enabled;
    org.directory.updatedNs = nowNs();
    this.touch(org);
    this.emit(options, {
      type: enabled ? 'organization.directory_enabled' : 'organization.directory_disabled',
      organizationId: org.id,
      object: 'Directory',
      data: directoryData({ ...org.directory, organizationId: org.id }),
    });
    return true;
  }

  /**
   * Replaces the group→role assignments. Whether Scalekit announces the resulting role changes is
   * not documented; with `emitUserUpdates` every user whose roles changed gets a user_updated.
   */
  setRoleAssignments(
    organizationId: string,
    assignments: RoleAssignmentInput[],
    options?: EmitOptions & { emitUserUpdates?: boolean },
  ): RoleAssignmentInput[] {
    const org = this.organization(organizationId);
    for (const a of assignments) {
      this.group(org, a.groupId);
      if (!/^[a-zA-Z0-9_]{1,64}$/.test(a.roleName)) {
        throw new EmulatorError('invalid_argument', `role name ${JSON.stringify(a.roleName)} must match ^[a-zA-Z0-9_]{1,64}$`);
      }
    }
    const before = options?.emitUserUpdates ? new Map([...org.users.keys()].map((id) => [id, this.rolesOf(org, id).join(',')])) : null;
    org.directory.roleAssignments = assignments.map((a) => ({ groupId: a.groupId, roleName: a.roleName }));
    org.directory.updatedNs = nowNs();
    this.touch(org);
    if (before) {
      for (const user of org.users.values()) {
        if (!user.active || before.get(user.id) === this.rolesOf(org, user.id).join(',')) continue;
        user.updatedNs = nowNs();
        this.emit(options, this.userEvent(org, user, 'updated'));
      }
    }
    return org.directory.roleAssignments.map((a) => ({ ...a }));
  }

  // -------------------------------------------------------------------------------------------
  // Users

  createUser(organizationId: string, input: CreateUserInput, options?: EmitOptions): UserView {
    const org = this.writable(organizationId);
    if (!input.email) throw new EmulatorError('invalid_argument', 'email is required');
    const { active = true, groupIds = [], ...profile } = input;
    for (const g of groupIds) this.group(org, g);
    const now = nowNs();
    const user: StoredUser = {
      id: this.newId('diruser_'),
      active,
      profile: { ...profile, email: input.email, dpId: input.dpId ?? this.newUuid() },
      createdNs: now,
      updatedNs: now,
    };
    org.users.set(user.id, user);
    this.link(org, user.id, groupIds);
    this.touch(org);
    if (active) this.emit(options, this.userEvent(org, user, 'created'));
    return this.userView(org, user);
  }

  updateUser(organizationId: string, userId: string, patch: UpdateUserInput, options?: EmitOptions): UserView {
    const org = this.writable(organizationId);
    const user = this.user(org, userId);
    const { active, ...profilePatch } = patch;
    if (profilePatch.email === null) throw new EmulatorError('invalid_argument', 'email cannot be cleared');
    if (profilePatch.dpId === null) throw new EmulatorError('invalid_argument', 'dpId cannot be cleared');
    applyPatch(user.profile as unknown as Record<string, unknown>, profilePatch as Record<string, unknown>);
    const wasActive = user.active;
    if (active !== undefined) user.active = active;
    user.updatedNs = nowNs();
    this.touch(org);
    // An IdP deactivation reaches consumers as user_deleted; a reactivation as user_created.
    if (wasActive && !user.active) this.emit(options, this.userEvent(org, user, 'deleted'));
    else if (!wasActive && user.active) this.emit(options, this.userEvent(org, user, 'created'));
    else if (user.active) this.emit(options, this.userEvent(org, user, 'updated'));
    return this.userView(org, user);
  }

  deleteUser(organizationId: string, userId: string, options?: EmitOptions): void {
    const org = this.writable(organizationId);
    const user = this.user(org, userId);
    const draft = this.userEvent(org, user, 'deleted');
    this.unlinkUser(org, userId);
    org.users.delete(userId);
    this.touch(org);
    if (user.active) this.emit(options, draft);
  }

  /** Replaces a user's memberships; sends one user_updated with the full groups[] if they changed. */
  setUserGroups(organizationId: string, userId: string, groupIds: string[], options?: EmitOptions): UserView {
    const org = this.writable(organizationId);
    const user = this.user(org, userId);
    for (const g of groupIds) this.group(org, g);
    const before = this.groupIdsOf(org, userId).join(',');
    this.unlinkUser(org, userId);
    this.link(org, userId, groupIds);
    if (this.groupIdsOf(org, userId).join(',') !== before) {
      user.updatedNs = nowNs();
      this.touch(org);
      if (user.active) this.emit(options, this.userEvent(org, user, 'updated'));
    }
    return this.userView(org, user);
  }

  // -------------------------------------------------------------------------------------------
  // Groups

  createGroup(organizationId: string, input: CreateGroupInput, options?: EmitOptions): GroupView {
    const org = this.writable(organizationId);
    if (!input.displayName) throw new EmulatorError('invalid_argument', 'displayName is required');
    const memberIds = input.memberIds ?? [];
    for (const u of memberIds) this.user(org, u);
    const now = nowNs();
    const group: StoredGroup = {
      id: this.newId('dirgroup_'),
      displayName: input.displayName,
      externalId: input.externalId ?? null,
      dpId: input.dpId ?? this.newUuid(),
      rawAttributes: input.rawAttributes ?? {},
      createdNs: now,
      updatedNs: now,
    };
    org.groups.set(group.id, group);
    org.groupUsers.set(group.id, new Set());
    this.touch(org);
    this.emit(options, this.groupEvent(org, group, 'created'));
    if (memberIds.length > 0) this.setGroupMembers(org.id, group.id, memberIds, options);
    return this.groupView(org, group);
  }

  updateGroup(organizationId: string, groupId: string, patch: UpdateGroupInput, options?: EmitOptions): GroupView {
    const org = this.writable(organizationId);
    const group = this.group(org, groupId);
    if (patch.displayName !== undefined) {
      if (!patch.displayName) throw new EmulatorError('invalid_argument', 'displayName cannot be empty');
      group.displayName = patch.displayName;
    }
    if (patch.externalId !== undefined) group.externalId = patch.externalId;
    if (patch.rawAttributes !== undefined) group.rawAttributes = patch.rawAttributes;
    group.updatedNs = nowNs();
    this.touch(org);
    this.emit(options, this.groupEvent(org, group, 'updated'));
    return this.groupView(org, group);
  }

  /** Sends group_deleted, then a user_updated per former member (groups[] and roles[] recomputed). */
  deleteGroup(organizationId: string, groupId: string, options?: EmitOptions): void {
    const org = this.writable(organizationId);
    const group = this.group(org, groupId);
    const members = sortedIds(org.groupUsers.get(groupId) ?? []);
    org.groups.delete(groupId);
    org.groupUsers.delete(groupId);
    for (const u of members) org.userGroups.get(u)?.delete(groupId);
    // A role assignment to a group that no longer exists grants nothing; Scalekit drops it too.
    org.directory.roleAssignments = org.directory.roleAssignments.filter((a) => a.groupId !== groupId);
    this.touch(org);
    this.emit(options, this.groupEvent(org, group, 'deleted'));
    for (const u of members) {
      const user = org.users.get(u);
      if (!user) continue;
      user.updatedNs = nowNs();
      if (user.active) this.emit(options, this.userEvent(org, user, 'updated'));
    }
  }

  /** Replaces a group's members (a SCIM group push); each user whose groups changed gets user_updated. */
  setGroupMembers(organizationId: string, groupId: string, userIds: string[], options?: EmitOptions): GroupView {
    const org = this.writable(organizationId);
    const group = this.group(org, groupId);
    for (const u of userIds) this.user(org, u);
    const before = org.groupUsers.get(groupId) ?? new Set<string>();
    const after = new Set(userIds);
    const changed = sortedIds([...before].filter((u) => !after.has(u)).concat([...after].filter((u) => !before.has(u))));
    org.groupUsers.set(groupId, after);
    for (const u of before) if (!after.has(u)) org.userGroups.get(u)?.delete(groupId);
    for (const u of after) this.userGroupSet(org, u).add(groupId);
    this.touch(org);
    for (const u of changed) {
      const user = this.user(org, u);
      user.updatedNs = nowNs();
      if (user.active) this.emit(options, this.userEvent(org, user, 'updated'));
    }
    return this.groupView(org, group);
  }

  private userGroupSet(org: StoredOrganization, userId: string): Set<string> {
    let set = org.userGroups.get(userId);
    if (!set) {
      set = new Set();
      org.userGroups.set(userId, set);
    }
    return set;
  }

  private link(org: StoredOrganization, userId: string, groupIds: string[]): void {
    const mine = this.userGroupSet(org, userId);
    for (const g of groupIds) {
      mine.add(g);
      org.groupUsers.get(g)?.add(userId);
    }
  }

  private unlinkUser(org: StoredOrganization, userId: string): void {
    for (const g of org.userGroups.get(userId) ?? []) org.groupUsers.get(g)?.delete(userId);
    org.userGroups.delete(userId);
  }

  /** Bulk insert for generators: no events, no per-call validation beyond what they guarantee. */
  bulkInsert(org: StoredOrganization, users: StoredUser[], groups: StoredGroup[], memberships: [string, string][]): void {
    for (const g of groups) {
      org.groups.set(g.id, g);
      org.groupUsers.set(g.id, new Set());
    }
    for (const u of users) org.users.set(u.id, u);
    for (const [userId, groupId] of memberships) {
      this.userGroupSet(org, userId).add(groupId);
      org.groupUsers.get(groupId)?.add(userId);
    }
    this.touch(org);
  }

  // -------------------------------------------------------------------------------------------
  // Listing (the Directory API's view): cached per filter and version, so paging a 100k-user
  // directory costs one filter pass, not one per page.

  listUsers(org: StoredOrganization, filter: { groupId?: string; updatedAfterNs?: bigint }): readonly StoredUser[] {
    const key = `u|${filter.groupId ?? ''}|${filter.updatedAfterNs ?? ''}`;
    return this.cached(org, key, () => {
      const members = filter.groupId !== undefined ? (org.groupUsers.get(filter.groupId) ?? new Set<string>()) : null;
      const out: StoredUser[] = [];
      for (const user of org.users.values()) {
        if (!user.active) continue;
        if (members && !members.has(user.id)) continue;
        if (filter.updatedAfterNs !== undefined && user.updatedNs <= filter.updatedAfterNs) continue;
        out.push(user);
      }
      return out;
    }) as readonly StoredUser[];
  }

  listGroups(org: StoredOrganization, filter: { updatedAfterNs?: bigint }): readonly StoredGroup[] {
    const key = `g|${filter.updatedAfterNs ?? ''}`;
    return this.cached(org, key, () =>
      [...org.groups.values()].filter((g) => filter.updatedAfterNs === undefined || g.updatedNs > filter.updatedAfterNs!),
    ) as readonly StoredGroup[];
  }

  private cached(
    org: StoredOrganization,
    key: string,
    build: () => (StoredUser | StoredGroup)[],
  ): readonly (StoredUser | StoredGroup)[] {
    const hit = org.listCache.get(key);
    if (hit && hit.version === org.version) return hit.items;
    const items = build();
    if (org.listCache.size >= 16) org.listCache.clear();
    org.listCache.set(key, { version: org.version, items });
    return items;
  }

  // -------------------------------------------------------------------------------------------
  // Views

  organizationView(org: StoredOrganization): OrganizationView {
    return { id: org.id, displayName: org.displayName, externalId: org.externalId, directoryId: org.directory.id };
  }

  directoryView(org: StoredOrganization): DirectoryView {
    let users = 0;
    for (const u of org.users.values()) if (u.active) users++;
    return {
      id: org.directory.id,
      organizationId: org.id,
      name: org.directory.name,
      provider: org.directory.provider,
      directoryType: 'SCIM',
      enabled: org.directory.enabled,
      roleAssignments: org.directory.roleAssignments.map((a) => ({ ...a })),
      totalUsers: users,
      totalGroups: org.groups.size,
      updatedAt: formatNs(org.directory.updatedNs),
    };
  }

  userView(org: StoredOrganization, user: StoredUser): UserView {
    return {
      id: user.id,
      organizationId: org.id,
      dpId: user.profile.dpId,
      email: user.profile.email,
      active: user.active,
      profile: structuredClone(user.profile),
      groupIds: this.groupIdsOf(org, user.id),
      roles: this.rolesOf(org, user.id),
      updatedAt: formatNs(user.updatedNs),
    };
  }

  groupView(org: StoredOrganization, group: StoredGroup): GroupView {
    const members: string[] = [];
    for (const id of org.groupUsers.get(group.id) ?? []) if (org.users.get(id)?.active) members.push(id);
    return {
      id: group.id,
      organizationId: org.id,
      directoryId: org.directory.id,
      displayName: group.displayName,
      externalId: group.externalId,
      dpId: group.dpId,
      memberIds: members.sort(compareIds),
      updatedAt: formatNs(group.updatedNs),
    };
  }

  getUser(organizationId: string, userId: string): UserView {
    const org = this.organization(organizationId);
    return this.userView(org, this.user(org, userId));
  }

  getGroup(organizationId: string, groupId: string): GroupView {
    const org = this.organization(organizationId);
    return this.groupView(org, this.group(org, groupId));
  }

  snapshot(organizationId: string): DirectorySnapshot {
    const org = this.organization(organizationId);
    const users: UserView[] = [];
    const inactiveUsers: UserView[] = [];
    for (const user of org.users.values()) (user.active ? users : inactiveUsers).push(this.userView(org, user));
    return {
      organization: this.organizationView(org),
      directory: this.directoryView(org),
      users,
      inactiveUsers,
      groups: [...org.groups.values()].map((g) => this.groupView(org, g)),
    };
  }

  reset(): void {
    this.organizations.clear();
  }
}
