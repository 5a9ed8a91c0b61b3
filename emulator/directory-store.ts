import { formatNs, nowNs } from './clock';
import { IdFactory, Rng } from './random';
import {
  DIRECTORY_PROVIDERS,
  EmulatorError,
  type AddDirectoryInput,
  type CreateGroupInput,
  type CreateOrganizationInput,
  type CreateUserInput,
  type DirectoryProviderName,
  type DirectorySnapshot,
  type DirectoryOptions,
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
import { deletedUserData, directoryData, groupData, userData, type EventDraft, type UserPayloadSource } from './webhook-payloads';

/**
 * The in-memory Scalekit: organizations, each with one or more SCIM directories (the first is its
 * primary), each directory with its own users, groups, memberships and group→role assignments.
 * Every mutation that Scalekit would announce hands an EventDraft to the sink, in the order
 * Scalekit would send them.
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
  organizationId: string;
  name: string;
  provider: DirectoryProviderName;
  enabled: boolean;
  createdNs: bigint;
  updatedNs: bigint;
  roleAssignments: RoleAssignmentInput[];
  /** False until the organization's IT admin sets SCIM up (the portal's enable does). */
  provisioned: boolean;
  /** GetDirectory answers NotFound while ListDirectories still lists it (see setDirectoryDetailsHidden). */
  detailsHidden: boolean;
  /** Insertion order is id order (ids only grow), which is the listing order. */
  users: Map<string, StoredUser>;
  groups: Map<string, StoredGroup>;
  userGroups: Map<string, Set<string>>;
  groupUsers: Map<string, Set<string>>;
  /** Bumped on every change: list caches are keyed by it. */
  version: number;
  listCache: Map<string, { version: number; items: readonly (StoredUser | StoredGroup)[] }>;
}

export interface StoredOrganization {
  id: string;
  displayName: string;
  externalId: string | null;
  createdNs: bigint;
  updatedNs: bigint;
  /** In creation order; the first is the primary directory. Never empty. */
  directories: StoredDirectory[];
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
  readonly ids: IdFactory;
  private readonly rng: Rng;
  /** Called after every change to the stored data (the emulator saves its state on it). */
  onChange: (() => void) | undefined;

  /**
   * `uniqueIds`: ids never repeat across emulator starts (see IdFactory); `uuidSeed` seeds the
   * generated SCIM external ids (dp_id) separately from the ids.
   */
  constructor(
    seed: number,
    private readonly sink: EventSink,
    options: { uniqueIds?: boolean; uuidSeed?: number } = {},
  ) {
    this.ids = new IdFactory(seed, { timeBased: options.uniqueIds === true });
    this.rng = new Rng((options.uuidSeed ?? seed) ^ 0x0d1c7);
  }

