import { nowNs } from './clock';
import type { DirectoryStore, StoredDirectory, StoredGroup, StoredUser } from './directory-store';
import { Rng } from './random';
import type { DirectoryProviderName, OrganizationView } from './types';

/**
 * Deterministic directories: the same seed gives the same people, groups, memberships and role
 * assignments (and, on a fresh emulator with the same seed, the same ids). Generators send no
 * webhooks unless asked: they stand for a directory that existed before scimflow was connected.
 */

const FIRST_NAMES = [
  'Ada',
  'Grace',
  'Alan',
  'Katherine',
  'Linus',
  'Margaret',
  'Dennis',
  'Barbara',
  'Ken',
  'Frances',
  'Edsger',
  'Radia',
  'Donald',
  'Shafi',
  'Tim',
  'Hedy',
  'John',
  'Sophie',
  'Niklaus',
  'Joan',
  'Guido',
  'Lynn',
  'Bjarne',
  'Mary',
  'James',
  'Annie',
  'Leslie',
  'Carol',
  'Brian',
  'Evelyn',
  'Ivan',
  'Jean',
  'Robin',
  'Susan',
  'Whitfield',
  'Adele',
  'Vint',
  'Elizabeth',
  'Yukihiro',
  'Anita',
];
const LAST_NAMES = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Johnson',
  'Torvalds',
  'Hamilton',
  'Ritchie',
  'Liskov',
  'Thompson',
  'Allen',
  'Dijkstra',
  'Perlman',
  'Knuth',
  'Goldwasser',
  'Berners-Lee',
  'Lamarr',
  'McCarthy',
  'Wilson',
  'Wirth',
  'Clarke',
  'van Rossum',
  'Conway',
  'Stroustrup',
  'Keller',
  'Gosling',
  'Easley',
  'Lamport',
  'Shaw',
  'Kernighan',
  'Boyd',
  'Sutherland',
  'Sammet',
  'Milner',
  'Kare',
  'Diffie',
  'Goldberg',
  'Cerf',
  'Feinler',
  'Matsumoto',
  'Borg',
];
const TITLES = ['Engineer', 'Senior Engineer', 'Manager', 'Analyst', 'Designer', 'Specialist', 'Director', 'Associate'];
const LOCATIONS = ['Berlin', 'London', 'New York', 'San Francisco', 'Bengaluru', 'Singapore', 'Toronto', 'Sydney'];

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '');
}

export interface SeedDemoOptions {
  seed?: number;
  displayName?: string;
  externalId?: string;
  provider?: DirectoryProviderName;
  /** Send the webhooks the demo's creation would cause (default false). */
  emitWebhooks?: boolean;
}

const DEMO_GROUPS: { name: string; role?: string; share: number }[] = [
  { name: 'Engineering', role: 'engineer', share: 0.36 },
  { name: 'Product', share: 0.12 },
  { name: 'Sales', share: 0.2 },
  { name: 'Support', role: 'support_agent', share: 0.16 },
  { name: 'Finance', role: 'billing_admin', share: 0.16 },
  { name: 'Administrators', role: 'admin', share: 0 },
];

