import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lockOrganization } from '../../db/mirror/lock';
import { ensureOrganization } from '../../db/repositories/directory';
import { listedDirectoryStates, writeDirectoryStates } from '../../db/repositories/directories';
import { DETAILS_NOT_FOUND } from '../../scalekit/directory';
import { databaseView, directoryView, pastLastSnapshot, reconcileAndWait, waitForRun } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually } from '../support/stack';

/**
 * Organizations with several directories in Scalekit (divisions, or the old and the new identity
 * provider side by side): imports and reconciles read every directory, and absence deactivates a
 * user only through the directory that provisioned it. Real Temporal, Postgres, and the emulator
 * through the real SDK, delivering its signed webhooks to the API.
 */

const env = useEmulatorStack({ webhooks: true, stack: { reconcile: { deltaSkewMs: 0 } } });
const quiet = { emit: false } as const;
const db = () => env.stack.database.db;

/** Waits until every event the emulator sent about the organization has its ledger outcome. */
async function applied(org: string): Promise<void> {
  await env.emulator.settled(60_000);
  const ids = env.emulator
    .events()
    .filter((e) => e.organizationId === org)
    .map((e) => e.id);
  await eventually(
    async () => {
      const row = (await db()('directory_events').whereIn('id', ids).whereNot('outcome', 'pending').count('* as n').first()) as {
        n: string;
      };
      return Number(row.n) === ids.length;
    },
    { timeoutMs: 60_000 },
  );
}

async function storedDirectories(org: string): Promise<Record<string, string | null>> {
  const rows = (await db()('directory_users').where('organization_id', org).select('id', 'directory_id')) as {
    id: string;
    directory_id: string | null;
  }[];
  return Object.fromEntries(rows.map((r) => [r.id, r.directory_id]));
}

async function activeIds(org: string): Promise<string[]> {
  return ((await db()('directory_users').where({ organization_id: org, active: true }).select('id')) as { id: string }[])
    .map((r) => r.id)
    .sort();
}

/** An organization with two directories (A: `size` users, B: `size` users), each user in a group of its own directory. */
function twoDirectories(size: number, emit: { emit: boolean } = quiet) {
  const org = env.emulator.createOrganization({ displayName: `Two directories ${randomInt(1, 1e9)}`, provider: 'OKTA' }, emit);
  const a = org.directoryId;
  const b = env.emulator.addDirectory(org.id, { provider: 'MICROSOFT_AD' }, emit).id;
  const users: Record<string, string[]> = { [a]: [], [b]: [] };
  for (const dir of [a, b]) {
    const group = env.emulator.createGroup(org.id, { displayName: `Team of ${dir}`, directoryId: dir }, emit);
    for (let i = 0; i < size; i++) {
      const user = env.emulator.createUser(
        org.id,
        { email: `p${i}.${dir}@example.com`, givenName: 'P', familyName: `${i}`, directoryId: dir, groupIds: [group.id] },
        emit,
      );
      users[dir]!.push(user.id);
    }
  }
  return { org: org.id, a, b, users };
}

