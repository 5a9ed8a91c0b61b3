import { randomInt } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { describeSchedules } from '../../temporal/schedules';
import { SCALEKIT_ACTIVITIES, scalekitTaskQueue } from '../../temporal/task-queues';
import { organizationWorkflowId, scheduleId, statusQuery } from '../../workflows/messages';
import type { OrganizationWorkflowInput } from '../../workflows/organization-state';
import { pool } from '../support/pool';
import { reconcileAndWait } from '../support/reconcile';
import { startScalekitGate, type ScalekitGate } from '../support/scalekit-gate';
import { eventually, expectActivityFailures, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * Trouble at Scalekit must not slow the webhook path: with Scalekit unreachable, new
 * organizations' events are applied while their registrations keep failing on a task queue of
 * their own, and the registrations complete once Scalekit is back. The worker reaches the emulator
 * through a gate that can refuse connections or leave them unanswered.
 */

let emulator: EmulatorHandle;
let gate: ScalekitGate;
let stack: Stack;
const scheduled: string[] = [];

// Failed registrations are what these tests cause: not worth a stack trace each.
expectActivityFailures('ensureOrganizationSchedules');

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  gate = await startScalekitGate(emulator.url);
  stack = await startStack({
    scalekit: { environmentUrl: gate.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
    portalTimeoutMs: 2_000,
  });
});

afterAll(async () => {
  for (const org of scheduled) {
    for (const kind of ['full', 'delta'] as const) await stack?.client.schedule.getHandle(scheduleId(org, kind)).delete().catch(() => undefined);
  }
  await stack?.stop();
  await gate?.close();
  await emulator?.close();
});

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** The organization workflow's registration activity while it is pending (retrying), if any. */
async function pendingRegistration(org: string): Promise<PendingActivity | undefined> {
  const description = await stack.client.workflow.getHandle(organizationWorkflowId(org)).describe();
  return description.raw.pendingActivities?.find((a) => a.activityType?.name === 'ensureOrganizationSchedules');
}

async function count(query: Promise<{ count: string | number }[]>): Promise<number> {
  const [row] = await query;
  return Number(row?.count ?? 0);
}

