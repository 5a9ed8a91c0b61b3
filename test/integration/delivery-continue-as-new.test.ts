import { randomBytes } from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { ChangeBatch, ChangeBatchResult } from '../../domain/changes';
import { deliverySettings } from '../../domain/delivery';
import { freePort } from '../../scripts/lib/ports';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-server';
import { deliveryStatusQuery, deliveryWorkflowId } from '../../workflows/delivery-messages';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * Histories stay bounded: the dev server suggests continue-as-new after 40 history events here,
 * so the delivery workflow hands over every few batches; its cursor, pause and counters go with it.
 */

let server: DevServer;
let stack: Stack;
let appConnection: NativeConnection;
let appWorker: Worker;
let appRunning: Promise<void>;
const appQueue = `test-app-${randomBytes(6).toString('hex')}`;
const applied = new Map<string, number[]>();

beforeAll(async () => {
  server = await startDevServer({
    cli: inject('temporalCli'),
    port: await freePort(),
    watchPid: process.pid,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 40 },
  });
  stack = await startStack({ temporalAddress: server.address, delivery: deliverySettings(appQueue, { batch: 1, idleCheck: '3 seconds' }) });
  appConnection = await NativeConnection.connect({ address: server.address });
  appWorker = await Worker.create({
    connection: appConnection,
    taskQueue: appQueue,
    // scimflow compresses its payloads: the application's worker reads them with scimflow's codec.
    dataConverter: stack.dataConverter,
    activities: {
      async applyDirectoryChanges(batch: ChangeBatch): Promise<ChangeBatchResult> {
        const list = applied.get(batch.organizationId) ?? [];
        let fresh = 0;
        for (const r of batch.records) {
          if (list.includes(r.sequence)) continue;
          list.push(r.sequence);
          fresh++;
        }
        applied.set(batch.organizationId, list);
        return { applied: fresh, alreadyApplied: batch.records.length - fresh };
      },
    },
  });
  appRunning = appWorker.run();
}, 120_000);

afterAll(async () => {
  appWorker?.shutdown();
  await appRunning;
  await appConnection?.close();
  await stack?.stop();
  await server?.stop();
});

it('delivers every record once, in order, across continue-as-new, keeping a pause', async () => {
  const org = `org_${randomBytes(6).toString('hex')}`;
  const total = 20;
  for (let i = 1; i <= total; i++) {
    const body = envelope(T.groupCreated, org, { id: `dirgroup_${i}`, display_name: `G${i}` }, nanoTime(i));
    expect((await stack.deliver(body)).status).toBe(202);
    if (i === 10) {
      await eventually(async () => (applied.get(org)?.length ?? 0) >= 5, { timeoutMs: 60_000 });
      await stack.deliveries.pause(org, 'half way');
    }
  }
  const handle = stack.client.workflow.getHandle(deliveryWorkflowId(org));
  // Paused across hand-overs: nothing more is delivered until resumed.
  const held = (applied.get(org) ?? []).length;
  await new Promise((r) => setTimeout(r, 1_000));
  expect((applied.get(org) ?? []).length).toBe(held);
  expect(await handle.query(deliveryStatusQuery)).toMatchObject({ state: 'paused' });
  await stack.deliveries.resume(org);
  await eventually(async () => (applied.get(org)?.length ?? 0) === total, { timeoutMs: 90_000 });
  expect(applied.get(org)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  const status = await handle.query(deliveryStatusQuery);
  expect(status.counters.continuedAsNew).toBeGreaterThan(0);
  expect(status).toMatchObject({ state: 'running', deliveredSequence: total });
}, 180_000);