describe('reconciling an organization with two directories', () => {
  it('an import after the webhooks deactivates nobody; a user removed in B is deactivated by the next full run, A untouched', async () => {
    // Both directories' people arrive by webhook first (as when scimflow runs before its import).
    const { org, a, b, users } = twoDirectories(12, { emit: true });
    await applied(org);
    expect(await activeIds(org)).toEqual([...users[a]!, ...users[b]!].sort());

    const imported = await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' });
    expect(imported.status).toBe('completed');
    expect(imported.result?.users).toMatchObject({ created: 0, deactivated: 0, failed: 0, unchanged: 24 });
    expect(imported.plan?.directories?.map((d) => [d.id, d.read, d.usersFetched, d.deactivate])).toEqual([
      [a, true, 12, 0],
      [b, true, 12, 0],
    ]);
    expect(await databaseView(db(), org)).toEqual(directoryView(env.emulator, org));
    const homes = await storedDirectories(org);
    for (const dir of [a, b]) for (const id of users[dir]!) expect(homes[id]).toBe(dir);
    // The run walked both directories and recorded each one's part.
    const parts = await db()('sync_run_directories')
      .where('run_id', imported.runId)
      .orderBy('position')
      .select('directory_id', 'read', 'users_fetched');
    expect(parts).toEqual([
      { directory_id: a, read: true, users_fetched: 12 },
      { directory_id: b, read: true, users_fetched: 12 },
    ]);

    const gone = users[b]![3]!;
    env.emulator.deleteUser(org, gone, quiet);
    const full = await reconcileAndWait(env.stack.workflows, org);
    expect(full.result?.users).toMatchObject({ created: 0, deactivated: 1, failed: 0 });
    expect(await activeIds(org)).toEqual([...users[a]!, ...users[b]!.filter((id) => id !== gone)].sort());
    const change = await db()('sync_plan_changes')
      .where({ run_id: full.runId, entity: 'user', entity_id: gone })
      .first('action', 'outcome', 'detail');
    expect(change).toEqual({ action: 'deactivate', outcome: 'applied', detail: `no longer listed by its directory ${b}` });
    expect(await databaseView(db(), org)).toEqual(directoryView(env.emulator, org));
  });

  it('a user moving from A to B (same e-mail, a new id) is deactivated by A and created by B in one run', async () => {
    const { org, a, b, users } = twoDirectories(3);
    expect((await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' })).status).toBe('completed');
    const leaving = users[a]![0]!;
    const email = env.emulator.getUser(org, leaving).email;
    const arriving = env.emulator.createUser(org, { email, givenName: 'Moved', familyName: 'Over', directoryId: b }, quiet).id;
    env.emulator.deleteUser(org, leaving, quiet);

    const run = await reconcileAndWait(env.stack.workflows, org);
    expect(run.result?.users).toMatchObject({ created: 1, deactivated: 1, failed: 0 });
    expect(await db()('directory_users').where({ organization_id: org, id: leaving }).first('active', 'directory_id')).toEqual({
      active: false,
      directory_id: a,
    });
    expect(await db()('directory_users').where({ organization_id: org, id: arriving }).first('active', 'directory_id', 'email')).toEqual({
      active: true,
      directory_id: b,
      email,
    });
  });

  it('a directory gone from Scalekit deactivates its users once two full runs in a row do not list it; a disabled one is left as it is', async () => {
    const { org, a, b, users } = twoDirectories(4);
    const c = env.emulator.addDirectory(org, { provider: 'GOOGLE' }, quiet).id;
    const inC = [0, 1, 2].map((i) => env.emulator.createUser(org, { email: `c${i}.${org}@example.com`, directoryId: c }, quiet).id);
    expect((await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' })).result?.users.created).toBe(11);

    // C: a person leaves, then its IT admin disables the directory. B: deleted in Scalekit.
    env.emulator.deleteUser(org, inC[0]!, quiet);
    env.emulator.setDirectoryEnabled(org, false, { ...quiet, directoryId: c });
    env.emulator.deleteDirectory(org, b);

    // The first full run that does not find B keeps its people: one listing is not proof enough.
    const dry = await reconcileAndWait(env.stack.workflows, org, { dryRun: true });
    expect(dry.plan?.directories).toEqual([
      { id: a, provider: 'OKTA', enabled: true, read: true, removed: false, usersFetched: 4, activeUsers: 4, deactivate: 0 },
      { id: c, provider: 'GOOGLE', enabled: false, read: false, removed: false, usersFetched: 0, activeUsers: 3, deactivate: 0 },
      {
        id: b,
        provider: null,
        enabled: null,
        read: false,
        removed: true,
        missingOnce: true,
        usersFetched: 0,
        activeUsers: 4,
        deactivate: 0,
      },
    ]);
    await env.stack.workflows.approveRun(org, dry.runId);
    // Ended as the workflow sees it (the row says completed a moment before the workflow knows).
    expect((await waitForRun(env.stack.workflows, org, dry.runId)).status).toBe('completed');
    expect(await activeIds(org)).toEqual([...users[a]!, ...users[b]!, ...inC].sort());

    // The next full run does not find it either: B's people are deactivated.
    const second = await reconcileAndWait(env.stack.workflows, org);
    expect(second.result?.users).toMatchObject({ deactivated: 4, failed: 0 });
    expect(second.plan?.directories?.find((d) => d.id === b)).toEqual({
      id: b,
      provider: null,
      enabled: null,
      read: false,
      removed: true,
      usersFetched: 0,
      activeUsers: 4,
      deactivate: 4,
    });
    expect(await activeIds(org)).toEqual([...users[a]!, ...inC].sort());
    const reasons = (await db()('sync_plan_changes').where({ run_id: second.runId, action: 'deactivate' }).select('detail')) as {
      detail: string;
    }[];
    expect(new Set(reasons.map((r) => r.detail))).toEqual(
      new Set([`its directory ${b} is no longer in Scalekit (two full runs in a row did not list it)`]),
    );
    const directories = await env.stack.api<{
      directories: { id: string; enabled: boolean | null; removedAt: string | null; activeUsers: number }[];
      enabled: boolean;
    }>(`/api/organizations/${org}/directories`);
    expect(directories.directories.map((d) => [d.id, d.enabled, d.removedAt !== null, d.activeUsers])).toEqual([
      [a, true, false, 4],
      [c, false, false, 3],
      [b, true, true, 0],
    ]);
    expect(directories.enabled).toBe(true);
  });

  it('a listed directory whose details Scalekit answers "not found" for is not read, and its people stay', async () => {
    const { org, a, b, users } = twoDirectories(4);
    expect((await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' })).result?.users.created).toBe(8);
    // Scalekit still lists B, but its details are "not found" for a while. Someone leaves A meanwhile.
    env.emulator.setDirectoryDetailsHidden(org, b, true);
    const leaving = users[a]![0]!;
    env.emulator.deleteUser(org, leaving, quiet);

    const run = await reconcileAndWait(env.stack.workflows, org);
    expect(run.status).toBe('completed');
    expect(run.result?.users).toMatchObject({ deactivated: 1, failed: 0 });
    expect(await activeIds(org)).toEqual([...users[a]!.filter((id) => id !== leaving), ...users[b]!].sort());
    expect(run.plan?.directories).toEqual([
      { id: a, provider: 'OKTA', enabled: true, read: true, removed: false, usersFetched: 3, activeUsers: 4, deactivate: 1 },
      {
        id: b,
        provider: 'MICROSOFT_AD',
        enabled: true,
        read: false,
        removed: false,
        usersFetched: 0,
        activeUsers: 4,
        deactivate: 0,
        notRead: DETAILS_NOT_FOUND,
      },
    ]);
    expect(
      await db()('sync_run_directories').where('run_id', run.runId).orderBy('position').select('directory_id', 'read', 'unread_reason'),
    ).toEqual([
      { directory_id: a, read: true, unread_reason: null },
      { directory_id: b, read: false, unread_reason: DETAILS_NOT_FOUND },
    ]);
    // Listed, so not marked gone: a second run that still cannot read it keeps its people too.
    expect(await db()('organization_directories').where({ organization_id: org, id: b }).first('removed_at')).toEqual({ removed_at: null });
    const again = await reconcileAndWait(env.stack.workflows, org);
    expect(again.result?.users).toMatchObject({ deactivated: 0, failed: 0 });
    expect(await activeIds(org)).toEqual([...users[a]!.filter((id) => id !== leaving), ...users[b]!].sort());

    // Once Scalekit answers again, B is read as before.
    env.emulator.setDirectoryDetailsHidden(org, b, false);
    const next = await reconcileAndWait(env.stack.workflows, org);
    expect(next.result?.users).toMatchObject({ deactivated: 0, failed: 0 });
    expect(next.plan?.directories?.map((d) => [d.id, d.read])).toEqual([
      [a, true],
      [b, true],
    ]);
    expect(await databaseView(db(), org)).toEqual(directoryView(env.emulator, org));
  });

  it('users of a directory scimflow had not heard of keep an unknown directory: disabling it deprovisions nobody', async () => {
    // scimflow knows A (its directory_enabled event, its group and people's events).
    const org = env.emulator.createOrganization({ displayName: `Unheard ${randomInt(1, 1e9)}`, provider: 'OKTA' });
    const a = org.directoryId;
    const teamA = env.emulator.createGroup(org.id, { displayName: 'Team A', directoryId: a });
    const inA = [0, 1, 2].map(
      (i) => env.emulator.createUser(org.id, { email: `a${i}.${org.id}@example.com`, directoryId: a, groupIds: [teamA.id] }).id,
    );
    await applied(org.id);
    // B is added without scimflow hearing of it (no directory or group event), and its people's
    // events arrive first: two in B's group (a placeholder for scimflow), one in no group.
    const b = env.emulator.addDirectory(org.id, { provider: 'MICROSOFT_AD' }, quiet).id;
    const teamB = env.emulator.createGroup(org.id, { displayName: 'Team B', directoryId: b }, quiet);
    const inB = [0, 1].map(
      (i) => env.emulator.createUser(org.id, { email: `b${i}.${org.id}@example.com`, directoryId: b, groupIds: [teamB.id] }).id,
    );
    inB.push(env.emulator.createUser(org.id, { email: `b2.${org.id}@example.com`, directoryId: b }).id);
    await applied(org.id);
    const homes = await storedDirectories(org.id);
    expect(inA.map((id) => homes[id])).toEqual([a, a, a]);
    expect(inB.map((id) => homes[id])).toEqual([null, null, null]);
    expect(await db()('directory_groups').where({ organization_id: org.id, id: teamB.id }).first('directory_id')).toEqual({
      directory_id: null,
    });
    // Operators see them as such, not lost from the counts.
    const listed = await env.stack.api<{ usersWithoutDirectory: { activeUsers: number; users: number } }>(
      `/api/organizations/${org.id}/directories`,
    );
    expect(listed.usersWithoutDirectory).toEqual({ activeUsers: 3, users: 3 });

    // The IdP-migration step: B is disabled. A's full run leaves B's people as they are.
    env.emulator.setDirectoryEnabled(org.id, false, { directoryId: b });
    await applied(org.id);
    const run = await reconcileAndWait(env.stack.workflows, org.id);
    expect(run.status).toBe('completed');
    expect(run.result?.users).toMatchObject({ deactivated: 0, failed: 0 });
    expect(await activeIds(org.id)).toEqual([...inA, ...inB].sort());
    expect(run.plan?.directories?.find((d) => d.id === null)).toMatchObject({ activeUsers: 3, deactivate: 0 });

    // Enabled again and read: its listing says where B's people belong.
    env.emulator.setDirectoryEnabled(org.id, true, { directoryId: b });
    await applied(org.id);
    const next = await reconcileAndWait(env.stack.workflows, org.id);
    expect(next.result?.users).toMatchObject({ deactivated: 0, failed: 0 });
    const learned = await storedDirectories(org.id);
    expect(inB.map((id) => learned[id])).toEqual([b, b, b]);
    expect(
      (await env.stack.api<{ usersWithoutDirectory: unknown }>(`/api/organizations/${org.id}/directories`)).usersWithoutDirectory,
    ).toEqual({ activeUsers: 0, users: 0 });
  });

  it('a delta reads each directory from its own last read, and a directory added since in full', async () => {
    const { org, a, users } = twoDirectories(5);
    expect((await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' })).status).toBe('completed');
    await pastLastSnapshot(db(), org);
    env.emulator.updateUser(org, users[a]![0]!, { familyName: 'Changed' }, quiet);
    const d = env.emulator.addDirectory(org, { provider: 'AUTH0' }, quiet).id;
    const newcomers = [0, 1].map((i) => env.emulator.createUser(org, { email: `d${i}.${org}@example.com`, directoryId: d }, quiet).id);

    const delta = await reconcileAndWait(env.stack.workflows, org, { kind: 'delta' });
    expect(delta.kind).toBe('delta');
    expect(delta.result?.users).toMatchObject({ created: 2, updated: 1, deactivated: 0 });
    const parts = (await db()('sync_run_directories')
      .where('run_id', delta.runId)
      .orderBy('position')
      .select('directory_id', 'updated_after', 'users_fetched')) as {
      directory_id: string;
      updated_after: Date | null;
      users_fetched: number;
    }[];
    expect(parts.map((p) => [p.directory_id, p.updated_after !== null, p.users_fetched])).toEqual([
      [a, true, 1],
      [parts[1]!.directory_id, true, 0],
      [d, false, 2],
    ]);
    expect((await storedDirectories(org))[newcomers[0]!]).toBe(d);
  });
});

describe('directory events and e-mail conflicts', () => {
  it('keeps the enabled state per directory from directory_enabled / directory_disabled', async () => {
    const org = env.emulator.createOrganization({ displayName: `Toggles ${randomInt(1, 1e9)}` });
    const b = env.emulator.addDirectory(org.id, { provider: 'ONELOGIN' }).id;
    env.emulator.setDirectoryEnabled(org.id, false, { directoryId: b });
    await applied(org.id);
    const rows = async () =>
      (await db()('organization_directories')
        .where('organization_id', org.id)
        .orderBy(['created_at', 'id'])
        .select('id', 'provider', 'enabled')) as {
        id: string;
        provider: string;
        enabled: boolean;
      }[];
    expect(await rows()).toEqual([
      { id: org.directoryId, provider: 'OKTA', enabled: true },
      { id: b, provider: 'ONELOGIN', enabled: false },
    ]);
    const listed = await env.stack.api<{ enabled: boolean }>(`/api/organizations/${org.id}/directories`);
    expect(listed.enabled).toBe(true);

    env.emulator.setDirectoryEnabled(org.id, false);
    env.emulator.setDirectoryEnabled(org.id, true, { directoryId: b });
    await applied(org.id);
    expect((await rows()).map((r) => r.enabled)).toEqual([false, true]);
  });

  it('reports the same e-mail arriving from two directories with both users and both directories, and counts it', async () => {
    const { org, a, b } = twoDirectories(0, { emit: true });
    const groupA = env.emulator.snapshot(org).groups.find((g) => g.directoryId === a)!.id;
    const groupB = env.emulator.snapshot(org).groups.find((g) => g.directoryId === b)!.id;
    const email = `jane.${org}@example.com`;
    const old = env.emulator.createUser(org, { email, givenName: 'Jane', familyName: 'Old', directoryId: a, groupIds: [groupA] }).id;
    await applied(org);
    const next = env.emulator.createUser(org, { email, givenName: 'Jane', familyName: 'New', directoryId: b, groupIds: [groupB] }).id;
    await applied(org);

    const event = env.emulator
      .events()
      .filter((e) => e.organizationId === org)
      .at(-1)!;
    const row = (await db()('directory_events').where('id', event.id).first('outcome', 'detail')) as { outcome: string; detail: string };
    expect(row.outcome).toBe('quarantined');
    expect(row.detail).toBe(
      `unique constraint violated (23505): e-mail conflict between directories: user ${next} (directory ${b}) has the e-mail of active user ${old} (directory ${a}); ` +
        'the same person provisioned by two directories? deprovision them in one of them',
    );
    const listed = await env.stack.api<{ emailConflicts: { userId: string; source: { event?: string } }[] }>(
      `/api/organizations/${org}/directories`,
    );
    expect(listed.emailConflicts).toEqual([{ organizationId: org, userId: next, source: { event: event.id }, detail: row.detail }]);
    const gauge = async () =>
      Number(/^scimflow_email_conflicts_between_directories (\d+)$/m.exec(await (await fetch(`${env.stack.baseUrl}/metrics`)).text())?.[1]);
    expect(await gauge()).toBeGreaterThanOrEqual(1);
    const before = await gauge();

    // Deprovisioned on the old side: the held-back event applies by itself, and the count drops.
    env.emulator.deleteUser(org, old);
    await applied(org);
    await eventually(async () => (await db()('directory_events').where('id', event.id).first('outcome'))?.outcome === 'applied');
    expect(await activeIds(org)).toEqual([next]);
    expect((await env.stack.api<{ emailConflicts: unknown[] }>(`/api/organizations/${org}/directories`)).emailConflicts).toEqual([]);
    expect(await gauge()).toBe(before - 1);
  });

  it('a reconcile names both directories when both list one e-mail, and fails only those users', async () => {
    const { org, a, b, users } = twoDirectories(2);
    const email = `twice.${org}@example.com`;
    const inA = env.emulator.createUser(org, { email, directoryId: a }, quiet).id;
    const inB = env.emulator.createUser(org, { email, directoryId: b }, quiet).id;
    const run = await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' });
    expect(run.result?.users).toMatchObject({ created: 4, failed: 2 });
    const failed = (await db()('sync_plan_changes')
      .where({ run_id: run.runId, outcome: 'failed' })
      .orderBy('entity_id')
      .select('entity_id', 'detail')) as {
      entity_id: string;
      detail: string;
    }[];
    const both = [inA, inB].sort();
    expect(failed.map((f) => f.entity_id)).toEqual(both);
    const who = both.map((id) => `${id} (directory ${id === inA ? a : b})`).join(', ');
    for (const f of failed) {
      expect(f.detail).toBe(
        `unique constraint violated: e-mail conflict between directories: the directories list this e-mail for ${who}; ` +
          'the same person provisioned by two directories? deprovision them in one of them',
      );
    }
    expect(await activeIds(org)).toEqual([...users[a]!, ...users[b]!].sort());
    const conflicts = await env.stack.api<{ emailConflicts: { userId: string; source: { run?: string } }[] }>(
      `/api/organizations/${org}/directories`,
    );
    expect(conflicts.emailConflicts.map((c) => [c.userId, c.source.run])).toEqual(both.map((id) => [id, run.runId]));
  });
});

describe("directory states from Scalekit's listing", () => {
  const listing = (enabled: boolean, listedNs: string) =>
    listedDirectoryStates([
      { id: 'dir_x', enabled, provider: 'OKTA', directoryType: 'SCIM', roleAssignments: [], listedNs, unreadable: null },
    ]);
  const state = async (org: string) =>
    (await db()('organization_directories').where({ organization_id: org, id: 'dir_x' }).first('enabled', 'state_ns', 'listed_at')) as
      { enabled: boolean; state_ns: string; listed_at: Date | null } | undefined;

  it('a listing asked for before a newer directory_disabled event does not enable the directory again', async () => {
    const org = `org_fresh_${randomInt(1, 1e9)}`;
    await ensureOrganization(db(), org);
    await db().transaction((trx) =>
      writeDirectoryStates(trx, org, [{ directoryId: 'dir_x', directoryType: 'SCIM', provider: 'OKTA', enabled: false, sourceNs: '2000' }]),
    );
    // Asked for at 1000 (before the event), written after it.
    await db().transaction((trx) => writeDirectoryStates(trx, org, listing(true, '1000')));
    expect(await state(org)).toMatchObject({ enabled: false, state_ns: '2000' });
    expect((await state(org))?.listed_at).toBeInstanceOf(Date);
    // A listing asked for after the event is newer: it says how the directory is now.
    await db().transaction((trx) => writeDirectoryStates(trx, org, listing(true, '3000')));
    expect(await state(org)).toMatchObject({ enabled: true, state_ns: '3000' });
  });

  it("waits for the organization's lock, like every other writer", async () => {
    const org = `org_locked_${randomInt(1, 1e9)}`;
    await ensureOrganization(db(), org);
    const holder = await db().transaction();
    try {
      await lockOrganization(holder, org);
      const write = db().transaction((trx) => writeDirectoryStates(trx, org, listing(true, '5000')));
      // The listing's write queues behind the lock holder (an event batch, say)…
      await eventually(
        async () =>
          (
            (
              await db().raw(
                `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM organizations WHERE id = $1 FOR UPDATE%'`,
              )
            ).rows as { n: number }[]
          )[0]!.n > 0,
        { timeoutMs: 30_000 },
      );
      expect(await state(org)).toBeUndefined();
      // …and goes on once it is released.
      await holder.commit();
      await write;
      expect(await state(org)).toMatchObject({ enabled: true, state_ns: '5000' });
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
    }
  });
});
