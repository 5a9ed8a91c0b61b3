import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertOrganization } from '../../db/repositories/organizations';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import {
  alignScheduleOffsets,
  controlSchedule,
  describeSchedules,
  ensureSchedules,
  reconcileScheduleOffsetMs,
} from '../../temporal/schedules';
import { scheduleId } from '../../workflows/messages';
import { WorkflowRefusedError } from '../../temporal/client';
import { databaseView, directoryView, pastLastSnapshot, reconcileAndWait, waitForRun } from '../support/reconcile';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, T } from '../support/webhooks';

/**
 * Reconciliation and imports through the organization workflow, against the emulator's
 * Directory API (through the real SDK), the real Temporal dev server and real Postgres.
 */

let emulator: EmulatorHandle;
let stack: Stack;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  stack = await startStack({
    scalekit: { environmentUrl: emulator.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
    // Exact deltas here; in production a delta re-reads five minutes more, for clock skew.
    reconcile: { deltaSkewMs: 0 },
  });
});
afterAll(async () => {
  await stack?.stop();
  await emulator?.close();
});

const noEmit = { emit: false } as const;

describe('onboarding import', () => {
  it('imports a whole directory and ends equal to it', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    const outcome = await reconcileAndWait(stack.workflows, org.id, { trigger: 'import' });
    expect(outcome.status).toBe('completed');
    const snap = emulator.snapshot(org.id);
    expect(outcome.result?.users).toMatchObject({ created: snap.users.length, updated: 0, deactivated: 0, failed: 0 });
    expect(outcome.result?.groups.created).toBe(snap.groups.length);
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));
    // Roles come from Scalekit's group → role mapping.
    const withRoles = Object.values(directoryView(emulator, org.id).users).filter((u) => u.roles.length > 0);
    expect(withRoles.length).toBeGreaterThan(0);

    // A second full run finds nothing to change.
    const again = await reconcileAndWait(stack.workflows, org.id);
    expect(again.result).toMatchObject({ drift: 0, users: { created: 0, updated: 0, deactivated: 0, unchanged: snap.users.length } });
  });

  it('refuses clearly: unknown organization, no directory, a run in progress', async () => {
    await expect(stack.workflows.startReconcile('org_unknown', { kind: 'full', dryRun: false, trigger: 'test' })).rejects.toThrow(
      /does not know organization org_unknown/,
    );
    const bare = emulator.createOrganization({ displayName: 'No directory yet', withoutDirectory: true });
    const refusal = await stack.workflows
      .startReconcile(bare.id, { kind: 'full', dryRun: false, trigger: 'test' })
      .catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(WorkflowRefusedError);
    expect((refusal as Error).message).toMatch(/has no directory in Scalekit yet/);

    const org = emulator.generateLarge({ users: 3_000, groups: 30, seed: randomInt(1, 2 ** 31) }).organization;
    const first = await stack.workflows.startReconcile(org.id, { kind: 'full', dryRun: false, trigger: 'test' });
    const second = await stack.workflows.startReconcile(org.id, { kind: 'full', dryRun: false, trigger: 'test' }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(WorkflowRefusedError);
    expect((second as Error).message).toMatch(new RegExp(`run ${first.runId}.*in progress|in progress.*run ${first.runId}`));
    expect((await waitForRun(stack.workflows, org.id, first.runId)).status).toBe('completed');
  });
});

