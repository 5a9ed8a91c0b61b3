import { randomBytes } from 'node:crypto';
import type { GroupView as ScimflowGroup, UserView as ScimflowUser } from '../../db/repositories/directory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startEmulator,
  type DeliveryLogEntry,
  type DirectorySnapshot,
  type EmulatorHandle,
  type FaultOptions,
  type GroupView,
  type OrganizationView,
  type UserProfile,
  type UserView,
  type WebhookPayload,
} from '../../emulator';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * End to end, the way a developer would drive it with curl: a scenario scripted through the
 * emulator's HTTP control API (organization, groups, users and memberships, updates, role
 * assignments, deactivations and deletions, a group deletion, a reactivation, a group rename, the
 * directory switched off and on) is delivered by the emulator as signed webhooks to the real API,
 * applied by the real organization workflow on the real Temporal dev server, and must leave
 * scimflow's Postgres equal to the emulator's directory. A second scenario runs with duplicate
 * deliveries and reordering switched on and must converge to the same equality.
 */

/** The operator API's user and group shapes. */
type ScimUser = ScimflowUser;
type ScimGroup = ScimflowGroup;
interface LedgerEvent {
  id: string;
  type: string | null;
  outcome: string;
  detail: string | null;
  duplicateDeliveries: number;
}
interface SyncStatus {
  queued: number;
  received: number;
  applied: number;
  duplicates: number;
  stale: number;
  quarantined: number;
}

// A fresh seed per run: the emulator derives organization/user/group ids from it, and the Temporal
// server (workflow id scim-org:<orgId>) is shared by every test file of the run.
const seed = randomBytes(4).readUInt32LE() >>> 1;
/** Fault decisions come from their own fixed seed, so the faulty scenario is reproducible. */
const FAULT_SEED = 20_261_123;
const OK = new Set([200, 201, 202]);

let stack: Stack;
let emulator: EmulatorHandle;

beforeAll(async () => {
  stack = await startStack();
  emulator = await startEmulator({
    port: 0,
    seed,
    webhookSecrets: [stack.secret],
    webhookUrl: `${stack.baseUrl}/webhooks/scalekit`,
    // Any failed attempt is retried within milliseconds (and would show in the delivery log).
    timeScale: 0.001,
  });
});