it('applies the first events of 120 new organizations while Scalekit is unreachable, and registers every one once it is back', async () => {
  const db = stack.database.db;
  const orgs = Array.from({ length: 120 }, (_, i) => emulator.createOrganization({ displayName: `Outage Co ${i}` }, { emit: false }));
  // One more that hands over to new runs (continue-as-new) during the outage, every 10 events.
  const handover = emulator.createOrganization({ displayName: 'Handover Co' }, { emit: false });
  const all = [...orgs, handover];
  scheduled.push(...all.map((o) => o.id));

  await gate.set('refuse');
  const input: OrganizationWorkflowInput = { organizationId: handover.id, limits: { maxSignalsPerRun: 10 } };
  await stack.client.workflow.start('organizationWorkflow', { workflowId: organizationWorkflowId(handover.id), taskQueue: stack.taskQueue, args: [input] });
  await pool(orgs, 8, async (org) => {
    const first = envelope(T.userCreated, org.id, { id: 'diruser_first', email: `first@${org.id}.example` }, nanoTime(0));
    expect((await stack.deliver(first)).status).toBe(202);
  });
  for (let i = 0; i < 40; i++) {
    const event = envelope(T.userCreated, handover.id, { id: `diruser_${i}`, email: `u${i}@handover.example` }, nanoTime(i));
    expect((await stack.deliver(event)).status).toBe(202);
  }

  // Every first event is applied (ledger and users) while Scalekit refuses every connection.
  const ids = orgs.map((o) => o.id);
  await eventually(
    async () => (await count(db('directory_events').whereIn('organization_id', ids).where('outcome', 'applied').count('* as count'))) === ids.length,
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  expect(await count(db('directory_users').whereIn('organization_id', ids).count('* as count'))).toBe(ids.length);
  // The organization that hands over: all applied, across at least one continue-as-new.
  await eventually(async () => {
    const s = await stack.client.workflow.getHandle(organizationWorkflowId(handover.id)).query(statusQuery);
    return s.applied === 40 && s.continuedAsNew >= 1;
  });

  // ...and no registration has got through: each one has failed and is being tried again, on the
  // Scalekit task queue, with no limit on its attempts.
  expect(await db('organizations').whereIn('id', all.map((o) => o.id)).whereNotNull('display_name').pluck('id')).toEqual([]);
  const retrying = await eventually(
    async () => {
      const pending = await Promise.all(all.map((o) => pendingRegistration(o.id)));
      return pending.every((p) => p && (p.attempt ?? 0) >= 2 && p.lastFailure) ? (pending as PendingActivity[]) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 2_000 },
  );
  for (const p of retrying) {
    expect(p.maximumAttempts).toBe(0);
    expect(p.activityOptions?.taskQueue?.name).toBe(scalekitTaskQueue(stack.taskQueue));
  }
  expect((await describeSchedules(stack.client, orgs[0]!.id)).map((s) => s.exists)).toEqual([false, false]);

  // Scalekit is back: every registration completes (name from Scalekit, both schedules).
  await gate.set('open');
  const registered = await eventually(
    async () => {
      const rows = (await db('organizations').whereIn('id', all.map((o) => o.id)).whereNotNull('display_name').select('id', 'display_name')) as { id: string; display_name: string }[];
      return rows.length === all.length ? rows : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 1_000 },
  );
  expect(Object.fromEntries(registered.map((r) => [r.id, r.display_name]))).toEqual(Object.fromEntries(all.map((o) => [o.id, o.displayName])));
  for (const org of all) expect((await describeSchedules(stack.client, org.id)).map((s) => s.exists)).toEqual([true, true]);
  await eventually(async () => (await Promise.all(all.map((o) => pendingRegistration(o.id)))).every((p) => p === undefined));
}, 600_000);

it('runs the activities that wait on Scalekit on the Scalekit task queue, and every other one on the main queue', async () => {
  await gate.set('open');
  const org = emulator.createOrganization({ displayName: 'Routing Co' }, { emit: false });
  scheduled.push(org.id);
  emulator.createUser(org.id, { email: 'ada@routing.example', givenName: 'Ada', familyName: 'Lovelace' }, { emit: false });
  expect((await stack.deliver(envelope(T.userCreated, org.id, { id: 'diruser_hook', email: 'hook@routing.example' }, nanoTime(0)))).status).toBe(202);
  expect((await reconcileAndWait(stack.workflows, org.id)).status).toBe('completed');
  await eventually(async () => (await pendingRegistration(org.id)) === undefined && (await describeSchedules(stack.client, org.id)).every((s) => s.exists));

  const history = await stack.client.workflow.getHandle(organizationWorkflowId(org.id)).fetchHistory();
  const queues = new Map<string, Set<string>>();
  for (const e of history.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name) queues.set(a.activityType.name, (queues.get(a.activityType.name) ?? new Set()).add(a.taskQueue?.name ?? ''));
  }
  const scalekit: string[] = [...SCALEKIT_ACTIVITIES];
  expect([...queues.keys()]).toEqual(expect.arrayContaining([...scalekit, 'applyDirectoryEvents']));
  for (const [name, used] of queues) {
    expect({ name, queues: [...used] }).toEqual({ name, queues: [scalekit.includes(name) ? scalekitTaskQueue(stack.taskQueue) : stack.taskQueue] });
  }
}, 180_000);

it('a Scalekit that never answers costs a portal link its deadline (503), while webhooks are applied', async () => {
  const org = emulator.createOrganization({ displayName: 'Silent Co' }, { emit: false });
  scheduled.push(org.id);
  const portalLink = () => fetch(`${stack.baseUrl}/api/organizations/${org.id}/portal-link`, { method: 'POST', headers: { authorization: `Bearer ${stack.operatorToken}` } });

  await gate.set('hang');
  const links = Array.from({ length: 4 }, () => portalLink());
  for (let i = 0; i < 20; i++) {
    const event = envelope(T.userCreated, org.id, { id: `diruser_${i}`, email: `u${i}@silent.example` }, nanoTime(i));
    expect((await stack.deliver(event)).status).toBe(202);
  }
  await eventually(
    async () => (await count(stack.database.db('directory_events').where({ organization_id: org.id, outcome: 'applied' }).count('* as count'))) === 20,
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