describe('dry run, approval and the deprovision guard', () => {
  it('a dry run changes nothing, and its plan is what the approved apply does', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await reconcileAndWait(stack.workflows, org.id);
    const snap = emulator.snapshot(org.id);
    // Changes the webhooks of which never arrived.
    const [a, b, c, d] = snap.users;
    emulator.updateUser(org.id, a!.id, { givenName: 'Renamed' }, noEmit);
    emulator.deleteUser(org.id, b!.id, noEmit);
    emulator.setUserGroups(org.id, c!.id, [], noEmit);
    emulator.createUser(org.id, { email: `late.joiner.${randomInt(1e6)}@example.com`, givenName: 'Late', familyName: 'Joiner' }, noEmit);
    emulator.updateGroup(org.id, snap.groups[0]!.id, { displayName: 'Renamed group' }, noEmit);
    void d;

    const before = await databaseView(stack.database.db, org.id);
    const dry = await reconcileAndWait(stack.workflows, org.id, { dryRun: true });
    expect(dry.status).toBe('planned');
    expect(dry.plan?.users).toMatchObject({ create: 1, update: 2, deactivate: 1, reactivate: 0 });
    expect(dry.plan?.groups).toMatchObject({ update: 1, create: 0, delete: 0 });
    expect(dry.plan?.drift).toBe(5);
    expect(await databaseView(stack.database.db, org.id)).toEqual(before);

    const approved = await stack.workflows.approveRun(org.id, dry.runId);
    expect(approved.status).toBe('applying');
    const applied = await waitForRun(stack.workflows, org.id, dry.runId);
    expect(applied.status).toBe('completed');
    expect(applied.result?.users).toMatchObject({ created: 1, updated: 2, deactivated: 1, reactivated: 0, failed: 0 });
    expect(applied.result?.groups.updated).toBe(1);
    expect(applied.result?.drift).toBe(dry.plan?.drift);
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));
  });

  it("cancelling a dry run's plan shows as cancelled in the workflow's status too, as in the runs", async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await reconcileAndWait(stack.workflows, org.id);
    emulator.updateUser(org.id, emulator.snapshot(org.id).users[0]!.id, { givenName: 'Renamed' }, noEmit);
    const dry = await reconcileAndWait(stack.workflows, org.id, { dryRun: true });
    expect(dry.status).toBe('planned');
    expect((await stack.workflows.status(org.id))?.lastReconcile).toMatchObject({ runId: dry.runId, status: 'planned' });
    expect(await stack.workflows.cancelRun(org.id, dry.runId)).toEqual({ runId: dry.runId, status: 'cancelled' });
    expect((await stack.workflows.status(org.id))?.lastReconcile).toMatchObject({ runId: dry.runId, status: 'cancelled' });
    expect(await stack.database.db('sync_runs').where('id', dry.runId).first('status')).toEqual({ status: 'cancelled' });
  });

  it('stops a run that would deactivate most of an organization; cancel discards it, approve applies it', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await reconcileAndWait(stack.workflows, org.id);
    const users = emulator.snapshot(org.id).users;
    for (const u of users.slice(0, Math.ceil(users.length * 0.6))) emulator.deleteUser(org.id, u.id, noEmit);
    const before = await databaseView(stack.database.db, org.id);

    const first = await stack.workflows.startReconcile(org.id, { kind: 'full', dryRun: false, trigger: 'test' });
    await eventually(async () => (await stack.workflows.status(org.id))?.reconcile?.phase === 'awaiting_approval');
    const waiting = (await stack.workflows.status(org.id))?.reconcile;
    expect(waiting?.plan).toMatchObject({ needsApproval: true, users: { deactivate: Math.ceil(users.length * 0.6) } });
    expect(await databaseView(stack.database.db, org.id)).toEqual(before);
    const row = await stack.database.db('sync_runs').where('id', first.runId).first();
    expect(row.status).toBe('needs_approval');

    await stack.workflows.cancelRun(org.id, first.runId);
    const cancelled = await waitForRun(stack.workflows, org.id, first.runId);
    expect(cancelled.status).toBe('cancelled');
    expect(await databaseView(stack.database.db, org.id)).toEqual(before);

    const second = await stack.workflows.startReconcile(org.id, { kind: 'full', dryRun: false, trigger: 'test' });
    await eventually(async () => (await stack.workflows.status(org.id))?.reconcile?.phase === 'awaiting_approval');
    await stack.workflows.approveRun(org.id, second.runId);
    const done = await waitForRun(stack.workflows, org.id, second.runId);
    expect(done.status).toBe('completed');
    expect(done.result?.users.deactivated).toBe(Math.ceil(users.length * 0.6));
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));
  });
});

describe('delta runs', () => {
  it('reads only what changed since the last run and cannot see deletions', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await reconcileAndWait(stack.workflows, org.id);
    const [a, b] = emulator.snapshot(org.id).users;
    await pastLastSnapshot(stack.database.db, org.id);
    emulator.updateUser(org.id, a!.id, { familyName: 'Delta' }, noEmit);
    emulator.deleteUser(org.id, b!.id, noEmit);
    const delta = await reconcileAndWait(stack.workflows, org.id, { kind: 'delta' });
    expect(delta.kind).toBe('delta');
    expect(delta.result?.users).toMatchObject({ updated: 1, deactivated: 0 });
    const run = await stack.database.db('sync_runs').where('id', delta.runId).first();
    expect(run.users_fetched).toBe(1);
    const db = await databaseView(stack.database.db, org.id);
    expect(db.users[a!.id]?.familyName).toBe('Delta');
    expect(db.users[b!.id]).toBeDefined();
    // The next full run catches the deletion.
    const full = await reconcileAndWait(stack.workflows, org.id);
    expect(full.result?.users.deactivated).toBe(1);
  });
});

