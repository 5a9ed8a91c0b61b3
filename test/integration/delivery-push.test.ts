import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { deliveryCommand, deliveryStatusCommand } from '../../cli/delivery';
import { CliContext } from '../../cli/context';
import { parseConfig } from '../../config/index';
import { deliveryStatus } from '../../db/repositories/deliveries';
import type { ChangeBatch, ChangeBatchResult } from '../../domain/changes';
import { deliverySettings } from '../../domain/delivery';
import { createGroups as createGroupsVia, range } from '../support/changes';
import { eventually, expectActivityFailures, startStack, type Stack } from '../support/stack';

/**
 * Signed HTTP push: each organization's change records are POSTed to the application's URL in
 * order, batched, signed the Standard Webhooks way; a 5xx is tried again, a 422 stops that
 * organization only until an operator skips or retries; Temporal-native delivery, on at the same
 * time, keeps its own order and cursor. Real Temporal, real Postgres, an HTTP receiver on 127.0.0.1.
 */

const BATCH = 3;
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const verifier = new Webhook(SECRET);

/** The application's push handler: verifies, applies each record once by id, answers as told. */
class Receiver {
  readonly calls: { organizationId: string; sequences: number[]; webhookId: string; status: number }[] = [];
  readonly effects = new Map<string, number[]>();
  private readonly applied = new Set<string>();
  /** Statuses to answer, in turn, before handling an organization's next push. */
  readonly script = new Map<string, number[]>();
  refusing = true;
  badSignatures = 0;
  server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        (status) => res.writeHead(status).end(),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/scimflow/changes`;
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': String(req.headers['webhook-id']),
      'webhook-timestamp': String(req.headers['webhook-timestamp']),
      'webhook-signature': String(req.headers['webhook-signature']),
    };
    let batch: ChangeBatch;
    try {
      batch = verifier.verify(body, headers) as ChangeBatch;
    } catch {
      this.badSignatures++;
      return 401;
    }
    const org = batch.organizationId;
    const call = { organizationId: org, sequences: batch.records.map((r) => r.sequence), webhookId: headers['webhook-id'], status: 200 };
    this.calls.push(call);
    const scripted = this.script.get(org)?.shift();
    if (scripted !== undefined) return (call.status = scripted);
    const refused = batch.records.some(
      (r) => this.refusing && r.kind === 'group.created' && (r.view as { name: string | null }).name === 'Poison',
    );
    if (refused) return (call.status = 422);
    for (const r of batch.records) {
      if (this.applied.has(r.id)) continue;
      this.applied.add(r.id);
      const list = this.effects.get(org) ?? [];
      list.push(r.sequence);
      this.effects.set(org, list);
    }
    return 200;
  }

  effectsOf(org: string): number[] {
    return this.effects.get(org) ?? [];
  }

  callsOf(org: string) {
    return this.calls.filter((c) => c.organizationId === org);
  }
}

/** The Temporal-native side, on at the same time: applies each record once by id. */
class TemporalApp {
  readonly effects = new Map<string, number[]>();
  private readonly applied = new Set<string>();
  readonly activities = {
    applyDirectoryChanges: async (batch: ChangeBatch): Promise<ChangeBatchResult> => {
      let applied = 0;
      for (const r of batch.records) {
        if (this.applied.has(r.id)) continue;
        this.applied.add(r.id);
        applied++;
        const list = this.effects.get(batch.organizationId) ?? [];
        list.push(r.sequence);
        this.effects.set(batch.organizationId, list);
      }
      return { applied, alreadyApplied: batch.records.length - applied };
    },
  };
  effectsOf(org: string): number[] {
    return this.effects.get(org) ?? [];
  }
}

const receiver = new Receiver();
const temporalApp = new TemporalApp();
const appQueue = `test-app-${randomBytes(6).toString('hex')}`;
const TUNING = { batch: BATCH, maxAttempts: 4, maxRetryInterval: '1 second', idleCheck: '3 seconds' };
let stack: Stack;
let appConnection: NativeConnection | undefined;
let appWorker: Worker | undefined;
let appRunning: Promise<void> | undefined;

// The receiver answers 5xx and 422 on purpose.
expectActivityFailures('pushDirectoryChanges');

beforeAll(async () => {
  await receiver.start();
  stack = await startStack({
    delivery: deliverySettings(appQueue, TUNING),
    push: { url: receiver.url, secret: SECRET, settings: TUNING },
  });
  appConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  appWorker = await Worker.create({
    connection: appConnection,
    taskQueue: appQueue,
    // scimflow compresses its payloads: the application's worker reads them with scimflow's codec.
    dataConverter: stack.dataConverter,
    activities: temporalApp.activities,
    shutdownGraceTime: '1 second',
  });
  appRunning = appWorker.run();
}, 60_000);

afterAll(async () => {
  appWorker?.shutdown();
  await appRunning;
  await appConnection?.close();
  await stack?.stop();
  await receiver.stop();
});

const newOrg = () => `org_${randomBytes(6).toString('hex')}`;
const createGroups = (org: string, names: string[]) => createGroupsVia(stack, org, names);
const pushStatus = (org: string) => deliveryStatus(stack.database.db, org, 'webhook');

describe('signed HTTP push', () => {
  it('pushes every record in order, in batches, signed, with a webhook-id per batch', async () => {
    const org = newOrg();
    await stack.pushDeliveries.pause(org, 'batching');
    await createGroups(org, ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    await stack.pushDeliveries.resume(org);
    await eventually(async () => receiver.effectsOf(org).length === 7);
    expect(receiver.effectsOf(org)).toEqual(range(1, 7));
    const calls = receiver.callsOf(org);
    expect(calls.map((c) => c.sequences)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(calls.map((c) => c.webhookId)).toEqual([`${org}:1-3`, `${org}:4-6`, `${org}:7-7`]);
    expect(receiver.badSignatures).toBe(0);
    await eventually(async () => (await pushStatus(org)).deliveredSequence === 7);
    expect(await pushStatus(org)).toMatchObject({ state: 'running', latestSequence: 7, waiting: 0, stop: null });
  });

  it('tries a batch again after a 5xx and delivers it once, in order', async () => {
    const org = newOrg();
    receiver.script.set(org, [503, 500]);
    await stack.pushDeliveries.pause(org, null);
    await createGroups(org, ['one', 'two']);
    await stack.pushDeliveries.resume(org);
    await eventually(async () => receiver.effectsOf(org).length === 2);
    expect(receiver.effectsOf(org)).toEqual([1, 2]);
    const calls = receiver.callsOf(org);
    expect(calls.map((c) => c.status)).toEqual([503, 500, 200]);
    // The same batch on every try: the same webhook-id.
    expect(new Set(calls.map((c) => c.webhookId))).toEqual(new Set([`${org}:1-2`]));
    await eventually(async () => (await pushStatus(org)).deliveredSequence === 2);
  });

  it('a 422 stops that organization at the record, another goes on; skip and retry work', async () => {
    const org = newOrg();
    const other = newOrg();
    await stack.pushDeliveries.pause(org, null);
    await createGroups(org, ['one', 'Poison', 'three']);
    await stack.pushDeliveries.resume(org);
    const stopped = await eventually(async () => {
      const s = await pushStatus(org);
      return s.state === 'stopped' ? s : null;
    });
    const poison = (await stack.database
      .db('change_records')
      .where({ organization_id: org })
      .whereRaw("view->>'name' = 'Poison'")
      .first('id', 'sequence')) as { id: string; sequence: string };
    const at = Number(poison.sequence);
    expect(stopped).toMatchObject({ deliveredSequence: at - 1, stop: { kind: 'rejected', sequence: at, recordId: String(poison.id) } });
    expect(stopped.stop!.reason).toMatch(/422/);
    expect(receiver.effectsOf(org)).toEqual(range(1, at - 1));
    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^scimflow_push_stopped_organizations [1-9]/m);
    expect(metrics).toMatch(/^scimflow_push_records_waiting [1-9]/m);

    // Another organization delivers meanwhile.
    await createGroups(other, ['x', 'y']);
    await eventually(async () => receiver.effectsOf(other).length === 2);

    // Temporal-native delivery of the same organization is not stopped by the push's refusal.
    await eventually(async () => temporalApp.effectsOf(org).length === 3);

    await stack.pushDeliveries.skip(org, String(poison.id), 'a reserved name the application will never take');
    await eventually(async () => receiver.effectsOf(org).length === 2);
    expect(receiver.effectsOf(org)).toEqual(range(1, 3).filter((s) => s !== at));
    await eventually(async () => (await pushStatus(org)).state === 'running');
    expect((await pushStatus(org)).skips).toMatchObject([{ recordId: String(poison.id), sequence: at }]);

    // Retry: stopped again, the application fixed, delivered from the stopped record.
    const third = newOrg();
    await createGroups(third, ['Poison']);
    await eventually(async () => (await pushStatus(third)).state === 'stopped');
    receiver.refusing = false;
    try {
      expect(await stack.pushDeliveries.retry(third)).toEqual({ retryingFrom: 1 });
      await eventually(async () => receiver.effectsOf(third).length === 1);
    } finally {
      receiver.refusing = true;
    }
  });

  it('pushes and Temporal-native delivery go on independently, each with its own cursor', async () => {
    const org = newOrg();
    await stack.deliveries.pause(org, 'the application worker is being upgraded');
    await createGroups(org, ['a', 'b', 'c', 'd']);
    await eventually(async () => receiver.effectsOf(org).length === 4);
    await eventually(async () => (await pushStatus(org)).deliveredSequence === 4);
    expect(temporalApp.effectsOf(org)).toEqual([]);
    expect(await deliveryStatus(stack.database.db, org, 'temporal')).toMatchObject({ state: 'paused', deliveredSequence: 0, waiting: 4 });

    await stack.pushDeliveries.pause(org, null);
    await stack.deliveries.resume(org);
    await createGroups(org, ['e']);
    await eventually(async () => temporalApp.effectsOf(org).length === 5);
    expect(temporalApp.effectsOf(org)).toEqual(range(1, 5));
    expect(receiver.effectsOf(org)).toEqual(range(1, 4));
    await stack.pushDeliveries.resume(org);
    await eventually(async () => receiver.effectsOf(org).length === 5);
    expect((await stack.pushDeliveries.status(org))?.channel).toBe('webhook');
    expect((await stack.deliveries.status(org))?.channel).toBe('temporal');
  });
});

describe('operators steer each channel', () => {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('the API shows both channels and takes ?channel= on every command', async () => {
    const org = newOrg();
    await createGroups(org, ['a']);
    await eventually(async () => (await pushStatus(org)).deliveredSequence === 1);
    await eventually(async () => (await deliveryStatus(stack.database.db, org, 'temporal')).deliveredSequence === 1);
    expect(await stack.api(`/api/organizations/${org}/delivery?channel=webhook`)).toMatchObject({
      channel: 'webhook',
      enabled: true,
      deliveredSequence: 1,
      channels: { temporal: { enabled: true, deliveredSequence: 1 }, webhook: { enabled: true, deliveredSequence: 1 } },
    });
    // Without a channel: Temporal-native delivery (both are on).
    expect(await stack.api(`/api/organizations/${org}/delivery`)).toMatchObject({ channel: 'temporal' });

    expect(await post(`/api/organizations/${org}/delivery/pause?channel=webhook`, { note: 'upgrade' })).toMatchObject({
      status: 200,
      body: { paused: { note: 'upgrade' } },
    });
    await createGroups(org, ['b']);
    await eventually(async () => temporalApp.effectsOf(org).length === 2);
    expect(await stack.api(`/api/organizations/${org}/delivery?channel=webhook`)).toMatchObject({ state: 'paused', waiting: 1 });
    expect((await post(`/api/organizations/${org}/delivery/pause?channel=webhook`, {})).status).toBe(409);
    expect((await post(`/api/organizations/${org}/delivery/resume?channel=nope`, {})).status).toBe(400);
    expect((await post(`/api/organizations/${org}/delivery/resume?channel=webhook`, {})).status).toBe(200);
    await eventually(async () => receiver.effectsOf(org).length === 2);
    await eventually(async () => (await pushStatus(org)).deliveredSequence === 2);
    expect(await post(`/api/organizations/${org}/delivery/rewind?channel=webhook`, { toSequence: 1, dryRun: true })).toMatchObject({
      status: 200,
      body: { dryRun: true, fromSequence: 1, records: 2 },
    });
  });

  it('the CLI takes --channel, and status shows both channels', async () => {
    const out: string[] = [];
    const config = parseConfig({
      DATABASE_URL: stack.database.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      APP_TASK_QUEUE: appQueue,
      APP_WEBHOOK_URL: receiver.url,
      APP_WEBHOOK_SECRET: SECRET,
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
    const ctx = new Context(io);
    const org = newOrg();
    try {
      await createGroups(org, ['Poison']);
      await eventually(async () => (await pushStatus(org)).state === 'stopped');
      const recordId = (await pushStatus(org)).stop!.recordId!;
      expect(await deliveryStatusCommand(ctx, org, {})).toBe(0);
      const text = out.join('\n');
      expect(text).toMatch(/delivery of .* to test-app-/);
      expect(text).toMatch(/push of .* to the application's URL: stopped/);
      expect(text).toMatch(`npm run cli -- delivery retry ${org} --channel webhook`);
      out.length = 0;
      expect(await deliveryStatusCommand(ctx, org, { channel: 'webhook', json: true })).toBe(0);
      expect(JSON.parse(out[0]!)).toMatchObject({ channel: 'webhook', state: 'stopped', channels: { temporal: {}, webhook: {} } });
      out.length = 0;
      expect(await deliveryCommand(ctx, 'skip', org, { channel: 'webhook', record: recordId, reason: 'reserved name', json: true })).toBe(
        0,
      );
      expect(JSON.parse(out[0]!)).toMatchObject({ organizationId: org, channel: 'webhook', action: 'skip', skipped: recordId });
      await eventually(async () => (await pushStatus(org)).state === 'running');
    } finally {
      await ctx.close();
    }
  });
});