  /** Marks the stored data changed (for changes that touch no directory's version). */
  changed(): void {
    this.onChange?.();
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

  /** The organization's primary directory (its first). */
  primary(org: StoredOrganization): StoredDirectory {
    return org.directories[0] as StoredDirectory;
  }

  /** A directory of the organization by id, or its primary when no id is given. */
  directoryOf(org: StoredOrganization, directoryId?: string): StoredDirectory {
    if (directoryId === undefined) return this.primary(org);
    const dir = org.directories.find((d) => d.id === directoryId);
    if (!dir) throw new EmulatorError('not_found', `directory ${directoryId} not found in organization ${org.id}`);
    return dir;
  }

  /** A directory the Directory API shows (set up by the organization's IT admin). */
  directory(organizationId: string, directoryId: string): StoredDirectory {
    const org = this.organization(organizationId);
    const dir = org.directories.find((d) => d.id === directoryId);
    if (!dir || !dir.provisioned) {
      throw new EmulatorError('not_found', `directory ${directoryId} not found in organization ${organizationId}`);
    }
    return dir;
  }

  /** The directory holding a user (directory user ids are unique across directories). */
  private userHome(org: StoredOrganization, userId: string): { dir: StoredDirectory; user: StoredUser } {
    for (const dir of org.directories) {
      const user = dir.users.get(userId);
      if (user) return { dir, user };
    }
    throw new EmulatorError('not_found', `directory user ${userId} not found in ${org.id}`);
  }

  private groupHome(org: StoredOrganization, groupId: string): { dir: StoredDirectory; group: StoredGroup } {
    for (const dir of org.directories) {
      const group = dir.groups.get(groupId);
      if (group) return { dir, group };
    }
    throw new EmulatorError('not_found', `directory group ${groupId} not found in ${org.id}`);
  }

  /** A group of this directory; a group of another directory of the organization is refused by name. */
  private groupIn(dir: StoredDirectory, groupId: string): StoredGroup {
    const group = dir.groups.get(groupId);
    if (group) return group;
    const org = this.organization(dir.organizationId);
    const elsewhere = org.directories.find((d) => d.groups.has(groupId));
    if (elsewhere) {
      throw new EmulatorError(
        'invalid_argument',
        `group ${groupId} belongs to directory ${elsewhere.id}, not ${dir.id}: a directory's users join its own groups`,
      );
    }
    throw new EmulatorError('not_found', `directory group ${groupId} not found in ${org.id}`);
  }

  private userIn(dir: StoredDirectory, userId: string): StoredUser {
    const user = dir.users.get(userId);
    if (user) return user;
    const org = this.organization(dir.organizationId);
    const elsewhere = org.directories.find((d) => d.users.has(userId));
    if (elsewhere) {
      throw new EmulatorError(
        'invalid_argument',
        `user ${userId} belongs to directory ${elsewhere.id}, not ${dir.id}: a directory's groups hold its own users`,
      );
    }
    throw new EmulatorError('not_found', `directory user ${userId} not found in ${org.id}`);
  }

  /** A disabled directory's SCIM endpoint refuses the IdP, so nothing can change in it. */
  private writable(dir: StoredDirectory): StoredDirectory {
    if (!dir.enabled) {
      throw new EmulatorError(
        'failed_precondition',
        `directory ${dir.id} of ${dir.organizationId} is disabled: enable it before changing users or groups`,
      );
    }
    return dir;
  }

  private touch(dir: StoredDirectory): void {
    dir.version++;
    this.changed();
  }

  // -------------------------------------------------------------------------------------------
  // Derived data

  groupIdsOf(dir: StoredDirectory, userId: string): string[] {
    return sortedIds(dir.userGroups.get(userId) ?? []);
  }

  rolesOf(dir: StoredDirectory, userId: string): string[] {
    const groups = dir.userGroups.get(userId);
    if (!groups || dir.roleAssignments.length === 0) return [];
    const roles = new Set<string>();
    for (const a of dir.roleAssignments) if (groups.has(a.groupId)) roles.add(a.roleName);
    return [...roles].sort();
  }

  activeMemberCount(dir: StoredDirectory, groupId: string): number {
    let n = 0;
    for (const id of dir.groupUsers.get(groupId) ?? []) if (dir.users.get(id)?.active) n++;
    return n;
  }

  private payloadSource(dir: StoredDirectory, user: StoredUser): UserPayloadSource {
    return {
      id: user.id,
      organizationId: dir.organizationId,
      active: user.active,
      profile: user.profile,
      groups: this.groupIdsOf(dir, user.id).map((id) => ({ id, name: dir.groups.get(id)?.displayName ?? '' })),
      roles: this.rolesOf(dir, user.id),
    };
  }

  // Scalekit's user events name no directory; its group events do.
  private userEvent(dir: StoredDirectory, user: StoredUser, type: 'created' | 'updated' | 'deleted'): EventDraft {
    const source = this.payloadSource(dir, user);
    return {
      type: `organization.directory.user_${type}`,
      organizationId: dir.organizationId,
      object: 'DirectoryUser',
      data: type === 'deleted' ? deletedUserData(source) : userData(source),
    };
  }

  private groupEvent(dir: StoredDirectory, group: StoredGroup, type: 'created' | 'updated' | 'deleted'): EventDraft {
    return {
      type: `organization.directory.group_${type}`,
      organizationId: dir.organizationId,
      object: 'DirectoryGroup',
      data: groupData({ ...group, organizationId: dir.organizationId, directoryId: dir.id }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Organizations and directories

  private newDirectory(organizationId: string, input: AddDirectoryInput, provisioned: boolean): StoredDirectory {
    const provider = input.provider ?? 'OKTA';
    if (!DIRECTORY_PROVIDERS.includes(provider)) {
      throw new EmulatorError('invalid_argument', `provider must be one of ${DIRECTORY_PROVIDERS.join(', ')}`);
    }
    const now = nowNs();
    return {
      id: this.newId('dir_'),
      organizationId,
      name: input.name ?? `${provider.charAt(0)}${provider.slice(1).toLowerCase().replace('_', ' ')} SCIM`,
      provider,
      enabled: false,
      createdNs: now,
      updatedNs: now,
      roleAssignments: [],
      provisioned,
      detailsHidden: false,
      users: new Map(),
      groups: new Map(),
      userGroups: new Map(),
      groupUsers: new Map(),
      version: 0,
      listCache: new Map(),
    };
  }

  createOrganization(input: CreateOrganizationInput, options?: EmitOptions): OrganizationView {
    if (!input.displayName) throw new EmulatorError('invalid_argument', 'displayName is required');
    if (input.externalId !== undefined) {
      for (const o of this.organizations.values()) {
        if (o.externalId === input.externalId) {
          throw new EmulatorError('conflict', `an organization with external id ${input.externalId} exists`);
        }
      }
    }
    const now = nowNs();
    const id = this.newId('org_');
    const directory = this.newDirectory(
      id,
      { ...(input.provider ? { provider: input.provider } : {}), ...(input.directoryName ? { name: input.directoryName } : {}) },
      input.withoutDirectory !== true,
    );
    const org: StoredOrganization = {
      id,
      displayName: input.displayName,
      externalId: input.externalId ?? null,
      createdNs: now,
      updatedNs: now,
      directories: [directory],
    };
    this.organizations.set(id, org);
    this.changed();
    if (input.directoryEnabled !== false && input.withoutDirectory !== true) this.setDirectoryEnabled(id, true, options);
    return this.organizationView(org);
  }

  /**
   * Adds a directory to the organization (a division, or a new identity provider beside the old
   * one). Enabled by default, which sends `directory_enabled` for it.
   */
  addDirectory(organizationId: string, input: AddDirectoryInput = {}, options?: EmitOptions): DirectoryView {
    const org = this.organization(organizationId);
    const dir = this.newDirectory(org.id, input, true);
    org.directories.push(dir);
    this.changed();
    if (input.enabled !== false) this.setDirectoryEnabled(org.id, true, { ...options, directoryId: dir.id });
    return this.directoryView(dir);
  }

  /**
   * Deletes a directory with its users and groups (the end of an IdP migration). Scalekit's
   * webhooks for this are not documented: none are sent, and the Directory API stops listing it.
   * The organization keeps at least one directory.
   */
  deleteDirectory(organizationId: string, directoryId: string): void {
    const org = this.organization(organizationId);
    const dir = this.directoryOf(org, directoryId);
    if (org.directories.length === 1) {
      throw new EmulatorError('failed_precondition', `directory ${directoryId} is the only one of ${org.id}: disable it instead`);
    }
    org.directories = org.directories.filter((d) => d !== dir);
    this.changed();
  }

  /** GetDirectory answers NotFound for the directory while `hidden`; its listing is unchanged. */
  setDirectoryDetailsHidden(organizationId: string, directoryId: string, hidden: boolean): void {
    this.directoryOf(this.organization(organizationId), directoryId).detailsHidden = hidden;
    this.changed();
  }

  /** Returns false (and sends nothing) when the directory already was in that state. */
  setDirectoryEnabled(organizationId: string, enabled: boolean, options?: DirectoryOptions): boolean {
    const dir = this.directoryOf(this.organization(organizationId), options?.directoryId);
    if (dir.enabled === enabled) return false;
    dir.provisioned = true;
    dir.enabled = enabled;
    dir.updatedNs = nowNs();
    this.touch(dir);
    this.emit(options, {
      type: enabled ? 'organization.directory_enabled' : 'organization.directory_disabled',
      organizationId: dir.organizationId,
      object: 'Directory',
      data: directoryData({ ...dir, organizationId: dir.organizationId }),
    });
    return true;
  }

  /**
   * Replaces a directory's group→role assignments. Whether Scalekit announces the resulting role
   * changes is not documented; with `emitUserUpdates` every user whose roles changed gets a user_updated.
   */
  setRoleAssignments(
    organizationId: string,
    assignments: RoleAssignmentInput[],
    options?: DirectoryOptions & { emitUserUpdates?: boolean },
  ): RoleAssignmentInput[] {
    const dir = this.directoryOf(this.organization(organizationId), options?.directoryId);
    for (const a of assignments) {
      this.groupIn(dir, a.groupId);
      if (!/^[a-zA-Z0-9_]{1,64}$/.test(a.roleName)) {
        throw new EmulatorError('invalid_argument', `role name ${JSON.stringify(a.roleName)} must match ^[a-zA-Z0-9_]{1,64}$`);
      }
    }
    const before = options?.emitUserUpdates ? new Map([...dir.users.keys()].map((id) => [id, this.rolesOf(dir, id).join(',')])) : null;
    dir.roleAssignments = assignments.map((a) => ({ groupId: a.groupId, roleName: a.roleName }));
    dir.updatedNs = nowNs();
    this.touch(dir);
    if (before) {
      for (const user of dir.users.values()) {
        if (!user.active || before.get(user.id) === this.rolesOf(dir, user.id).join(',')) continue;
        user.updatedNs = nowNs();
        this.emit(options, this.userEvent(dir, user, 'updated'));
      }
    }
    return dir.roleAssignments.map((a) => ({ ...a }));
  }

  // -------------------------------------------------------------------------------------------
  // Users

  createUser(organizationId: string, input: CreateUserInput, options?: EmitOptions): UserView {
    const { active = true, groupIds = [], directoryId, ...profile } = input;
    const dir = this.writable(this.directoryOf(this.organization(organizationId), directoryId));
    if (!input.email) throw new EmulatorError('invalid_argument', 'email is required');
    for (const g of groupIds) this.groupIn(dir, g);
    const now = nowNs();
    const user: StoredUser = {
      id: this.newId('diruser_'),
      active,
      profile: { ...profile, email: input.email, dpId: input.dpId ?? this.newUuid() },
      createdNs: now,
      updatedNs: now,
    };
    dir.users.set(user.id, user);
    this.link(dir, user.id, groupIds);
    this.touch(dir);
    if (active) this.emit(options, this.userEvent(dir, user, 'created'));
    return this.userView(dir, user);
  }

  updateUser(organizationId: string, userId: string, patch: UpdateUserInput, options?: EmitOptions): UserView {
    const { dir, user } = this.userHome(this.organization(organizationId), userId);
    this.writable(dir);
    const { active, ...profilePatch } = patch;
    if (profilePatch.email === null) throw new EmulatorError('invalid_argument', 'email cannot be cleared');
    if (profilePatch.dpId === null) throw new EmulatorError('invalid_argument', 'dpId cannot be cleared');
    applyPatch(user.profile as unknown as Record<string, unknown>, profilePatch as Record<string, unknown>);
    const wasActive = user.active;
    if (active !== undefined) user.active = active;
    user.updatedNs = nowNs();
    this.touch(dir);
    // An IdP deactivation reaches consumers as user_deleted; a reactivation as user_created.
    if (wasActive && !user.active) this.emit(options, this.userEvent(dir, user, 'deleted'));
    else if (!wasActive && user.active) this.emit(options, this.userEvent(dir, user, 'created'));
    else if (user.active) this.emit(options, this.userEvent(dir, user, 'updated'));
    return this.userView(dir, user);
  }

  deleteUser(organizationId: string, userId: string, options?: EmitOptions): void {
    const { dir, user } = this.userHome(this.organization(organizationId), userId);
    this.writable(dir);
    const draft = this.userEvent(dir, user, 'deleted');
    this.unlinkUser(dir, userId);
    dir.users.delete(userId);
    this.touch(dir);
    if (user.active) this.emit(options, draft);
  }

  /** Replaces a user's memberships; sends one user_updated with the full groups[] if they changed. */
  setUserGroups(organizationId: string, userId: string, groupIds: string[], options?: EmitOptions): UserView {
    const { dir, user } = this.userHome(this.organization(organizationId), userId);
    this.writable(dir);
    for (const g of groupIds) this.groupIn(dir, g);
    const before = this.groupIdsOf(dir, userId).join(',');
    this.unlinkUser(dir, userId);
    this.link(dir, userId, groupIds);
    if (this.groupIdsOf(dir, userId).join(',') !== before) {
      user.updatedNs = nowNs();
      this.touch(dir);
      if (user.active) this.emit(options, this.userEvent(dir, user, 'updated'));
    }
    return this.userView(dir, user);
  }

  // -------------------------------------------------------------------------------------------
  // Groups

  createGroup(organizationId: string, input: CreateGroupInput, options?: EmitOptions): GroupView {
    const dir = this.writable(this.directoryOf(this.organization(organizationId), input.directoryId));
    if (!input.displayName) throw new EmulatorError('invalid_argument', 'displayName is required');
    const memberIds = input.memberIds ?? [];
    for (const u of memberIds) this.userIn(dir, u);
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
    dir.groups.set(group.id, group);
    dir.groupUsers.set(group.id, new Set());
    this.touch(dir);
    this.emit(options, this.groupEvent(dir, group, 'created'));
    if (memberIds.length > 0) this.setGroupMembers(dir.organizationId, group.id, memberIds, options);
    return this.groupView(dir, group);
  }

  updateGroup(organizationId: string, groupId: string, patch: UpdateGroupInput, options?: EmitOptions): GroupView {
    const { dir, group } = this.groupHome(this.organization(organizationId), groupId);
    this.writable(dir);
    if (patch.displayName !== undefined) {
      if (!patch.displayName) throw new EmulatorError('invalid_argument', 'displayName cannot be empty');
      group.displayName = patch.displayName;
    }
    if (patch.externalId !== undefined) group.externalId = patch.externalId;
    if (patch.rawAttributes !== undefined) group.rawAttributes = patch.rawAttributes;
    group.updatedNs = nowNs();
    this.touch(dir);
    this.emit(options, this.groupEvent(dir, group, 'updated'));
    return this.groupView(dir, group);
  }

  /** Sends group_deleted, then a user_updated per former member (groups[] and roles[] recomputed). */
  deleteGroup(organizationId: string, groupId: string, options?: EmitOptions): void {
    const { dir, group } = this.groupHome(this.organization(organizationId), groupId);
    this.writable(dir);
    const members = sortedIds(dir.groupUsers.get(groupId) ?? []);
    dir.groups.delete(groupId);
    dir.groupUsers.delete(groupId);
    for (const u of members) dir.userGroups.get(u)?.delete(groupId);
    // A role assignment to a group that no longer exists grants nothing; Scalekit drops it too.
    dir.roleAssignments = dir.roleAssignments.filter((a) => a.groupId !== groupId);
    this.touch(dir);
    this.emit(options, this.groupEvent(dir, group, 'deleted'));
    for (const u of members) {
      const user = dir.users.get(u);
      if (!user) continue;
      user.updatedNs = nowNs();
      if (user.active) this.emit(options, this.userEvent(dir, user, 'updated'));
    }
  }

  /** Replaces a group's members (a SCIM group push); each user whose groups changed gets user_updated. */
  setGroupMembers(organizationId: string, groupId: string, userIds: string[], options?: EmitOptions): GroupView {
    const { dir, group } = this.groupHome(this.organization(organizationId), groupId);
    this.writable(dir);
    for (const u of userIds) this.userIn(dir, u);
    const before = dir.groupUsers.get(groupId) ?? new Set<string>();
    const after = new Set(userIds);
    const changed = sortedIds([...before].filter((u) => !after.has(u)).concat([...after].filter((u) => !before.has(u))));
    dir.groupUsers.set(groupId, after);
    for (const u of before) if (!after.has(u)) dir.userGroups.get(u)?.delete(groupId);
    for (const u of after) this.userGroupSet(dir, u).add(groupId);
    this.touch(dir);
    for (const u of changed) {
      const user = this.userIn(dir, u);
      user.updatedNs = nowNs();
      if (user.active) this.emit(options, this.userEvent(dir, user, 'updated'));
    }
    return this.groupView(dir, group);
  }

  private userGroupSet(dir: StoredDirectory, userId: string): Set<string> {
    let set = dir.userGroups.get(userId);
    if (!set) {
      set = new Set();
      dir.userGroups.set(userId, set);
    }
    return set;
  }

  private link(dir: StoredDirectory, userId: string, groupIds: string[]): void {
    const mine = this.userGroupSet(dir, userId);
    for (const g of groupIds) {
      mine.add(g);
      dir.groupUsers.get(g)?.add(userId);
    }
  }

  private unlinkUser(dir: StoredDirectory, userId: string): void {
    for (const g of dir.userGroups.get(userId) ?? []) dir.groupUsers.get(g)?.delete(userId);
    dir.userGroups.delete(userId);
  }

  /** Bulk insert for generators: no events, no per-call validation beyond what they guarantee. */
  bulkInsert(dir: StoredDirectory, users: StoredUser[], groups: StoredGroup[], memberships: [string, string][]): void {
    for (const g of groups) {
      dir.groups.set(g.id, g);
      dir.groupUsers.set(g.id, new Set());
    }
    for (const u of users) dir.users.set(u.id, u);
    for (const [userId, groupId] of memberships) {
      this.userGroupSet(dir, userId).add(groupId);
      dir.groupUsers.get(groupId)?.add(userId);
    }
    this.touch(dir);
  }

  // -------------------------------------------------------------------------------------------
  // Listing (the Directory API's view): cached per filter and version, so paging a 100k-user
  // directory costs one filter pass, not one per page.

  listUsers(dir: StoredDirectory, filter: { groupId?: string; updatedAfterNs?: bigint }): readonly StoredUser[] {
    const key = `u|${filter.groupId ?? ''}|${filter.updatedAfterNs ?? ''}`;
    return this.cached(dir, key, () => {
      const members = filter.groupId !== undefined ? (dir.groupUsers.get(filter.groupId) ?? new Set<string>()) : null;
      const out: StoredUser[] = [];
      for (const user of dir.users.values()) {
        if (!user.active) continue;
        if (members && !members.has(user.id)) continue;
        if (filter.updatedAfterNs !== undefined && user.updatedNs <= filter.updatedAfterNs) continue;
        out.push(user);
      }
      return out;
    }) as readonly StoredUser[];
  }

  listGroups(dir: StoredDirectory, filter: { updatedAfterNs?: bigint }): readonly StoredGroup[] {
    const key = `g|${filter.updatedAfterNs ?? ''}`;
    return this.cached(dir, key, () =>
      [...dir.groups.values()].filter((g) => filter.updatedAfterNs === undefined || g.updatedNs > filter.updatedAfterNs!),
    ) as readonly StoredGroup[];
  }

  private cached(dir: StoredDirectory, key: string, build: () => (StoredUser | StoredGroup)[]): readonly (StoredUser | StoredGroup)[] {
    const hit = dir.listCache.get(key);
    if (hit && hit.version === dir.version) return hit.items;
    const items = build();
    if (dir.listCache.size >= 16) dir.listCache.clear();
    dir.listCache.set(key, { version: dir.version, items });
    return items;
  }

  // -------------------------------------------------------------------------------------------
  // Views

  organizationView(org: StoredOrganization): OrganizationView {
    return {
      id: org.id,
      displayName: org.displayName,
      externalId: org.externalId,
      directoryId: this.primary(org).id,
      directoryIds: org.directories.map((d) => d.id),
    };
  }

  directoryView(dir: StoredDirectory): DirectoryView {
    let users = 0;
    for (const u of dir.users.values()) if (u.active) users++;
    return {
      id: dir.id,
      organizationId: dir.organizationId,
      name: dir.name,
      provider: dir.provider,
      directoryType: 'SCIM',
      enabled: dir.enabled,
      roleAssignments: dir.roleAssignments.map((a) => ({ ...a })),
      totalUsers: users,
      totalGroups: dir.groups.size,
      updatedAt: formatNs(dir.updatedNs),
    };
  }

  userView(dir: StoredDirectory, user: StoredUser): UserView {
    return {
      id: user.id,
      organizationId: dir.organizationId,
      directoryId: dir.id,
      dpId: user.profile.dpId,
      email: user.profile.email,
      active: user.active,
      profile: structuredClone(user.profile),
      groupIds: this.groupIdsOf(dir, user.id),
      roles: this.rolesOf(dir, user.id),
      updatedAt: formatNs(user.updatedNs),
    };
  }

  groupView(dir: StoredDirectory, group: StoredGroup): GroupView {
    const members: string[] = [];
    for (const id of dir.groupUsers.get(group.id) ?? []) if (dir.users.get(id)?.active) members.push(id);
    return {
      id: group.id,
      organizationId: dir.organizationId,
      directoryId: dir.id,
      displayName: group.displayName,
      externalId: group.externalId,
      dpId: group.dpId,
      memberIds: members.sort(compareIds),
      updatedAt: formatNs(group.updatedNs),
    };
  }

  getUser(organizationId: string, userId: string): UserView {
    const { dir, user } = this.userHome(this.organization(organizationId), userId);
    return this.userView(dir, user);
  }

  getGroup(organizationId: string, groupId: string): GroupView {
    const { dir, group } = this.groupHome(this.organization(organizationId), groupId);
    return this.groupView(dir, group);
  }

  snapshot(organizationId: string): DirectorySnapshot {
    const org = this.organization(organizationId);
    const users: UserView[] = [];
    const inactiveUsers: UserView[] = [];
    const groups: GroupView[] = [];
    for (const dir of org.directories) {
      for (const user of dir.users.values()) (user.active ? users : inactiveUsers).push(this.userView(dir, user));
      for (const group of dir.groups.values()) groups.push(this.groupView(dir, group));
    }
    const byId = (a: { id: string }, b: { id: string }) => compareIds(a.id, b.id);
    return {
      organization: this.organizationView(org),
      directory: this.directoryView(this.primary(org)),
      directories: org.directories.map((d) => this.directoryView(d)),
      users: users.sort(byId),
      inactiveUsers: inactiveUsers.sort(byId),
      groups: groups.sort(byId),
    };
  }

  reset(): void {
    this.organizations.clear();
    this.changed();
  }
}
