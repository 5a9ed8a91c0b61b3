import { temporalMetricsUrl } from '../support/temporal-metrics';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { samples } from '../support/metrics';
import { reconcileAndWait, waitForRun } from '../support/reconcile';
import { startScalekitGate, type ScalekitGate } from '../support/scalekit-gate';
import { eventually, expectActivityFailures, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * The worker's scrape target after a short scenario: an import (drift, roles already right),
 * webhooks applied and quarantined, a user deleted (deprovisioning), and an
 * import that fails while Scalekit refuses connections and passes on a retry; the change records
 * pushed to the application. Each family the
 * worker reports is there and has moved, next to the process's and the Temporal runtime's own.
 */

let emulator: EmulatorHandle;
let gate: ScalekitGate;
let stack: Stack;
/** The application's push handler: takes every batch. */
let receiver: Server;
let pushed = 0;

// The refused connections are what the last step causes.
expectActivityFailures('beginSyncRun', 'fetchDirectoryPages', 'ensureOrganizationSchedules');

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  gate = await startScalekitGate(emulator.url);
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      pushed += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  stack = await startStack({
    scalekit: { environmentUrl: gate.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
    temporalMetricsUrl,
    push: {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/scimflow/changes`,
      secret: `whsec_${randomBytes(32).toString('base64')}`,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await gate?.close();
  await emulator?.close();
  await new Promise((r) => receiver?.close(r));
});

async function scrape(): Promise<{ text: string; values: Map<string, number> }> {
  const res = await fetch(stack.workerMetricsUrl);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, values: samples(text) };
}

/** The sum of a family's samples whose labels include all of `labels` (a histogram: its _count). */
function total(values: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, v] of values) {
    const [, family, inner = ''] = /^([^{]+)(?:\{(.*)\})?$/.exec(key) ?? [];
    if (family !== name) continue;
    if (Object.entries(labels).every(([k, want]) => inner.split(',').includes(`${k}="${want}"`))) sum += v;
  }
  return sum;
}

async function settled(org: string, count: number): Promise<void> {
  await eventually(async () => {
    const rows = await stack.database.db('directory_events').where({ organization_id: org }).whereNot('outcome', 'pending');
    return rows.length >= count;
  });
}

it('serves /healthz, and on /metrics the process, the Temporal runtime and every family of the worker, each moved by a short scenario', async () => {
  const health = await fetch(new URL('/healthz', stack.workerMetricsUrl));
  expect(await health.json()).toEqual({ status: 'ok' });
  expect((await fetch(new URL('/elsewhere', stack.workerMetricsUrl))).status).toBe(404);

  const before = (await scrape()).values;

  // An import: everything it writes is drift from an empty mirror.
  const org = emulator.seedDemo();
  await stack.database.db('organizations').insert({ id: org.id });
  await stack.database.db('organization_directories').insert({ organization_id: org.id, id: org.directoryId });
  expect((await reconcileAndWait(stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');

  // Webhooks: two users with one e-mail (the second quarantined), and a deletion.
  const other = `org_metrics_${randomInt(1, 2 ** 31)}`;
  const a = envelope(T.userCreated, other, { id: 'diruser_a', email: 'same@example.com' }, nanoTime(0));
  const b = envelope(T.userCreated, other, { id: 'diruser_b', email: 'SAME@example.com' }, nanoTime(1));
  for (const e of [a, b]) expect((await stack.deliver(e)).status).toBe(202);
  await settled(other, 2);
  expect((await stack.deliver(envelope(T.userDeleted, other, { id: 'diruser_a', email: 'same@example.com' }, nanoTime(5)))).status).toBe(
    202,
  );
  await settled(other, 3);

  // An import asked for while Scalekit refuses connections: its first step fails, and passes on a retry.
  await gate.set('refuse');
  const failing = emulator.seedDemo();
  await stack.database.db('organizations').insert({ id: failing.id });
  await stack.database.db('organization_directories').insert({ organization_id: failing.id, id: failing.directoryId });
  const starting = stack.workflows.startReconcile(failing.id, { kind: 'full', dryRun: false, trigger: 'import' });
  await eventually(async () => total((await scrape()).values, 'scimflow_activity_retries_total') > 0, { timeoutMs: 90_000 });
  await gate.set('open');
  expect((await waitForRun(stack.workflows, failing.id, (await starting).runId)).status).toBe('completed');

  // The application has taken the deletion's record (pushed, answered 2xx).
  await eventually(
    async () => total((await scrape()).values, 'scimflow_deprovisioning_latency_seconds_count', { to: 'application_push' }) > 0,
  );
  expect(pushed).toBeGreaterThan(0);

  const { text, values: after } = await scrape();
  const moved = (name: string, labels: Record<string, string> = {}) =>
    expect(total(after, name, labels), `${name} ${JSON.stringify(labels)}`).toBeGreaterThan(total(before, name, labels));

  moved('scimflow_events_total', { event_type: T.userCreated, outcome: 'applied' });
  moved('scimflow_events_total', { event_type: T.userCreated, outcome: 'quarantined' });
  moved('scimflow_events_total', { event_type: T.userDeleted, outcome: 'applied' });
  moved('scimflow_events_quarantined_total', { event_type: T.userCreated, reason_class: 'unique_violation' });
  moved('scimflow_provisioning_latency_seconds_count', { from: 'occurred', to: 'mirror' });
  moved('scimflow_provisioning_latency_seconds_count', { from: 'received', to: 'mirror' });
  moved('scimflow_deprovisioning_latency_seconds_count', { from: 'occurred', to: 'mirror' });
  moved('scimflow_deprovisioning_latency_seconds_count', { from: 'received', to: 'mirror' });
  moved('scimflow_provisioning_latency_seconds_count', { from: 'occurred', to: 'application_push' });
  moved('scimflow_provisioning_latency_seconds_count', { from: 'committed', to: 'application_push' });
  moved('scimflow_deprovisioning_latency_seconds_count', { from: 'committed', to: 'application_push' });
  moved('scimflow_activity_failures_total');
  moved('scimflow_activity_retries_total');
  moved('scimflow_reconcile_drift_total', { kind: 'users' });
  moved('scimflow_reconcile_drift_total', { kind: 'memberships' });
  expect(text).toContain('# TYPE scimflow_reconcile_drift_total counter');
  expect(text).toMatch(/^scimflow_reconcile_drift_total\{kind="roles"\} \d+$/m);
  moved('scimflow_reconcile_roles_right_ratio_count');
  // The deleted user's deletion is deprovisioning, not provisioning.
  expect(total(after, 'scimflow_deprovisioning_latency_seconds_count', { from: 'occurred', to: 'mirror' })).toBe(1);
  // Labels stay bounded: no organization ids, no e-mails.
  expect(text).not.toContain(org.id);
  expect(text).not.toContain(other);
  expect(text).not.toContain('example.com');

  // The process's default metrics, and the Temporal runtime's through the same target.
  expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  expect(after.get('scimflow_temporal_runtime_metrics_up')).toBe(1);
  expect(text).toMatch(/^temporal_\w+/m);
}, 180_000);
