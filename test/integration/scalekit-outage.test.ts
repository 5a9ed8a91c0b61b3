import { randomInt } from 'node:crypto';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createActivities } from '../../activities/index';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { createScalekitClient, ScalekitDirectory } from '../../scalekit/directory';
import { controlSchedule, describeSchedules } from '../../temporal/schedules';
import { RECONCILE_ACTIVITIES, reconcileTaskQueue, SCALEKIT_ACTIVITIES, scalekitTaskQueue } from '../../temporal/task-queues';
import { organizationWorkflowId, scheduleId } from '../../workflows/messages';
import type { OrganizationWorkflowInput } from '../../workflows/organization-state';
import { pool } from '../support/pool';
import { databaseView, directoryView, reconcileAndWait, waitForRun } from '../support/reconcile';
import { startScalekitGate, type ScalekitGate } from '../support/scalekit-gate';
import { eventually, expectActivityFailures, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * Trouble at Scalekit must not slow the webhook path: with Scalekit not answering, the events of
 * new organizations (whose registrations wait on Scalekit) and of existing ones (whose scheduled
 * runs wait on it to open or to read pages) are applied as they come, and the registrations and
 * runs finish once Scalekit is back. The worker reaches the emulator through a gate that can
 * refuse connections or leave them unanswered.
 */

let emulator: EmulatorHandle;
let gate: ScalekitGate;
let stack: Stack;
const scheduled: string[] = [];

// Failed registrations and reconcile steps are what these tests cause: not worth a stack trace each.
expectActivityFailures('ensureOrganizationSchedules', 'beginSyncRun', 'fetchDirectoryPages');

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  gate = await startScalekitGate(emulator.url);
  stack = await startStack({
    scalekit: { environmentUrl: gate.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
    portalTimeoutMs: 2_000,
    // One page per step: an import is still reading when Scalekit stops answering.
    reconcile: { pagesPerStep: 1 },
  });
});

afterAll(async () => {
  for (const org of scheduled) {
    for (const kind of ['full', 'delta'] as const)
      await stack?.client.schedule
        .getHandle(scheduleId(org, kind))
        .delete()
        .catch(() => undefined);
  }
  await stack?.stop();
  await gate?.close();
  await emulator?.close();
});

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The organization workflow's activity of that type while it is pending (running or retrying), if any. */
async function pending(org: string, activityType: string): Promise<PendingActivity | undefined> {
  const description = await stack.client.workflow.getHandle(organizationWorkflowId(org)).describe();
  return description.raw.pendingActivities?.find((a) => a.activityType?.name === activityType);
}

/** The events of every run of the organization's workflow, oldest run first. */
async function allEvents(org: string): Promise<HistoryEvent[]> {
  const runs: { start: number; runId: string }[] = [];
  for await (const wf of stack.client.workflow.list({
    query: `WorkflowId = "${organizationWorkflowId(org)}" AND TaskQueue = "${stack.taskQueue}"`,
  })) {
    runs.push({ start: wf.startTime.getTime(), runId: wf.runId });
  }
  runs.sort((a, b) => a.start - b.start);
  const out: HistoryEvent[] = [];
  for (const r of runs)
    out.push(...((await stack.client.workflow.getHandle(organizationWorkflowId(org), r.runId).fetchHistory()).events ?? []));
  return out;
}

const at = (e: HistoryEvent): number => tsToMs(e.eventTime);

/**
 * For each event (signal) that arrived while a step waiting on Scalekit (opening a run, reading
 * pages) was outstanding: how long until the activity applying it started, after the signal and
 * after that activity was scheduled. Read from the histories (server times), in history order
 * across runs: the first batch scheduled after a signal holds it.
 */
