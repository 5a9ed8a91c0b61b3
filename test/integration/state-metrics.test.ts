import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { createDatabase } from '../../db/connection';
import { memoryLogger } from '../../observability/logger';
import { Metrics } from '../../observability/metrics';
import { freePort } from '../../scripts/lib/ports';
import { WebhookVerifier } from '../../scalekit/webhook';
import { useEmulatorStack } from '../support/emulator-stack';
import { reconcileAndWait } from '../support/reconcile';
import { eventually } from '../support/stack';
import { envelope, T } from '../support/webhooks';

/**
 * /metrics reports what waits for a person and how fresh reconciliation is, read from Postgres at
 * scrape time (this file's own database, so the numbers are this file's).
 */

const env = useEmulatorStack();

async function gauges(baseUrl = env.stack.baseUrl): Promise<Record<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^(scimflow_[a-z_]+) (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
}

it('counts quarantined and deferred events, paused organizations, runs to approve, and reconcile freshness', async () => {
  expect(await gauges()).toMatchObject({
    scimflow_state_up: 1,
    scimflow_quarantined_events: 0,
    scimflow_deferred_events: 0,
    scimflow_paused_organizations: 0,
    scimflow_runs_awaiting_approval: 0,
    scimflow_organizations_never_reconciled: 0,
  });
  expect(await gauges()).not.toHaveProperty('scimflow_oldest_full_reconcile_age_seconds');

  const org = env.emulator.seedDemo();
  await env.stack.database.db('organizations').insert({ id: org.id });
  await env.stack.database.db('organization_directories').insert({ organization_id: org.id, id: org.directoryId });
  expect((await gauges()).scimflow_organizations_never_reconciled).toBe(1);
  expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  const fresh = await gauges();
  expect(fresh.scimflow_organizations_never_reconciled).toBe(0);
  expect(fresh.scimflow_oldest_full_reconcile_age_seconds).toBeGreaterThanOrEqual(0);
  expect(fresh.scimflow_oldest_full_reconcile_age_seconds).toBeLessThan(60);

  // A signed delivery scimflow cannot read is kept, quarantined.
  expect((await env.stack.deliver('{"id": "evt_unreadable", "type": ')).status).toBe(202);
  expect((await gauges()).scimflow_quarantined_events).toBe(1);

  await env.stack.workflows.pauseSync(org.id, 'metrics');
  const user = env.emulator.snapshot(org.id).users[0]!;
  await env.stack.deliver(
    envelope(T.userUpdated, org.id, { id: user.id, email: user.email, given_name: 'Kept', active: true }, new Date().toISOString()),
  );
  await eventually(async () => (await gauges()).scimflow_deferred_events === 1);
  expect((await gauges()).scimflow_paused_organizations).toBe(1);
  await env.stack.workflows.resumeSync(org.id);
  await eventually(async () => (await gauges()).scimflow_deferred_events === 0);
  expect((await gauges()).scimflow_paused_organizations).toBe(0);

  await env.stack.database.db('sync_runs').insert({
    organization_id: org.id,
    kind: 'full',
    trigger: 'test',
    status: 'needs_approval',
    snapshot_at: new Date(),
    snapshot_ns: '1',
  });
  expect((await gauges()).scimflow_runs_awaiting_approval).toBe(1);
});

it('says the state is unknown, rather than zero, when PostgreSQL does not answer', async () => {
  const db = createDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/none`, quiet: true });
  const app = createApp({
    db,
    workflows: env.stack.workflows,
    verifier: new WebhookVerifier([env.stack.secret]),
    operatorApiToken: env.stack.operatorToken,
    logger: memoryLogger(),
    metrics: new Metrics(),
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const down = await gauges(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    expect(down).toEqual(expect.objectContaining({ scimflow_state_up: 0 }));
    expect(down).not.toHaveProperty('scimflow_quarantined_events');
  } finally {
    await new Promise((r) => server.close(r));
    await db.destroy();
  }
});
