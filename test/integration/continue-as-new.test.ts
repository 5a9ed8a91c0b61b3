import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { freePort } from '../../scripts/lib/ports';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-server';
import { organizationWorkflowId, statusQuery } from '../../workflows/messages';
import type { OrganizationWorkflowInput } from '../../workflows/organization-state';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * Invariant 9: histories stay bounded. The dev server suggests continue-as-new after 40 history
 * events here, so the organization workflow hands over many times while events are queued.
 */

let server: DevServer;
let stack: Stack;

beforeAll(async () => {
  server = await startDevServer({
    cli: inject('temporalCli'),
    port: await freePort(),
    watchPid: process.pid,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 40 },
  });
  stack = await startStack({ temporalAddress: server.address, startWorker: false });
});
afterAll(async () => {
  await stack?.stop();
  await server?.stop();
});

it('loses nothing and duplicates nothing across continue-as-new with events still queued', async () => {
  const org = `org_${randomBytes(6).toString('hex')}`;
  // Small batches so that a run ends with events still queued.
  const input: OrganizationWorkflowInput = { organizationId: org, limits: { maxBatchEvents: 7 } };
  await stack.client.workflow.start('organizationWorkflow', {
    workflowId: organizationWorkflowId(org),
    taskQueue: stack.taskQueue,
    args: [input],
  });

  const total = 300;
  const deliveries = Array.from({ length: total }, (_, i) =>
    envelope(T.userCreated, org, { id: `diruser_${String(i).padStart(4, '0')}`, email: `u${i}@example.com` }, nanoTime(i)),
  );
  // The first half arrives with no worker running: it all waits in the workflow.
  for (const d of deliveries.slice(0, total / 2)) expect((await stack.deliver(d)).status).toBe(202);
  await stack.startWorker();
  // The second half arrives while runs are handing over; some are delivered twice.
  for (const d of deliveries.slice(total / 2)) expect((await stack.deliver(d)).status).toBe(202);
  for (const d of deliveries.slice(total - 20)) expect((await stack.deliver(d)).status).toBe(202);

  const handle = stack.client.workflow.getHandle(organizationWorkflowId(org));
  const status = await eventually(
    async () => {
      const s = await handle.query(statusQuery);
      return s.applied + s.duplicates === total + 20 && s.queued === 0 ? s : undefined;
    },
    { timeoutMs: 60_000 },
  );
  expect(status.continuedAsNew).toBeGreaterThan(3);
  expect(status.applied).toBe(total);
  expect(status.received).toBe(total + 20);

  const ledger = await stack.database.db('directory_events').where('organization_id', org);
  expect(ledger).toHaveLength(total);
  expect(ledger.every((r: { outcome: string }) => r.outcome === 'applied')).toBe(true);
  const users = await stack.database.db('directory_users').where('organization_id', org).orderBy('id');
  expect(users.map((u: { id: string }) => u.id)).toEqual(deliveries.map((d) => (d.data as { id: string }).id));

  // The current run's history is short: the hand-overs kept it bounded.
  const description = await handle.describe();
  expect(description.historyLength).toBeLessThan(200);
});