function eventLatencies(events: HistoryEvent[]): { signalAt: string; startedAfterSignalMs: number; startedAfterScheduledMs: number }[] {
  const closed = new Map<string, number>();
  const started = new Map<string, number>();
  let run = 0;
  const key = (r: number, id: unknown) => `${r}:${String(id)}`;
  const runOf: number[] = [];
  for (const e of events) {
    if (e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) run += 1;
    runOf.push(run);
    const closing =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    if (closing) closed.set(key(run, closing.scheduledEventId), at(e));
    if (e.activityTaskStartedEventAttributes) started.set(key(run, e.activityTaskStartedEventAttributes.scheduledEventId), at(e));
  }
  const windows: { from: number; to: number }[] = [];
  events.forEach((e, i) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name === 'beginSyncRun' || name === 'fetchDirectoryPages')
      windows.push({ from: at(e), to: closed.get(key(runOf[i]!, e.eventId)) ?? Infinity });
  });
  const out: { signalAt: string; startedAfterSignalMs: number; startedAfterScheduledMs: number }[] = [];
  events.forEach((e, i) => {
    if (e.workflowExecutionSignaledEventAttributes?.signalName !== 'directoryEvent') return;
    const signalAt = at(e);
    if (!windows.some((w) => w.from <= signalAt && signalAt < w.to)) return;
    const j = events.findIndex((a, k) => k > i && a.activityTaskScheduledEventAttributes?.activityType?.name === 'applyDirectoryEvents');
    const batch = events[j];
    const startedAt = batch ? started.get(key(runOf[j]!, batch.eventId)) : undefined;
    out.push({
      signalAt: new Date(signalAt).toISOString(),
      startedAfterSignalMs: startedAt === undefined ? Infinity : startedAt - signalAt,
      startedAfterScheduledMs: startedAt === undefined || !batch ? Infinity : startedAt - at(batch),
    });
  });
  return out;
}

async function count(query: Promise<{ count: string | number }[]>): Promise<number> {
  const [row] = await query;
  return Number(row?.count ?? 0);
}