describe('schedules', () => {
  it('gives each organization a full and a delta schedule, and triggering one reconciles', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await stack.workflows.ensureRunning(org.id);
    const schedules = await eventually(async () => {
      const s = await describeSchedules(stack.client, org.id);
      return s.every((x) => x.exists) ? s : undefined;
    });
    expect(schedules.map((s) => s.kind)).toEqual(['full', 'delta']);
    expect(schedules.every((s) => !s.paused && s.nextActionAt)).toBe(true);
    // Each at the organization's own moment in its interval, not at the top of the hour.
    const intervals = await Promise.all(
      (['full', 'delta'] as const).map(async (kind) =>
        (await stack.client.schedule.getHandle(scheduleId(org.id, kind)).describe()).spec.intervals?.map((i) => ({
          every: i.every,
          // An offset of 0 is described as none.
          offset: i.offset ?? 0,
        })),
      ),
    );
    expect(intervals).toEqual([
      [{ every: 6 * 3_600_000, offset: reconcileScheduleOffsetMs(org.id, 'full', '6h') }],
      [{ every: 3_600_000, offset: reconcileScheduleOffsetMs(org.id, 'delta', '1h') }],
    ]);
    const next = new Date(schedules[1]?.nextActionAt ?? '').getTime();
    expect(next % 3_600_000).toBe(reconcileScheduleOffsetMs(org.id, 'delta', '1h'));

    await controlSchedule(stack.client, org.id, 'full', 'pause', 'maintenance');
    expect((await describeSchedules(stack.client, org.id))[0]).toMatchObject({ paused: true, note: 'maintenance' });
    await controlSchedule(stack.client, org.id, 'full', 'resume');
    await controlSchedule(stack.client, org.id, 'full', 'trigger');
    const outcome = await eventually(
      async () => {
        const s = await stack.workflows.status(org.id);
        return s?.lastReconcile?.status === 'completed' ? s.lastReconcile : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(outcome.result?.users.created).toBe(emulator.snapshot(org.id).users.length);
    const run = await stack.database.db('sync_runs').where('id', outcome.runId).first();
    expect(run.trigger).toBe('schedule');
  });

  it('gives a schedule made before offsets its offset when saved again or at worker start, keeping its pause', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await stack.workflows.ensureRunning(org.id);
    await eventually(async () => (await describeSchedules(stack.client, org.id)).every((x) => x.exists));
    const offsets = async () =>
      Promise.all(
        (['full', 'delta'] as const).map(
          async (kind) => (await stack.client.schedule.getHandle(scheduleId(org.id, kind)).describe()).spec.intervals?.[0]?.offset ?? 0,
        ),
      );
    const expected = [reconcileScheduleOffsetMs(org.id, 'full', '6h'), reconcileScheduleOffsetMs(org.id, 'delta', '1h')];
    // As schedules were made before: on the hour.
    const unaligned = async () => {
      for (const kind of ['full', 'delta'] as const) {
        await stack.client.schedule
          .getHandle(scheduleId(org.id, kind))
          .update((p) => ({ ...p, spec: { intervals: [{ every: p.spec.intervals?.[0]?.every ?? '1h' }] } }));
      }
      expect(await offsets()).toEqual([0, 0]);
    };

    await unaligned();
    await controlSchedule(stack.client, org.id, 'delta', 'pause', 'audit');
    // The listing may show a change a moment late; a worker start after that aligns it.
    let changed = 0;
    await eventually(async () => {
      changed += (await alignScheduleOffsets(stack.client)).changed;
      return JSON.stringify(await offsets()) === JSON.stringify(expected);
    });
    expect(changed).toBeGreaterThanOrEqual(2);
    expect((await describeSchedules(stack.client, org.id))[1]).toMatchObject({ paused: true, note: 'audit' });
    await controlSchedule(stack.client, org.id, 'delta', 'resume');

    // Registering again (scimflow orgs add) aligns too.
    await unaligned();
    expect(await ensureSchedules(stack.client, org.id, { taskQueue: stack.taskQueue, fullInterval: '6h', deltaInterval: '1h' })).toEqual(
      [],
    );
    expect(await offsets()).toEqual(expected);
  });
});