afterAll(async () => {
  await emulator?.close();
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------
// The control API over HTTP, as with curl

async function control<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${emulator.url}/_emulator${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} /_emulator${path} → ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sorted = (xs: readonly string[]) => [...xs].sort(byText);

// ---------------------------------------------------------------------------------------------
// The scenario

const GIVEN = ['Peter', 'Samir', 'Michael', 'Joanna', 'Milton', 'Bill', 'Tom', 'Lawrence', 'Anne', 'Bob'];
const FAMILY = ['Gibbons', 'Nagheenanajar', 'Bolton', 'Smith', 'Waddams', 'Lumbergh', 'Smykowski', 'Porter', 'Kim', 'Slydell'];

interface ScenarioRun {
  org: string;
  /** Users deleted through the control API (gone from the emulator; inactive in scimflow). */
  deletedUserIds: string[];
  deletedGroupIds: string[];
  firstChangeAt: number;
  lastChangeAt: number;
}

/**
 * One scripted directory history. Consecutive changes to the same user are deliberate: with a
 * reorder window they are what produces stale events.
 */
async function runScenario(tag: string): Promise<ScenarioRun> {
  const firstChangeAt = Date.now();
  const org = await control<OrganizationView>('POST', '/organizations', {
    displayName: `Initech ${tag}`,
    externalId: `initech-${tag}-${seed}`,
    provider: 'OKTA',
  });
  const o = `/organizations/${org.id}`;

  const groupIds: string[] = [];
  for (const name of ['Engineering', 'Product', 'Sales', 'Support', 'Finance', 'Administrators']) {
    const g = await control<GroupView>('POST', `${o}/groups`, { displayName: name, externalId: name.toLowerCase() });
    groupIds.push(g.id);
  }
  const group = (i: number): string => groupIds[i] as string;
  const [eng, product, sales, support, finance, admins] = [0, 1, 2, 3, 4, 5].map(group) as [string, string, string, string, string, string];

  const userIds: string[] = [];
  const emails: string[] = [];
  for (let i = 0; i < 30; i++) {
    const given = GIVEN[i % GIVEN.length] as string;
    const family = FAMILY[(i * 3) % FAMILY.length] as string;
    const email = `${given}.${family}.${i}@initech.example`.toLowerCase();
    const memberOf = i % 5 === 0 ? [group(i % 6), group((i + 2) % 6)] : [group(i % 6)];
    const u = await control<UserView>('POST', `${o}/users`, {
      email,
      givenName: given,
      familyName: family,
      title: i % 2 === 0 ? 'Engineer' : 'Analyst',
      department: 'Operations',
      groupIds: memberOf,
    });
    userIds.push(u.id);
    emails.push(email);
  }
  const user = (i: number): string => userIds[i] as string;

  // Roles come from group→role assignments; every user whose roles change gets a user_updated.
  await control('PUT', `${o}/role-assignments`, {
    assignments: [
      { groupId: eng, roleName: 'engineer' },
      { groupId: support, roleName: 'support_agent' },
      { groupId: finance, roleName: 'billing_admin' },
      { groupId: admins, roleName: 'admin' },
    ],
    emitUserUpdates: true,
  });

  // Bursts of changes to one user: names, then email.
  for (let i = 0; i < 8; i++) {
    await control('PATCH', `${o}/users/${user(i)}`, { givenName: `${GIVEN[i % GIVEN.length]}-${tag}` });
    await control('PATCH', `${o}/users/${user(i)}`, { familyName: `Renamed${i}` });
    await control('PATCH', `${o}/users/${user(i)}`, { email: `renamed.${i}.${tag}@initech.example` });
  }
  // Memberships: per user, then per group (a SCIM group push adding and removing people).
  for (let i = 8; i < 12; i++) {
    await control('PUT', `${o}/users/${user(i)}/groups`, { groupIds: [product, finance] });
    await control('PATCH', `${o}/users/${user(i)}`, { title: 'Manager' });
  }
  await control('PUT', `${o}/groups/${sales}/members`, { userIds: [user(2), user(12), user(13), user(14), user(20)] });
  await control('PUT', `${o}/groups/${admins}/members`, { userIds: [user(12), user(13), user(23)] });

  // The directory switched off and on again (changes are refused while it is off).
  await control('PUT', `${o}/directory`, { enabled: false });
  await control('PUT', `${o}/directory`, { enabled: true });

  // Deactivations (user_deleted) and deletions; deleting an already inactive user sends nothing.
  for (const i of [15, 16, 17]) await control('PATCH', `${o}/users/${user(i)}`, { active: false });
  for (const i of [18, 19, 17]) await control('DELETE', `${o}/users/${user(i)}`);

  // Group deletion: group_deleted, then a user_updated per member (its role assignment goes too).
  await control('DELETE', `${o}/groups/${support}`);

  // An inactive user's groups change silently; the reactivation (user_created) carries them.
  await control('PUT', `${o}/users/${user(15)}/groups`, { groupIds: [eng, admins] });
  await control('PATCH', `${o}/users/${user(15)}`, { active: true });

  await control('PATCH', `${o}/groups/${eng}`, { displayName: 'Platform Engineering' });
  await control('PUT', `${o}/role-assignments`, {
    assignments: [
      { groupId: eng, roleName: 'engineer' },
      { groupId: product, roleName: 'product_manager' },
      { groupId: finance, roleName: 'billing_admin' },
      { groupId: admins, roleName: 'admin' },
    ],
    emitUserUpdates: true,
  });
  await control('PATCH', `${o}/users/${user(20)}`, { givenName: 'Dom', familyName: 'Portwood' });
  await control('PUT', `${o}/users/${user(21)}/groups`, { groupIds: [] });
  // Someone rejoins: a new directory user with the email of a deleted one.
  await control('POST', `${o}/users`, { email: emails[18], givenName: 'Rejoined', familyName: 'Person', groupIds: [sales] });
  // And the organization ends with its directory disabled.
  await control('PUT', `${o}/directory`, { enabled: false });
  const lastChangeAt = Date.now();

  return {
    org: org.id,
    deletedUserIds: [user(18), user(19), user(17)],
    deletedGroupIds: [support],
    firstChangeAt,
    lastChangeAt,
  };
}

// ---------------------------------------------------------------------------------------------
// Waiting for convergence

interface Converged {
  events: WebhookPayload[];
  log: DeliveryLogEntry[];
  status: SyncStatus;
  ledger: LedgerEvent[];
  convergedAt: number;
}

async function ledgerOf(org: string): Promise<LedgerEvent[]> {
  const all: LedgerEvent[] = [];
  let after: string | null = null;
  do {
    const page: { events: LedgerEvent[]; nextCursor: string | null } = await stack.api(
      `/api/organizations/${org}/events?limit=500${after ? `&after=${after}` : ''}`,
    );
    all.push(...page.events);
    after = page.nextCursor;
  } while (after);
  return all;
}

async function waitForConvergence(org: string): Promise<Converged> {
  const settle = await fetch(`${emulator.url}/_emulator/deliveries/settle?timeoutMs=60000`, { method: 'POST' });
  expect(settle.status).toBe(200);
  const { events } = await control<{ events: WebhookPayload[] }>('GET', `/events?organizationId=${org}`);
  const log = (await control<{ deliveries: DeliveryLogEntry[] }>('GET', '/deliveries')).deliveries.filter((d) => d.organizationId === org);
  const delivered = log.filter((d) => d.outcome === 'delivered').length;
  // Every delivery scimflow acknowledged reached the workflow (received); every event id was
  // decided exactly once (applied, stale or quarantined); every extra copy counted as a duplicate.
  const status = await eventually(
    async () => {
      const s = await stack.api<SyncStatus>(`/api/organizations/${org}/sync`);
      const decided = s.applied + s.stale + s.quarantined;
      return s.queued === 0 && s.received === delivered && decided === events.length && decided + s.duplicates === s.received
        ? s
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 25 },
  );
  const convergedAt = Date.now();
  const ledger = await ledgerOf(org);
  return { events, log, status, ledger, convergedAt };
}

// ---------------------------------------------------------------------------------------------
// The comparison

function displayName(p: UserProfile): string | null {
  if (p.name !== undefined) return p.name;
  const parts = [p.givenName, p.familyName].filter((x): x is string => !!x);
  return parts.length > 0 ? parts.join(' ') : null;
}

async function expectDatabaseEqualsDirectory(run: ScenarioRun, snap: DirectorySnapshot): Promise<void> {
  const { org } = run;
  const users = (await stack.api<{ users: ScimUser[]; nextCursor: string | null }>(`/api/organizations/${org}/users?limit=5000`)).users;

  // Active users: the same people with the same profile, memberships and roles.
  const expectedActive = snap.users
    .map((u) => ({
      id: u.id,
      email: u.email,
      givenName: u.profile.givenName ?? null,
      familyName: u.profile.familyName ?? null,
      name: displayName(u.profile),
      groups: sorted(u.groupIds),
      roles: sorted(u.roles),
    }))
    .sort((a, b) => byText(a.id, b.id));
  const actualActive = users
    .filter((u) => u.active)
    .map((u) => ({
      id: u.id,
      email: u.email,
      givenName: u.givenName,
      familyName: u.familyName,
      name: u.name,
      groups: sorted(u.groups),
      roles: sorted(u.roles),
    }))
    .sort((a, b) => byText(a.id, b.id));
  expect(actualActive.length).toBeGreaterThan(20);
  expect(actualActive).toEqual(expectedActive);

  // Inactive users: exactly the emulator's deactivated users plus the ones deleted there, with no
  // memberships left.
  const inactive = users.filter((u) => !u.active);
  expect(sorted(inactive.map((u) => u.id))).toEqual(sorted([...snap.inactiveUsers.map((u) => u.id), ...run.deletedUserIds]));
  expect(inactive.filter((u) => u.groups.length > 0)).toEqual([]);
  expect(users).toHaveLength(snap.users.length + snap.inactiveUsers.length + run.deletedUserIds.length);

  // Groups: live ones with the same names and member counts; deleted ones soft-deleted and empty.
  const groups = (await stack.api<{ groups: ScimGroup[] }>(`/api/organizations/${org}/groups`)).groups;
  expect(
    groups
      .filter((g) => !g.deleted)
      .map((g) => ({ id: g.id, displayName: g.displayName, memberCount: g.memberCount }))
      .sort((a, b) => byText(a.id, b.id)),
  ).toEqual(
    snap.groups.map((g) => ({ id: g.id, displayName: g.displayName, memberCount: g.memberIds.length })).sort((a, b) => byText(a.id, b.id)),
  );
  const deleted = groups.filter((g) => g.deleted);
  expect(sorted(deleted.map((g) => g.id))).toEqual(sorted(run.deletedGroupIds));
  for (const g of deleted) expect(g).toMatchObject({ memberCount: 0 });

  // Membership sets, straight from the table (inactive users' rows included).
  const rows = (await stack.database.db('group_memberships').where('organization_id', org).select('group_id', 'user_id')) as {
    group_id: string;
    user_id: string;
  }[];
  expect(rows.length).toBeGreaterThan(20);
  expect(sorted(rows.map((r) => `${r.group_id} ${r.user_id}`))).toEqual(
    sorted(snap.groups.flatMap((g) => g.memberIds.map((u) => `${g.id} ${u}`))),
  );

  // The organization's directory state.
  const directoryRows = await stack.database
    .db('organization_directories')
    .where('organization_id', org)
    .select('id', 'directory_type', 'provider', 'enabled');
  expect(directoryRows).toEqual([
    {
      id: snap.directory.id,
      directory_type: snap.directory.directoryType,
      provider: snap.directory.provider,
      enabled: snap.directory.enabled,
    },
  ]);
}

/** Every attempt got a 2xx; nothing was rejected (signature) or failed. */
async function expectEveryDeliveryAccepted(c: Converged): Promise<void> {
  expect(c.log.filter((d) => d.outcome !== 'delivered' || !OK.has(d.status ?? 0))).toEqual([]);
  expect(new Set(c.log.map((d) => d.eventId))).toEqual(new Set(c.events.map((e) => e.id)));
  expect(await stack.metrics.render()).not.toMatch(/scimflow_webhook_deliveries_total\{[^}]*result="(rejected|unavailable)"/);
  expect(stack.logs.filter((l) => l.includes('webhook rejected'))).toEqual([]);
}

/** One ledger row per emitted event, each decided. */
function expectLedgerMatchesEvents(c: Converged, outcomes: readonly string[]): void {
  expect(sorted(c.ledger.map((e) => e.id))).toEqual(sorted(c.events.map((e) => e.id)));
  expect(c.ledger.filter((e) => !outcomes.includes(e.outcome))).toEqual([]);
}

function figures(label: string, run: ScenarioRun, c: Converged, duplicates: number, stale: number): void {
  console.log(
    `[emulator-scenario] ${label}: ${c.events.length} events emitted, ${c.log.length} deliveries attempted, ` +
      `${duplicates} duplicate deliveries, ${stale} stale, converged ${c.convergedAt - run.firstChangeAt} ms after the first change ` +
      `(${c.convergedAt - run.lastChangeAt} ms after the last); emulator seed ${seed}`,
  );
}

const entityOf = (e: WebhookPayload) => `${e.object}:${String(e.data.id)}`;

// ---------------------------------------------------------------------------------------------

describe('a scenario scripted through the emulator control API', () => {
  it('ends with scimflow’s database equal to the emulator’s directory', async () => {
    const run = await runScenario('clean');
    const c = await waitForConvergence(run.org);
    const snap = await control<DirectorySnapshot>('GET', `/organizations/${run.org}`);

    // Every event type the scenario involves was emitted.
    expect(new Set(c.events.map((e) => e.type))).toEqual(
      new Set([
        'organization.directory_enabled',
        'organization.directory_disabled',
        'organization.directory.user_created',
        'organization.directory.user_updated',
        'organization.directory.user_deleted',
        'organization.directory.group_created',
        'organization.directory.group_updated',
        'organization.directory.group_deleted',
      ]),
    );
    await expectEveryDeliveryAccepted(c);
    // No faults: one attempt per event, in emission order.
    expect(c.log.map((d) => [d.eventId, d.attempt, d.copy])).toEqual(c.events.map((e) => [e.id, 1, 0]));
    expectLedgerMatchesEvents(c, ['applied']);
    expect(c.status).toMatchObject({ applied: c.events.length, stale: 0, duplicates: 0, quarantined: 0 });

    await expectDatabaseEqualsDirectory(run, snap);
    figures('in order, no faults', run, c, 0, 0);
  }, 180_000);

  it('converges to the same equality with duplicate deliveries and reordering', async () => {
    const faults: FaultOptions = { seed: FAULT_SEED, duplicateRate: 0.2, reorderWindow: 5 };
    expect(await control('PUT', '/faults', faults)).toEqual(faults);
    let run: ScenarioRun;
    let c: Converged;
    try {
      run = await runScenario('faulty');
      c = await waitForConvergence(run.org);
    } finally {
      await control('PUT', '/faults', {});
    }
    const snap = await control<DirectorySnapshot>('GET', `/organizations/${run.org}`);

    await expectEveryDeliveryAccepted(c);
    expectLedgerMatchesEvents(c, ['applied', 'stale']);

    // The duplicates happened: event ids delivered twice (same webhook id), each applied once.
    const copies = c.log.filter((d) => d.copy === 1);
    expect(copies.length).toBeGreaterThan(0);
    const perEvent = new Map<string, number>();
    for (const d of c.log) perEvent.set(d.eventId, (perEvent.get(d.eventId) ?? 0) + 1);
    expect([...perEvent.values()].filter((n) => n > 1)).toHaveLength(copies.length);
    expect(c.status.duplicates).toBe(copies.length);

    // The reordering happened: first deliveries do not follow emission order.
    const emitted = new Map(c.events.map((e, i) => [e.id, i]));
    const firstDelivery = new Map<string, number>();
    for (const d of c.log) if (!firstDelivery.has(d.eventId)) firstDelivery.set(d.eventId, d.seq);
    const arrival = [...firstDelivery.keys()].map((id) => emitted.get(id) ?? -1);
    const inversions = arrival.filter((x, i) => i > 0 && x < (arrival[i - 1] ?? -1)).length;
    expect(inversions).toBeGreaterThan(0);

    // And it made some events stale: each one really arrived after a newer change to its entity.
    const stale = c.ledger.filter((e) => e.outcome === 'stale');
    expect(stale.length).toBeGreaterThan(0);
    expect(c.status.stale).toBe(stale.length);
    expect(c.status.applied).toBe(c.events.length - stale.length);
    const byId = new Map(c.events.map((e) => [e.id, e]));
    for (const s of stale) {
      const event = byId.get(s.id);
      if (!event) throw new Error(`stale ledger entry ${s.id} is not an emitted event`);
      const overtakenBy = c.events.filter(
        (e) =>
          entityOf(e) === entityOf(event) &&
          (emitted.get(e.id) ?? -1) > (emitted.get(event.id) ?? -1) &&
          (firstDelivery.get(e.id) ?? Infinity) < (firstDelivery.get(event.id) ?? -Infinity),
      );
      expect(overtakenBy.length, `${s.id} (${event.type} ${entityOf(event)}) was recorded stale`).toBeGreaterThan(0);
    }

    await expectDatabaseEqualsDirectory(run, snap);
    figures('duplicates 0.2 + reorder window 5', run, c, copies.length, stale.length);
  }, 180_000);
});