it('keeps applying the events of new and existing organizations while Scalekit does not answer; runs and registrations finish once it is back', async () => {
  const db = stack.database.db;
  const workflows = stack.workflows;

  // Organizations imported while Scalekit answers: each has its schedules and a completed run.
  const existing = Array.from({ length: 3 }, (_, i) => {
    const org = emulator.createOrganization({ displayName: `Existing Co ${i}` }, { emit: false });
    for (let u = 0; u < 3; u++) emulator.createUser(org.id, { email: `u${u}@existing${i}.example` }, { emit: false });
    return org;
  });
  // One whose import is reading its pages (one per step here) when Scalekit stops answering, and
  // that hands over to a new run (continue-as-new) during the outage, every 6 events.
  const reading = emulator.createOrganization({ displayName: 'Reading Co' }, { emit: false });
  emulator.generateLarge({ organizationId: reading.id, users: 900, groups: 5 });
  scheduled.push(...existing.map((o) => o.id), reading.id);
  for (const org of existing) expect((await reconcileAndWait(workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  const input: OrganizationWorkflowInput = { organizationId: reading.id, limits: { maxSignalsPerRun: 6 } };
  await stack.client.workflow.start('organizationWorkflow', {
    workflowId: organizationWorkflowId(reading.id),
    taskQueue: stack.taskQueue,
    args: [input],
  });
  await eventually(async () =>
    (await Promise.all([...existing, reading].map((o) => describeSchedules(stack.client, o.id)))).flat().every((s) => s.exists),
  );
  const imported = await workflows.startReconcile(reading.id, { kind: 'full', dryRun: false, trigger: 'import' });

  // Scalekit stops answering: connections are accepted, never answered.
  await gate.set('hang');
  await eventually(
    async () =>
      (await pending(reading.id, 'fetchDirectoryPages')) !== undefined ||
      Promise.reject(new Error(`no page read outstanding: ${JSON.stringify(await workflows.status(reading.id))}`)),
  );

  // New organizations: their registrations wait on Scalekit, a few at a time.
  const newcomers = Array.from({ length: 60 }, (_, i) => emulator.createOrganization({ displayName: `Outage Co ${i}` }, { emit: false }));
  scheduled.push(...newcomers.map((o) => o.id));
  await pool(newcomers, 8, async (org) => {
    const first = envelope(T.userCreated, org.id, { id: 'diruser_first', email: `first@${org.id}.example` }, nanoTime(0));
    expect((await stack.deliver(first)).status).toBe(202);
  });

  // The existing organizations' scheduled delta fires: each one opens a run against the silent Scalekit.
  for (const org of existing) await controlSchedule(stack.client, org.id, 'delta', 'trigger');
  await eventually(async () => (await Promise.all(existing.map((o) => pending(o.id, 'beginSyncRun')))).every((p) => p !== undefined), {
    timeoutMs: 60_000,
  });

  // Meanwhile their people keep changing (in Scalekit, and so in webhooks), and are applied.
  const active = [...existing, reading];
  const sent: string[] = [];
  for (let round = 0; round < 3; round++) {
    await pool(active, 4, async (org) => {
      for (let i = 0; i < 3; i++) {
        const email = `o${round}.${i}@${org.id}.example`;
        const user = emulator.createUser(org.id, { email }, { emit: false });
        const event = envelope(T.userCreated, org.id, { id: user.id, email }, new Date().toISOString());
        sent.push(event.id);
        expect((await stack.deliver(event)).status).toBe(202);
      }
    });
    await eventually(
      async () => (await count(db('directory_events').whereIn('id', sent).where('outcome', 'applied').count('* as count'))) === sent.length,
      { timeoutMs: 90_000, intervalMs: 250 },
    );
  }
  const ids = newcomers.map((o) => o.id);
  await eventually(
    async () =>
      (await count(db('directory_events').whereIn('organization_id', ids).where('outcome', 'applied').count('* as count'))) === ids.length,
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  expect(await count(db('directory_users').whereIn('organization_id', ids).count('* as count'))).toBe(ids.length);

  // From the histories: every event that arrived while a step waited on Scalekit was applied by an
  // activity that started within seconds; none waited for that step.
  for (const org of active) {
    const events = await allEvents(org.id);
    const latencies = eventLatencies(events);
    expect({ org: org.id, waitedBehindScalekit: latencies.length >= 3 }).toEqual({ org: org.id, waitedBehindScalekit: true });
    for (const l of latencies)
      expect({ org: org.id, ...l, slow: l.startedAfterSignalMs > 20_000 || l.startedAfterScheduledMs > 20_000 }).toMatchObject({
        slow: false,
      });
  }
  // The reading organization handed over with its page read in flight, and kept its run.
  const readingStatus = await workflows.status(reading.id);
  expect(readingStatus?.continuedAsNew).toBeGreaterThanOrEqual(1);
  expect(readingStatus?.reconcile?.runId).toBe(imported.runId);

  // No registration got through; they are retried on the Scalekit queue without limit, and some
  // were turned away at once because enough of them already waited on Scalekit.
  expect(await db('organizations').whereIn('id', ids).whereNotNull('display_name').pluck('id')).toEqual([]);
  const registrations = await eventually(
    async () => {
      const p = await Promise.all(newcomers.map((o) => pending(o.id, 'ensureOrganizationSchedules')));
      return p.every((r) => r && (r.attempt ?? 0) >= 2 && r.lastFailure) ? (p as PendingActivity[]) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 2_000 },
  );
  for (const r of registrations) {
    expect(r.maximumAttempts).toBe(0);
    expect(r.activityOptions?.taskQueue?.name).toBe(scalekitTaskQueue(stack.taskQueue));
  }
  expect(registrations.some((r) => r.lastFailure?.applicationFailureInfo?.type === 'RegistrationsBusy')).toBe(true);

  // Scalekit is back: each run opened in the outage completes, or has failed after its retries
  // (the next scheduled one starts over); the import goes on from where it was.
  await gate.set('open');
  for (const org of existing) {
    const last = await eventually(
      async () => {
        const s = await workflows.status(org.id);
        return s && !s.reconcile && s.lastReconcile?.kind === 'delta' ? s.lastReconcile : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    expect(['completed', 'failed']).toContain(last.status);
    expect(await db('sync_runs').where({ organization_id: org.id }).whereNotIn('status', ['completed', 'failed']).pluck('id')).toEqual([]);
  }
  const importOutcome = await waitForRun(workflows, reading.id, imported.runId, 300_000);
  expect(['completed', 'failed']).toContain(importOutcome.status);
  if (importOutcome.status === 'completed') expect(await databaseView(db, reading.id)).toEqual(directoryView(emulator, reading.id));

  // ...and every registration completes (name from Scalekit, both schedules).
  const registered = await eventually(
    async () => {
      const rows = (await db('organizations').whereIn('id', ids).whereNotNull('display_name').select('id', 'display_name')) as {
        id: string;
        display_name: string;
      }[];
      return rows.length === ids.length ? rows : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 1_000 },
  );
  expect(Object.fromEntries(registered.map((r) => [r.id, r.display_name]))).toEqual(
    Object.fromEntries(newcomers.map((o) => [o.id, o.displayName])),
  );
  for (const org of newcomers.slice(0, 5))
    expect((await describeSchedules(stack.client, org.id)).map((s) => s.exists)).toEqual([true, true]);
  await eventually(async () =>
    (await Promise.all(newcomers.map((o) => pending(o.id, 'ensureOrganizationSchedules')))).every((p) => p === undefined),
  );
}, 900_000);

it('runs the activities that wait on Scalekit on the Scalekit task queue, plans and applies on the reconcile queue, and every other one on the main queue', async () => {
  await gate.set('open');
  const org = emulator.createOrganization({ displayName: 'Routing Co' }, { emit: false });
  scheduled.push(org.id);
  emulator.createUser(org.id, { email: 'ada@routing.example', givenName: 'Ada', familyName: 'Lovelace' }, { emit: false });
  expect(
    (await stack.deliver(envelope(T.userCreated, org.id, { id: 'diruser_hook', email: 'hook@routing.example' }, nanoTime(0)))).status,
  ).toBe(202);
  expect((await reconcileAndWait(stack.workflows, org.id)).status).toBe('completed');
  await eventually(
    async () =>
      (await pending(org.id, 'ensureOrganizationSchedules')) === undefined &&
      (await describeSchedules(stack.client, org.id)).every((s) => s.exists),
  );

  const history = await stack.client.workflow.getHandle(organizationWorkflowId(org.id)).fetchHistory();
  const queues = new Map<string, Set<string>>();
  for (const e of history.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name) queues.set(a.activityType.name, (queues.get(a.activityType.name) ?? new Set()).add(a.taskQueue?.name ?? ''));
  }
  const scalekit: string[] = [...SCALEKIT_ACTIVITIES];
  const reconcile: string[] = [...RECONCILE_ACTIVITIES];
  expect([...queues.keys()]).toEqual(expect.arrayContaining([...scalekit, ...reconcile, 'applyDirectoryEvents']));
  const queueOf = (name: string) =>
    scalekit.includes(name)
      ? scalekitTaskQueue(stack.taskQueue)
      : reconcile.includes(name)
        ? reconcileTaskQueue(stack.taskQueue)
        : stack.taskQueue;
  for (const [name, used] of queues) expect({ name, queues: [...used] }).toEqual({ name, queues: [queueOf(name)] });
}, 180_000);

it('a Scalekit that never answers costs a portal link its deadline (503), while webhooks are applied', async () => {
  const org = emulator.createOrganization({ displayName: 'Silent Co' }, { emit: false });
  scheduled.push(org.id);
  // Registered (links are for registered organizations), as `scimflow orgs add` does while Scalekit answers.
  await stack.database.db('organizations').insert({ id: org.id, display_name: 'Silent Co' }).onConflict('id').ignore();
  const portalLink = () =>
    fetch(`${stack.baseUrl}/api/organizations/${org.id}/portal-link`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorToken}` },
    });

  await gate.set('hang');
  const links = Array.from({ length: 4 }, () => portalLink());
  for (let i = 0; i < 20; i++) {
    const event = envelope(T.userCreated, org.id, { id: `diruser_${i}`, email: `u${i}@silent.example` }, nanoTime(i));
    expect((await stack.deliver(event)).status).toBe(202);
  }
  await eventually(
    async () =>
      (await count(stack.database.db('directory_events').where({ organization_id: org.id, outcome: 'applied' }).count('* as count'))) ===
      20,
    { timeoutMs: 60_000 },
  );
  for (const res of await Promise.all(links)) {
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(await res.json()).toEqual({ error: 'portal_unavailable', message: 'Scalekit did not answer; try again in a minute' });
  }

  // Once Scalekit answers again, so does the portal (the client's first call may still meet the
  // connection the outage broke).
  await gate.set('open');
  const link = await eventually(async () => {
    const res = await portalLink();
    return res.status === 201 ? ((await res.json()) as { location: string }) : undefined;
  });
  expect(link.location).toMatch(/^http/);
}, 120_000);

it("plans and applies from the run's own record of Scalekit's role assignments, so an approval goes through while Scalekit does not answer", async () => {
  await gate.set('open');
  const db = stack.database.db;
  const quiet = { emit: false } as const;
  const org = emulator.createOrganization({ displayName: 'Approved Co' }, quiet);
  scheduled.push(org.id);
  const group = emulator.createGroup(org.id, { displayName: 'Admins' }, quiet);
  emulator.setRoleAssignments(org.id, [{ groupId: group.id, roleName: 'admin' }], quiet);
  const user = emulator.createUser(org.id, { email: 'ada@approved.example', groupIds: [group.id] }, quiet);
  const roles = async () => (await databaseView(db, org.id)).users[user.id]?.roles;

  // A dry run opened while Scalekit answers records the assignments on its row...
  const dry = await reconcileAndWait(stack.workflows, org.id, { trigger: 'import', dryRun: true });
  expect(dry.status).toBe('planned');
  expect(await db('sync_runs').where({ id: dry.runId }).first('role_assignments')).toEqual({
    role_assignments: [{ groupId: group.id, roleName: 'admin' }],
  });

  // ...and is applied from them, on approval, while Scalekit does not answer.
  await gate.set('hang');
  await stack.workflows.approveRun(org.id, dry.runId);
  expect((await waitForRun(stack.workflows, org.id, dry.runId)).status).toBe('completed');
  expect(await roles()).toEqual(['admin']);

  // A run opened before the assignments were recorded asks Scalekit for them when it applies.
  await gate.set('open');
  const older = await reconcileAndWait(stack.workflows, org.id, { dryRun: true });
  expect(older.status).toBe('planned');
  await db('sync_runs').where({ id: older.runId }).update({ role_assignments: null });
  emulator.setRoleAssignments(org.id, [{ groupId: group.id, roleName: 'owner' }], quiet);
  await stack.workflows.approveRun(org.id, older.runId);
  expect((await waitForRun(stack.workflows, org.id, older.runId)).status).toBe('completed');
  expect(await roles()).toEqual(['owner']);
}, 180_000);

it('lets only a few registrations wait on Scalekit at once in a worker: one more is turned away at once, and retried later', async () => {
  const quiet = { emit: false } as const;
  const orgs = Array.from({ length: 3 }, (_, i) => emulator.createOrganization({ displayName: `Limited Co ${i}` }, quiet));
  scheduled.push(...orgs.map((o) => o.id));
  const { ensureOrganizationSchedules } = createActivities({
    db: stack.database.db,
    directory: new ScalekitDirectory(
      createScalekitClient({ environmentUrl: gate.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret }),
    ),
    client: stack.client,
    schedules: { taskQueue: stack.taskQueue, fullInterval: '6h', deltaInterval: '1h' },
    registrationLimit: 2,
  });

  await gate.set('hang');
  let answered = 0;
  const settled = Promise.allSettled(orgs.slice(0, 2).map((o) => ensureOrganizationSchedules(o.id).finally(() => (answered += 1))));
  await expect(ensureOrganizationSchedules(orgs[2]!.id)).rejects.toMatchObject({ type: 'RegistrationsBusy', nonRetryable: false });
  // Turned away without asking Scalekit, while the two still wait for it.
  expect(answered).toBe(0);

  await gate.set('open');
  await settled;
  // Their places are free again.
  expect(await ensureOrganizationSchedules(orgs[2]!.id)).toBe('ensured');
}, 120_000);
