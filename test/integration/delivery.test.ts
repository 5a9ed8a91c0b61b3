import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { wakeWaitingDeliveries } from '../../activities/delivery';
import { deliveryCommand, deliveryStatusCommand } from '../../cli/delivery';
import { CliContext } from '../../cli/context';
import { parseConfig } from '../../config/index';
import { deliveryStatus } from '../../db/repositories/deliveries';
import type { ChangeBatch, ChangeBatchResult } from '../../domain/changes';
import { deliverySettings } from '../../domain/delivery';
import { WorkflowRefusedError } from '../../temporal/client';
import { deliveryStatusQuery, deliveryWorkflowId } from '../../workflows/delivery-messages';
import { continueAsNewCommand, workflowsList } from '../../cli/workflows';
import { continueAsNewSignal } from '../../workflows/messages';
import { createGroups as createGroupsVia, range } from '../support/changes';
import { eventually, expectActivityFailures, startStack, type Stack } from '../support/stack';

/**
 * Temporal-native delivery: the change records of each organization reach the application's
 * activity (a test application on a task queue of its own) in order, batched, once in effect;
 * a record the application refuses stops that organization only, until an operator retries,
 * skips or rewinds. Real Temporal, real Postgres, events through the webhook endpoint.
 */

const BATCH = 3;

/**
 * The application: applies each record once by id (as the contract asks), remembers every call,
 * refuses records whose group is named "Poison" while `refusing`, fails every call of the
 * organizations in `failing` (retryably), and holds calls while `gate` is set.
 */
class TestApplication {
  readonly calls: { organizationId: string; sequences: number[]; ids: string[] }[] = [];
  readonly effects = new Map<string, number[]>();
  private readonly applied = new Set<string>();
  refusing = true;
  readonly failing = new Set<string>();
  gate: Promise<void> | null = null;

  readonly activities = {
    applyDirectoryChanges: async (batch: ChangeBatch): Promise<ChangeBatchResult> => {
      this.calls.push({
        organizationId: batch.organizationId,
        sequences: batch.records.map((r) => r.sequence),
        ids: batch.records.map((r) => r.id),
      });
      if (this.gate) await this.gate;
      if (this.failing.has(batch.organizationId)) throw new Error('the application database is unavailable');
      for (let i = 1; i < batch.records.length; i++) {
        if (batch.records[i]!.sequence !== batch.records[i - 1]!.sequence + 1) throw ApplicationFailure.nonRetryable('not consecutive');
      }
      const refused = batch.records.find(
        (r) => this.refusing && r.kind === 'group.created' && (r.view as { name: string | null }).name === 'Poison',
      );
      if (refused) throw ApplicationFailure.nonRetryable(`group ${refused.subject.id} cannot be created: its name is reserved`, 'Refused');
      let applied = 0;
      let alreadyApplied = 0;
      for (const r of batch.records) {
        if (this.applied.has(r.id)) {
          alreadyApplied++;
          continue;
        }
        this.applied.add(r.id);
        applied++;
        const list = this.effects.get(batch.organizationId) ?? [];
        list.push(r.sequence);
        this.effects.set(batch.organizationId, list);
      }
      return { applied, alreadyApplied };
    },
  };

  effectsOf(org: string): number[] {
    return this.effects.get(org) ?? [];
  }

  callsOf(org: string) {
    return this.calls.filter((c) => c.organizationId === org);
  }
}

const appQueue = `test-app-${randomBytes(6).toString('hex')}`;
const app = new TestApplication();
const DELIVERY = deliverySettings(appQueue, { batch: BATCH, maxAttempts: 3, maxRetryInterval: '1 second', idleCheck: '3 seconds' });
let stack: Stack;
let appConnection: NativeConnection | undefined;
let appWorker: Worker | undefined;
let appRunning: Promise<void> | undefined;

async function startApp(options: { codec: boolean } = { codec: true }): Promise<void> {
  appConnection ??= await NativeConnection.connect({ address: inject('temporalAddress') });
  appWorker = await Worker.create({
    connection: appConnection,
    taskQueue: appQueue,
    // scimflow compresses its payloads: the application's worker reads them with scimflow's codec.
    ...(options.codec ? { dataConverter: stack.dataConverter } : {}),
    activities: app.activities,
    shutdownGraceTime: '1 second',
  });
  appRunning = appWorker.run();
}