/** About 50 people in 6 groups with 4 group→role assignments, for `npm run dev` and demos. */
export function seedDemo(store: DirectoryStore, options: SeedDemoOptions = {}): OrganizationView {
  const rng = new Rng(options.seed ?? 42);
  const emit = { emit: options.emitWebhooks === true };
  const displayName = options.displayName ?? 'Acme Corporation';
  const domain = `${slug(displayName.split(' ')[0] ?? 'acme')}.example`;
  const org = store.createOrganization(
    {
      displayName,
      // A second demo organization in one emulator gets its own external id.
      externalId:
        options.externalId ??
        ([...store.organizations.values()].some((o) => o.externalId === 'acme') ? `acme-${store.organizations.size}` : 'acme'),
      provider: options.provider ?? 'OKTA',
    },
    emit,
  );
  const groups = DEMO_GROUPS.map((g) => ({
    ...g,
    id: store.createGroup(org.id, { displayName: g.name, externalId: `grp-${slug(g.name)}` }, emit).id,
  }));
  // Role assignments first, so every user_created already carries its roles[].
  store.setRoleAssignments(
    org.id,
    groups.filter((g) => g.role !== undefined).map((g) => ({ groupId: g.id, roleName: g.role! })),
    emit,
  );
  const used = new Set<string>();
  const total = 50;
  for (let i = 0; i < total; i++) {
    const givenName = rng.pick(FIRST_NAMES);
    const familyName = rng.pick(LAST_NAMES);
    let local = `${slug(givenName)}.${slug(familyName)}`;
    for (let n = 2; used.has(local); n++) local = `${slug(givenName)}.${slug(familyName)}${n}`;
    used.add(local);
    // Departments by share; the first three people are also administrators.
    let r = rng.float();
    let department = groups[0]!;
    for (const g of groups) {
      if (r < g.share) {
        department = g;
        break;
      }
      r -= g.share;
    }
    const groupIds = [department.id];
    if (i < 3) groupIds.push(groups[5]!.id);
    if (rng.chance(0.15)) {
      const extra = rng.pick(groups.slice(0, 5));
      if (!groupIds.includes(extra.id)) groupIds.push(extra.id);
    }
    store.createUser(
      org.id,
      {
        email: `${local}@${domain}`,
        preferredUsername: local,
        givenName,
        familyName,
        title: `${department.name === 'Administrators' ? 'IT' : department.name} ${rng.pick(TITLES)}`,
        department: department.name,
        employeeId: `E${String(1001 + i)}`,
        locale: 'en-US',
        customAttributes: { location: rng.pick(LOCATIONS) },
        groupIds,
      },
      emit,
    );
  }
  return org;
}

export interface GenerateLargeOptions {
  users?: number;
  groups?: number;
  seed?: number;
  /** Fill this existing organization instead of creating one. */
  organizationId?: string;
  /** With organizationId: fill this directory of it (default its primary directory). */
  directoryId?: string;
  /**
   * A new organization gets this many directories (default 1); users and groups are spread over
   * them in turn, each directory's users in its own groups.
   */
  directories?: number;
  displayName?: string;
  externalId?: string;
  provider?: DirectoryProviderName;
  /** Each user joins between min and max groups (default 1..3). */
  minGroupsPerUser?: number;
  maxGroupsPerUser?: number;
  /** Groups that get a role assignment (the first N groups; default min(groups, 10)). */
  roleAssignedGroups?: number;
  /** Send a webhook per user and group (slow for big directories); default false. */
  emitWebhooks?: boolean;
}

export interface GenerateLargeResult {
  organization: OrganizationView;
  users: number;
  groups: number;
  memberships: number;
}

