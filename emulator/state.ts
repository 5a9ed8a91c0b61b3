import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PendingDelivery } from './delivery';
import type { DirectoryStore, StoredDirectory, StoredGroup, StoredOrganization, StoredUser } from './directory-store';
import type { RoleAssignmentInput } from './types';

/**
 * The emulator's state on disk, so a local Scalekit remembers its organizations across restarts
 * (as the real one does): organizations, directories, users, groups, memberships and role
 * assignments, the id sequences, the webhook URL and the deliveries still to be made. One JSON
 * file, written whole to a temporary file and renamed over the old one, so a crash leaves either
 * the old state or the new one. The event history and the delivery log are not kept.
 */

export const STATE_VERSION = 1;

type Ns = string;

interface SavedUser extends Omit<StoredUser, 'createdNs' | 'updatedNs'> {
  createdNs: Ns;
  updatedNs: Ns;
}

interface SavedGroup extends Omit<StoredGroup, 'createdNs' | 'updatedNs'> {
  createdNs: Ns;
  updatedNs: Ns;
}

interface SavedDirectory {
  id: string;
  organizationId: string;
  name: string;
  provider: StoredDirectory['provider'];
  enabled: boolean;
  createdNs: Ns;
  updatedNs: Ns;
  roleAssignments: RoleAssignmentInput[];
  provisioned: boolean;
  detailsHidden: boolean;
  users: SavedUser[];
  groups: SavedGroup[];
  /** [userId, groupId] */
  memberships: [string, string][];
}

interface SavedOrganization {
  id: string;
  displayName: string;
  externalId: string | null;
  createdNs: Ns;
  updatedNs: Ns;
  directories: SavedDirectory[];
}

export interface SavedState {
  version: typeof STATE_VERSION;
  savedAt: string;
  /** Last positions of the id sequences. */
  ids: { directory: string; events: string };
  webhookUrl: string | null;
  organizations: SavedOrganization[];
  pendingDeliveries: PendingDelivery[];
}

export function saveOrganizations(store: DirectoryStore): SavedOrganization[] {
  return [...store.organizations.values()].map((org) => ({
    id: org.id,
    displayName: org.displayName,
    externalId: org.externalId,
    createdNs: org.createdNs.toString(),
    updatedNs: org.updatedNs.toString(),
    directories: org.directories.map((dir) => {
      const memberships: [string, string][] = [];
      for (const [userId, groups] of dir.userGroups) for (const groupId of groups) memberships.push([userId, groupId]);
      return {
        id: dir.id,
        organizationId: dir.organizationId,
        name: dir.name,
        provider: dir.provider,
        enabled: dir.enabled,
        createdNs: dir.createdNs.toString(),
        updatedNs: dir.updatedNs.toString(),
        roleAssignments: dir.roleAssignments,
        provisioned: dir.provisioned,
        detailsHidden: dir.detailsHidden,
        users: [...dir.users.values()].map((u) => ({ ...u, createdNs: u.createdNs.toString(), updatedNs: u.updatedNs.toString() })),
        groups: [...dir.groups.values()].map((g) => ({ ...g, createdNs: g.createdNs.toString(), updatedNs: g.updatedNs.toString() })),
        memberships,
      };
    }),
  }));
}

export function restoreOrganizations(store: DirectoryStore, saved: readonly SavedOrganization[]): void {
  store.organizations.clear();
  for (const o of saved) {
    const org: StoredOrganization = {
      id: o.id,
      displayName: o.displayName,
      externalId: o.externalId,
      createdNs: BigInt(o.createdNs),
      updatedNs: BigInt(o.updatedNs),
      directories: [],
    };
    for (const d of o.directories) {
      const dir: StoredDirectory = {
        id: d.id,
        organizationId: d.organizationId,
        name: d.name,
        provider: d.provider,
        enabled: d.enabled,
        createdNs: BigInt(d.createdNs),
        updatedNs: BigInt(d.updatedNs),
        roleAssignments: d.roleAssignments,
        provisioned: d.provisioned,
        detailsHidden: d.detailsHidden,
        users: new Map(),
        groups: new Map(),
        userGroups: new Map(),
        groupUsers: new Map(),
        version: 0,
        listCache: new Map(),
      };
      store.bulkInsert(
        dir,
        d.users.map((u) => ({ ...u, createdNs: BigInt(u.createdNs), updatedNs: BigInt(u.updatedNs) })),
        d.groups.map((g) => ({ ...g, createdNs: BigInt(g.createdNs), updatedNs: BigInt(g.updatedNs) })),
        d.memberships,
      );
      org.directories.push(dir);
    }
    if (org.directories.length === 0) throw new Error(`organization ${o.id} has no directory`);
    store.organizations.set(org.id, org);
  }
}

/** The saved state, or undefined when there is none; a file that is not one is an error saying so. */
export function readState(file: string): SavedState | undefined {
  if (!existsSync(file)) return undefined;
  let state: SavedState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as SavedState;
  } catch (err) {
    throw new Error(`the emulator's state in ${file} cannot be read (${(err as Error).message})`, { cause: err });
  }
  if (state?.version !== STATE_VERSION || !Array.isArray(state.organizations)) {
    throw new Error(`${file} is not an emulator state of version ${STATE_VERSION}`);
  }
  return state;
}

/** Writes the state atomically and durably: a temporary file next to it, flushed to disk, renamed over it. */
export function writeState(file: string, state: SavedState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