describe('operator API', () => {
  const call = (method: string, path: string, body?: string) =>
    fetch(`${stack.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.operatorToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });

  it('starts a dry run, lists runs, shows the plan page by page, approves it', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    // Registered, as `scimflow orgs add` does (the API starts nothing for an unknown organization).
    await upsertOrganization(stack.database.db, { organizationId: org.id, displayName: org.displayName, directories: [] });
    const res = await call('POST', `/api/organizations/${org.id}/reconcile`, JSON.stringify({ dryRun: true }));
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { status: string; runId: string; kind: string; dryRun: boolean };
    expect(accepted).toMatchObject({ status: 'accepted', kind: 'full', dryRun: true });
    const planned = await waitForRun(stack.workflows, org.id, accepted.runId);
    expect(planned.status).toBe('planned');

    const runs = (await (await call('GET', `/api/organizations/${org.id}/runs`)).json()) as { runs: { id: string; status: string }[] };
    expect(runs.runs[0]).toMatchObject({ id: accepted.runId, status: 'planned' });

    const total = emulator.snapshot(org.id).users.length + emulator.snapshot(org.id).groups.length;
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = (await (
        await call('GET', `/api/organizations/${org.id}/runs/${accepted.runId}?limit=20${cursor ? `&after=${cursor}` : ''}`)
      ).json()) as {
        run: { plan: { drift: number } };
        changes: { entity: string; entityId: string; action: string }[];
        nextCursor: string | null;
      };
      expect(page.run.plan.drift).toBe(total);
      for (const c of page.changes) seen.add(`${c.entity}:${c.entityId}`);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.size).toBe(total);
    expect((await databaseView(stack.database.db, org.id)).users).toEqual({});

    const approve = await call('POST', `/api/organizations/${org.id}/runs/${accepted.runId}/approve`);
    expect(approve.status).toBe(202);
    expect((await waitForRun(stack.workflows, org.id, accepted.runId)).status).toBe('completed');
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));

    // Approving it again is refused with the reason.
    const again = await call('POST', `/api/organizations/${org.id}/runs/${accepted.runId}/approve`);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'refused', message: expect.stringMatching(/completed/) });
  });

  it('says what is wrong with a bad request', async () => {
    await stack.database.db('organizations').insert({ id: 'org_1' }).onConflict('id').ignore();
    const bad = await call('POST', '/api/organizations/org_1/reconcile', JSON.stringify({ dryRun: 'yes' }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ message: expect.stringMatching(/dryRun: expected true or false/) });
    const unknownField = await call('POST', '/api/organizations/org_1/reconcile', JSON.stringify({ force: true }));
    expect(unknownField.status).toBe(400);
    const notJson = await call('POST', '/api/organizations/org_1/reconcile', '{');
    expect(notJson.status).toBe(400);
    const missing = await call('GET', '/api/organizations/org_1/runs/999999');
    expect(missing.status).toBe(404);
  });

  it('404 for an organization that was never registered, and no workflow is started for it', async () => {
    const org = `org_never${randomInt(1, 1e9)}`;
    for (const [method, path] of [
      ['POST', `/api/organizations/${org}/reconcile`],
      ['POST', `/api/organizations/${org}/runs/1/approve`],
      ['POST', `/api/organizations/${org}/runs/1/cancel`],
    ] as const) {
      const res = await call(method, path, '{}');
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({
        error: 'not_found',
        message: expect.stringMatching(new RegExp(`does not know organization ${org} yet.*npm run cli -- orgs add ${org}`)),
      });
    }
    expect(await stack.workflows.status(org)).toBeNull();
  });
});

describe('freshness around a run', () => {
  it('swaps two users’ emails in one run', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await reconcileAndWait(stack.workflows, org.id);
    const [a, b] = emulator.snapshot(org.id).users;
    emulator.updateUser(org.id, a!.id, { email: `swap.${randomInt(1e9)}@example.com` }, noEmit);
    emulator.updateUser(org.id, b!.id, { email: a!.email }, noEmit);
    emulator.updateUser(org.id, a!.id, { email: b!.email }, noEmit);
    const outcome = await reconcileAndWait(stack.workflows, org.id);
    expect(outcome.result?.users).toMatchObject({ updated: 2, failed: 0 });
    const db = await databaseView(stack.database.db, org.id);
    expect(db.users[a!.id]?.email).toBe(b!.email);
    expect(db.users[b!.id]?.email).toBe(a!.email);
  });

  it('records an event older than the last full run as stale, even for users the run left unchanged', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    await reconcileAndWait(stack.workflows, org.id);
    const user = emulator.snapshot(org.id).users[0]!;
    // A deletion from long before the snapshot, delivered late.
    const late = envelope(T.userDeleted, org.id, { id: user.id, email: user.email }, '2025-06-01T00:00:00.000000001Z');
    expect((await stack.deliver(late)).status).toBe(202);
    const row = await eventually(async () => {
      const r = await stack.database.db('directory_events').where('id', late.id).first();
      return r && r.outcome !== 'pending' ? r : undefined;
    });
    expect(row.outcome).toBe('stale');
    expect((await databaseView(stack.database.db, org.id)).users[user.id]).toBeDefined();
  });
});