/** A big directory (e.g. 100,000 users in 1,000 groups) built in one pass, for benchmarks. */
export function generateLarge(store: DirectoryStore, options: GenerateLargeOptions = {}): GenerateLargeResult {
  const userCount = options.users ?? 100_000;
  const groupCount = options.groups ?? 1_000;
  const minPer = Math.min(options.minGroupsPerUser ?? 1, groupCount);
  const maxPer = Math.min(Math.max(options.maxGroupsPerUser ?? 3, minPer), groupCount);
  const rng = new Rng(options.seed ?? 7);
  const seedLabel = String(options.seed ?? 7);
  const orgView =
    options.organizationId !== undefined
      ? store.organizationView(store.organization(options.organizationId))
      : store.createOrganization(
          {
            displayName: options.displayName ?? `Large Directory ${seedLabel}`,
            externalId: options.externalId ?? `large-${seedLabel}-${store.organizations.size}`,
            provider: options.provider ?? 'MICROSOFT_AD',
          },
          { emit: options.emitWebhooks === true },
        );
  const org = store.organization(orgView.id);
  const domain = `${slug(org.displayName).slice(0, 20) || 'large'}.example`;
  const extra = options.organizationId === undefined ? Math.max(1, options.directories ?? 1) - 1 : 0;
  for (let i = 0; i < extra; i++) {
    store.addDirectory(
      org.id,
      { provider: options.provider ?? 'MICROSOFT_AD', name: `Division ${i + 2}` },
      { emit: options.emitWebhooks === true },
    );
  }
  const targets: StoredDirectory[] =
    options.directoryId !== undefined
      ? [store.directoryOf(org, options.directoryId)]
      : extra > 0
        ? [...org.directories]
        : [store.primary(org)];
  /** Directory of the i-th user or group: in turn. */
  const at = (i: number) => targets[i % targets.length] as StoredDirectory;
  const result = (memberships: number): GenerateLargeResult => ({
    organization: store.organizationView(org),
    users: userCount,
    groups: groupCount,
    memberships,
  });

  if (options.emitWebhooks === true) {
    // The slow, faithful path: every entity through the store, every webhook sent.
    const groupIds = targets.map((): string[] => []);
    for (let i = 0; i < groupCount; i++) {
      groupIds[i % targets.length]!.push(
        store.createGroup(org.id, { displayName: `Group ${String(i + 1).padStart(4, '0')}`, directoryId: at(i).id }).id,
      );
    }
    let memberships = 0;
    for (let i = 0; i < userCount; i++) {
      const given = rng.pick(FIRST_NAMES);
      const family = rng.pick(LAST_NAMES);
      const mine = pickGroups(rng, groupIds[i % targets.length]!, minPer, maxPer);
      memberships += mine.length;
      store.createUser(org.id, {
        email: `${slug(given)}.${slug(family)}.${i + 1}@${domain}`,
        givenName: given,
        familyName: family,
        groupIds: mine,
        directoryId: at(i).id,
      });
    }
    targets.forEach((d, k) => assignRoles(store, org.id, d.id, groupIds[k]!, options.roleAssignedGroups));
    return result(memberships);
  }

  const now = nowNs();
  const groups: StoredGroup[][] = targets.map(() => []);
  for (let i = 0; i < groupCount; i++) {
    groups[i % targets.length]!.push({
      id: store.newId('dirgroup_'),
      displayName: `Group ${String(i + 1).padStart(4, '0')}`,
      externalId: null,
      dpId: store.newUuid(),
      rawAttributes: {},
      createdNs: now,
      updatedNs: now,
    });
  }
  const groupIds = groups.map((list) => list.map((g) => g.id));
  const users: StoredUser[][] = targets.map(() => []);
  const memberships: [string, string][][] = targets.map(() => []);
  let membershipCount = 0;
  for (let i = 0; i < userCount; i++) {
    const givenName = rng.pick(FIRST_NAMES);
    const familyName = rng.pick(LAST_NAMES);
    const local = `${slug(givenName)}.${slug(familyName)}.${i + 1}`;
    const user: StoredUser = {
      id: store.newId('diruser_'),
      active: true,
      profile: {
        email: `${local}@${domain}`,
        preferredUsername: local,
        givenName,
        familyName,
        employeeId: `L${i + 1}`,
        dpId: store.newUuid(),
      },
      createdNs: now,
      updatedNs: now,
    };
    const k = i % targets.length;
    users[k]!.push(user);
    for (const g of pickGroups(rng, groupIds[k]!, minPer, maxPer)) {
      memberships[k]!.push([user.id, g]);
      membershipCount += 1;
    }
  }
  targets.forEach((d, k) => {
    store.bulkInsert(d, users[k]!, groups[k]!, memberships[k]!);
    assignRoles(store, org.id, d.id, groupIds[k]!, options.roleAssignedGroups);
  });
  return result(membershipCount);
}

function pickGroups(rng: Rng, groupIds: string[], min: number, max: number): string[] {
  if (groupIds.length === 0) return [];
  const n = rng.int(min, max);
  const out = new Set<string>();
  while (out.size < n) out.add(groupIds[rng.int(0, groupIds.length - 1)]!);
  return [...out];
}

function assignRoles(store: DirectoryStore, organizationId: string, directoryId: string, groupIds: string[], count?: number): void {
  const n = Math.min(count ?? 10, groupIds.length);
  const roles = ['admin', 'member', 'viewer', 'billing_admin', 'support_agent'];
  store.setRoleAssignments(
    organizationId,
    groupIds.slice(0, n).map((groupId, i) => ({ groupId, roleName: roles[i % roles.length]! })),
    { emit: false, directoryId },
  );
}