async function stopApp(): Promise<void> {
  appWorker?.shutdown();
  await appRunning;
  appWorker = undefined;
  appRunning = undefined;
}

// The test application refuses and fails calls on purpose.
expectActivityFailures('applyDirectoryChanges');

beforeAll(async () => {
  stack = await startStack({ delivery: DELIVERY });
  await startApp();
}, 60_000);

afterAll(async () => {
  await stopApp();
  await appConnection?.close();
  await stack?.stop();
});

const newOrg = () => `org_${randomBytes(6).toString('hex')}`;
const createGroups = (org: string, names: string[]) => createGroupsVia(stack, org, names);
const status = (org: string) => deliveryStatus(stack.database.db, org, 'temporal');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Temporal-native delivery', () => {
  it('delivers every record in order, in batches of APP_DELIVERY_BATCH, with the records ids', async () => {
    const org = newOrg();
    // Held back while the records are written, so they go out in full batches.
    await stack.deliveries.pause(org, 'batching');
    await createGroups(org, ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    await stack.deliveries.resume(org);
    await eventually(async () => app.effectsOf(org).length === 7);
    expect(app.effectsOf(org)).toEqual(range(1, 7));
    const calls = app.callsOf(org);
    expect(calls.map((c) => c.sequences)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    const ids = (await stack.database.db('change_records').where('organization_id', org).orderBy('sequence').pluck('id')).map(String);
    expect(calls.flatMap((c) => c.ids)).toEqual(ids);
    await eventually(async () => (await status(org)).deliveredSequence === 7);
    expect(await status(org)).toMatchObject({ state: 'running', latestSequence: 7, waiting: 0, oldestWaitingSeconds: null, stop: null });
  });

  it('reads the next batch while the application applies one, and writes the cursor in order', async () => {
    const org = newOrg();
    await stack.deliveries.pause(org, 'batching');
    await createGroups(org, ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    // A new run holds none of the records its wake-ups carried: it reads them.
    const delivery = stack.client.workflow.getHandle(deliveryWorkflowId(org));
    await delivery.signal(continueAsNewSignal);
    await eventually(async () => (await delivery.query(deliveryStatusQuery)).counters.continuedAsNew === 1);
    let open!: () => void;
    app.gate = new Promise((r) => (open = r));
    try {
      await stack.deliveries.resume(org);
      await eventually(async () => app.callsOf(org).length === 1);
      // The first batch is held by the application; the second is read meanwhile.
      const handle = stack.client.workflow.getHandle(deliveryWorkflowId(org));
      await eventually(async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const scheduled = (name: string) => events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
        const applying = scheduled('applyDirectoryChanges')[0];
        const readsDone = events.filter((e) =>
          scheduled('readDeliveryBatch').some(
            (r) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(r.eventId),
          ),
        );
        // A read done after the held call went out.
        return applying !== undefined && readsDone.some((e) => Number(e.eventId) > Number(applying.eventId));
      });
      expect(app.effectsOf(org)).toEqual([]);
    } finally {
      app.gate = null;
      open();
    }
    await eventually(async () => app.effectsOf(org).length === 7);
    expect(app.callsOf(org).map((c) => c.sequences)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    await eventually(async () => (await status(org)).deliveredSequence === 7);
  });

  it('hands a live change to the application straight from its wake-up, without reading it again', async () => {
    const org = newOrg();
    await createGroups(org, ['first']);
    await eventually(async () => app.effectsOf(org).length === 1);
    await eventually(async () => (await status(org)).deliveredSequence === 1);
    await createGroups(org, ['second', 'third']);
    await eventually(async () => app.effectsOf(org).length === 3);
    expect(app.effectsOf(org)).toEqual([1, 2, 3]);
    const events = (await stack.client.workflow.getHandle(deliveryWorkflowId(org)).fetchHistory()).events ?? [];
    const calls = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyDirectoryChanges');
    // Every call after the first follows a wake-up with no read (an activity, or a local one's marker) in between.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const call of calls.slice(1)) {
      const before = events.filter((e) => Number(e.eventId) < Number(call.eventId));
      const woke = before
        .map((e) => Number(e.eventId) * (e.workflowExecutionSignaledEventAttributes ? 1 : 0))
        .reduce((a, b) => Math.max(a, b));
      expect(woke).toBeGreaterThan(0);
      const between = before.filter((e) => Number(e.eventId) > woke);
      expect(between.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'readDeliveryBatch')).toEqual([]);
      expect(between.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toEqual([]);
    }
  });

  it('starts delivering new records within moments of their commit', async () => {
    const org = newOrg();
    await createGroups(org, ['first']);
    await eventually(async () => app.effectsOf(org).length === 1);
    const start = Date.now();
    await createGroups(org, ['second']);
    await eventually(async () => app.effectsOf(org).length === 2, { intervalMs: 20 });
    // Far below the idle check (3 s): the worker woke the delivery.
    expect(Date.now() - start).toBeLessThan(2_000);
  });

  it('stops one organization at the record the application refuses, others go on; skip with a reason passes it', async () => {
    const org = newOrg();
    const other = newOrg();
    await stack.deliveries.pause(org, null);
    await createGroups(org, ['one', 'Poison', 'three', 'four']);
    await stack.deliveries.resume(org);
    const stopped = await eventually(async () => {
      const s = await status(org);
      return s.state === 'stopped' ? s : null;
    });
    // A batch of events is applied in an order of its own: find where the refused record is.
    const poison = (await stack.database
      .db('change_records')
      .where({ organization_id: org })
      .whereRaw("view->>'name' = 'Poison'")
      .first('id', 'sequence')) as { id: string; sequence: string };
    const at = Number(poison.sequence);
    expect(stopped.stop!.reason).toMatch(/reserved/);
    expect(stopped).toMatchObject({
      deliveredSequence: at - 1,
      latestSequence: 4,
      waiting: 5 - at,
      stop: { kind: 'rejected', sequence: at, recordId: String(poison.id) },
    });
    expect(stopped.oldestWaitingSeconds).not.toBeNull();
    // The records before it were delivered (one by one, to find it); nothing after it.
    expect(app.effectsOf(org)).toEqual(range(1, at - 1));

    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^scimflow_delivery_stopped_organizations [1-9]/m);
    expect(metrics).toMatch(/^scimflow_delivery_records_waiting [1-9]/m);

    // Another organization is not held up.
    await createGroups(other, ['x', 'y']);
    await eventually(async () => app.effectsOf(other).length === 2);
    await expect(stack.deliveries.skip(org, '999999', 'wrong one')).rejects.toThrow(WorkflowRefusedError);
    await expect(stack.deliveries.skip(org, String(poison.id), '  ')).rejects.toThrow(/reason/);
    expect(await stack.deliveries.skip(org, String(poison.id), 'reserved name, created by hand')).toEqual({
      skipped: String(poison.id),
      sequence: at,
    });
    await eventually(async () => app.effectsOf(org).length === 3);
    expect(app.effectsOf(org)).toEqual(range(1, 4).filter((s) => s !== at));
    const s = await eventually(async () => {
      const s = await status(org);
      return s.deliveredSequence === 4 ? s : null;
    });
    expect(s).toMatchObject({ state: 'running', stop: null, waiting: 0 });
    expect(s.skips).toMatchObject([{ recordId: String(poison.id), sequence: at, reason: 'reserved name, created by hand' }]);
  });

  it('retry delivers the stopped record once the application takes it', async () => {
    const org = newOrg();
    await createGroups(org, ['ok']);
    await eventually(async () => app.effectsOf(org).length === 1);
    await createGroups(org, ['Poison']);
    await eventually(async () => (await status(org)).state === 'stopped');
    await expect(stack.deliveries.resume(org)).rejects.toThrow(/not paused/);
    app.refusing = false;
    try {
      expect(await stack.deliveries.retry(org)).toEqual({ retryingFrom: 2 });
      await eventually(async () => app.effectsOf(org).length === 2);
      expect(app.effectsOf(org)).toEqual([1, 2]);
      await expect(stack.deliveries.retry(org)).rejects.toThrow(/not stopped/);
    } finally {
      app.refusing = true;
    }
  });

  it('stops after the tries run out, and goes on after a retry', async () => {
    const org = newOrg();
    app.failing.add(org);
    await createGroups(org, ['a', 'b']);
    const stopped = await eventually(
      async () => {
        const s = await status(org);
        return s.state === 'stopped' ? s : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(stopped.stop).toMatchObject({ kind: 'retries_exhausted', sequence: 1 });
    expect(stopped.stop!.reason).toMatch(/unavailable/);
    app.failing.delete(org);
    await stack.deliveries.retry(org);
    await eventually(async () => app.effectsOf(org).length === 2);
    expect(app.effectsOf(org)).toEqual([1, 2]);
  });

  it('pause holds records back, resume delivers them', async () => {
    const org = newOrg();
    await createGroups(org, ['a']);
    await eventually(async () => app.effectsOf(org).length === 1);
    const { paused } = await stack.deliveries.pause(org, 'application maintenance');
    expect(paused.note).toBe('application maintenance');
    await expect(stack.deliveries.pause(org, null)).rejects.toThrow(/already paused/);
    await createGroups(org, ['b', 'c']);
    await sleep(1_500);
    expect(app.effectsOf(org)).toEqual([1]);
    expect(await status(org)).toMatchObject({ state: 'paused', waiting: 2, paused: { note: 'application maintenance' } });
    await stack.deliveries.resume(org);
    await eventually(async () => app.effectsOf(org).length === 3);
    expect(app.effectsOf(org)).toEqual([1, 2, 3]);
  });

  it('rewind delivers again from a sequence or a time (dry run counts); the application applies each once', async () => {
    const org = newOrg();
    await createGroups(org, ['a', 'b']);
    await sleep(20);
    const cut = new Date();
    await sleep(20);
    await createGroups(org, ['c', 'd']);
    await eventually(async () => (await status(org)).deliveredSequence === 4);
    const callsBefore = app.callsOf(org).length;

    await expect(stack.deliveries.rewind(org, { dryRun: true })).rejects.toThrow(/sequence or a time/);
    expect(await stack.deliveries.rewind(org, { toSequence: 2, dryRun: true })).toEqual({
      dryRun: true,
      fromSequence: 2,
      deliveredSequence: 4,
      records: 3,
    });
    expect(app.callsOf(org).length).toBe(callsBefore);
    expect((await status(org)).deliveredSequence).toBe(4);

    expect(await stack.deliveries.rewind(org, { toSequence: 2, dryRun: false })).toMatchObject({ fromSequence: 2, records: 3 });
    await eventually(
      async () =>
        app
          .callsOf(org)
          .flatMap((c) => c.sequences)
          .filter((s) => s === 4).length === 2,
    );
    expect(app.effectsOf(org)).toEqual([1, 2, 3, 4]);
    const again = app
      .callsOf(org)
      .slice(callsBefore)
      .flatMap((c) => c.sequences);
    expect(again).toEqual([2, 3, 4]);

    // By time: from the first record committed at or after it (the third).
    await eventually(async () => (await status(org)).deliveredSequence === 4);
    expect(await stack.deliveries.rewind(org, { toTime: cut.toISOString(), dryRun: true })).toMatchObject({
      fromSequence: 3,
      records: 2,
    });
    expect(await stack.deliveries.rewind(org, { toTime: new Date(Date.now() + 60_000).toISOString(), dryRun: true })).toMatchObject({
      fromSequence: null,
      records: 0,
    });
  });

  it("waits while the application's worker is down, then catches up in order", async () => {
    const org = newOrg();
    await stopApp();
    try {
      await createGroups(org, ['a', 'b', 'c', 'd', 'e']);
      await sleep(1_500);
      expect(app.effectsOf(org)).toEqual([]);
      expect(await status(org)).toMatchObject({ state: 'running', deliveredSequence: 0, waiting: 5 });
    } finally {
      await startApp();
    }
    await eventually(async () => app.effectsOf(org).length === 5);
    expect(app.effectsOf(org)).toEqual(range(1, 5));
  });

  it("stops at the first record when the application's worker lacks scimflow's payload codec, saying what to do; a retry with it delivers", async () => {
    const org = newOrg();
    await stopApp();
    try {
      await startApp({ codec: false });
      // Each record large enough to be compressed on its own (small payloads stay as they are),
      // however the records fall into batches.
      await createGroups(org, ['a'.repeat(6000), 'b'.repeat(6000)]);
      const stopped = await eventually(
        async () => {
          const s = await status(org);
          return s.state === 'stopped' ? s : null;
        },
        { timeoutMs: 30_000 },
      );
      expect(stopped.stop).toMatchObject({ sequence: 1 });
      expect(stopped.stop!.reason).toMatch(/binary\/zlib.*without scimflow's payload codec: give its worker dataConverter\(\)/);
      expect(app.effectsOf(org)).toEqual([]);
    } finally {
      await stopApp();
      await startApp();
    }
    await stack.deliveries.retry(org);
    await eventually(async () => app.effectsOf(org).length === 2);
    expect(app.effectsOf(org)).toEqual([1, 2]);
  });

  it("loses no record when scimflow's worker stops in the middle of a batch", async () => {
    const org = newOrg();
    let open!: () => void;
    app.gate = new Promise((r) => (open = r));
    try {
      await createGroups(org, ['a', 'b']);
      await eventually(async () => app.callsOf(org).length >= 1);
      // The batch is with the application; scimflow's worker goes away meanwhile.
      await stack.stopWorker();
    } finally {
      app.gate = null;
      open();
    }
    await sleep(500);
    await stack.startWorker();
    await createGroups(org, ['c', 'd', 'e']);
    await eventually(async () => app.effectsOf(org).length === 5);
    expect(app.effectsOf(org)).toEqual(range(1, 5));
    await eventually(async () => (await status(org)).deliveredSequence === 5);
  });
});

describe('a delivery that is not running', () => {
  it('is started from its cursor and state at worker start when records wait', async () => {
    const org = newOrg();
    await createGroups(org, ['a']);
    await eventually(async () => (await status(org)).deliveredSequence === 1);
    await stack.deliveries.pause(org, 'before the restart');
    await createGroups(org, ['b']);
    await stack.client.workflow.getHandle(deliveryWorkflowId(org)).terminate('lost');
    expect(
      await wakeWaitingDeliveries(stack.database.db, stack.client, { taskQueue: stack.taskQueue, settings: DELIVERY }),
    ).toBeGreaterThanOrEqual(1);
    const running = await eventually(async () => {
      const s = await stack.deliveries.status(org);
      return s?.state === 'paused' && (await stack.client.workflow.getHandle(deliveryWorkflowId(org)).describe()).status.name === 'RUNNING'
        ? s
        : null;
    });
    expect(running).toMatchObject({ state: 'paused', deliveredSequence: 1, paused: { note: 'before the restart' } });
    await stack.deliveries.resume(org);
    await eventually(async () => app.effectsOf(org).length === 2);
    expect(app.effectsOf(org)).toEqual([1, 2]);
  });
});

describe('the operator API', () => {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('shows the delivery and steers it', async () => {
    const org = newOrg();
    await createGroups(org, ['a']);
    await eventually(async () => app.effectsOf(org).length === 1);
    const shown = await eventually(async () => {
      const s = await stack.api<Record<string, unknown>>(`/api/organizations/${org}/delivery`);
      return s.deliveredSequence === 1 ? s : null;
    });
    expect(shown).toMatchObject({ enabled: true, organizationId: org, state: 'running', latestSequence: 1, waiting: 0, stop: null });

    expect(await post(`/api/organizations/${org}/delivery/pause`, { note: 'upgrade' })).toMatchObject({
      status: 200,
      body: { paused: { note: 'upgrade' } },
    });
    await createGroups(org, ['b']);
    expect(await stack.api(`/api/organizations/${org}/delivery`)).toMatchObject({
      state: 'paused',
      waiting: 1,
      paused: { note: 'upgrade' },
    });
    expect((await post(`/api/organizations/${org}/delivery/pause`, {})).status).toBe(409);
    expect((await post(`/api/organizations/${org}/delivery/resume`, {})).status).toBe(200);
    await eventually(async () => app.effectsOf(org).length === 2);

    expect(await post(`/api/organizations/${org}/delivery/retry`, {})).toMatchObject({ status: 409, body: { error: 'refused' } });
    expect((await post(`/api/organizations/${org}/delivery/skip`, { recordId: 'x', reason: 'r' })).status).toBe(400);
    expect((await post(`/api/organizations/${org}/delivery/rewind`, { dryRun: true })).status).toBe(400);
    await eventually(async () => (await status(org)).deliveredSequence === 2);
    expect(await post(`/api/organizations/${org}/delivery/rewind`, { toSequence: 1, dryRun: true })).toMatchObject({
      status: 200,
      body: { dryRun: true, fromSequence: 1, records: 2 },
    });
    expect((await post(`/api/organizations/org_unknown1234/delivery/pause`, {})).status).toBe(404);
  });
});

describe('the CLI', () => {
  /** The CLI's commands in this process, configured for this file's services, their output kept. */
  function cliContext(): { ctx: CliContext; out: string[] } {
    const out: string[] = [];
    const config = parseConfig({
      DATABASE_URL: stack.database.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      APP_TASK_QUEUE: appQueue,
      APP_DELIVERY_BATCH: String(BATCH),
    });
    const io = {
      out: (l = '') => void out.push(l),
      err: (l = '') => void out.push(l),
      errRaw: () => {},
      errIsTTY: false,
      errColumns: () => undefined,
    };
    class Context extends CliContext {
      override config() {
        return config;
      }
    }
    return { ctx: new Context(io), out };
  }

  it('workflows continue-as-new renews the delivery workflows too, keeping their state; workflows list shows them', async () => {
    const org = newOrg();
    await createGroups(org, ['a']);
    await eventually(async () => app.effectsOf(org).length === 1);
    await stack.deliveries.pause(org, 'kept across the new run');
    const handle = stack.client.workflow.getHandle(deliveryWorkflowId(org));
    const before = await handle.query(deliveryStatusQuery);
    const { ctx, out } = cliContext();
    try {
      const listed = async (startedBefore: string) => {
        out.length = 0;
        expect(await workflowsList(ctx, { startedBefore, json: true })).toBe(0);
        return (JSON.parse(out[0]!) as { workflows: { workflowId: string; kind: string }[] }).workflows;
      };
      await eventually(async () => (await listed(new Date().toISOString())).some((w) => w.workflowId === deliveryWorkflowId(org)));
      expect((await listed(new Date().toISOString())).find((w) => w.workflowId === deliveryWorkflowId(org))?.kind).toBe('delivery');
      out.length = 0;
      expect(await continueAsNewCommand(ctx, org, {})).toBe(0);
      // The organization's own workflow and its (Temporal-native) delivery; the push is off here.
      expect(out[0]).toContain('asked 1 organization workflow(s) and 1 delivery workflow(s) to continue as new');
      const askedAt = /--started-before (\S+)`/.exec(out[1] ?? '')?.[1] ?? '';
      const after = await eventually(async () => {
        const s = await handle.query(deliveryStatusQuery);
        return s.counters.continuedAsNew === before.counters.continuedAsNew + 1 ? s : undefined;
      });
      // Its state went along: the cursor, the pause and the counters.
      expect(after).toMatchObject({ deliveredSequence: 1, state: 'paused', paused: { note: 'kept across the new run' } });
      expect(after.counters.records).toBe(before.counters.records);
      await eventually(async () => !(await listed(askedAt)).some((w) => w.workflowId === deliveryWorkflowId(org)));
      // And it still delivers, after a resume.
      await stack.deliveries.resume(org);
      await createGroups(org, ['b']);
      await eventually(async () => app.effectsOf(org).length === 2);
      expect(app.effectsOf(org)).toEqual([1, 2]);
    } finally {
      await ctx.close();
    }
  });

  it('delivery status says where and why it stopped; skip, pause, resume and rewind steer it', async () => {
    const org = newOrg();
    await createGroups(org, ['Poison']);
    await eventually(async () => (await status(org)).state === 'stopped');
    const { ctx, out } = cliContext();
    try {
      const recordId = (await status(org)).stop!.recordId!;
      expect(await deliveryStatusCommand(ctx, org, {})).toBe(0);
      expect(out.join('\n')).toMatch(new RegExp(`stopped +at record ${recordId} \\(sequence 1\\)`));
      expect(out.join('\n')).toMatch(/reserved/);
      out.length = 0;
      await expect(deliveryCommand(ctx, 'skip', org, { record: '1', reason: 'no' })).rejects.toThrow(/stopped at record/);
      expect(await deliveryCommand(ctx, 'skip', org, { record: recordId, reason: 'reserved name' })).toBe(0);
      expect(out.join('\n')).toMatch(`skipped record ${recordId} (sequence 1)`);
      await eventually(async () => (await status(org)).state === 'running');
      expect(await deliveryCommand(ctx, 'pause', org, { note: 'upgrade' })).toBe(0);
      expect(await deliveryCommand(ctx, 'resume', org, {})).toBe(0);
      await createGroups(org, ['b']);
      await eventually(async () => (await status(org)).deliveredSequence === 2);
      out.length = 0;
      expect(await deliveryCommand(ctx, 'rewind', org, { toSequence: 1, dryRun: true, json: true })).toBe(0);
      expect(JSON.parse(out[0]!)).toMatchObject({ organizationId: org, action: 'rewind', dryRun: true, fromSequence: 1, records: 2 });
    } finally {
      await ctx.close();
    }
  });
});
