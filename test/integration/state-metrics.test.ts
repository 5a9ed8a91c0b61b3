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
import { envelope, nanoTime, T } from '../support/webhooks';
import { pruneChangeRecords } from '../../db/repositories/changes';
import { recordedThrough } from '../support/changes';

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
    expect(down).not.toHaveProperty('scimflow_change_records_retained');
    expect(down).not.toHaveProperty('scimflow_change_records_written_total');
  } finally {
    await new Promise((r) => server.close(r));
    await db.destroy();
  }
});

it('counts the change records written and kept, and the age of the oldest kept; retention brings the kept ones down', async () => {
  const text = await (await fetch(`${env.stack.baseUrl}/metrics`)).text();
  expect(text).toContain('# TYPE scimflow_change_records_written_total counter');
  expect(text).toContain('# TYPE scimflow_change_records_retained gauge');
  const before = await gauges();
  expect(before.scimflow_change_records_written_total).toBeGreaterThanOrEqual(before.scimflow_change_records_retained ?? NaN);

  // A new organization's first user and group: two records.
  const org = `org_metrics_${Date.now()}`;
  const group = { id: 'dirgroup_m', name: 'Metrics' };
  expect((await env.stack.deliver(envelope(T.groupCreated, org, { id: group.id, display_name: group.name }, nanoTime(1)))).status).toBe(
    202,
  );
  expect(
    (await env.stack.deliver(envelope(T.userCreated, org, { id: 'diruser_m', email: `m.${org}@example.com`, active: true }, nanoTime(2))))
      .status,
  ).toBe(202);
  await eventually(async () => (await recordedThrough(env.stack.database.db, org)) === 2);
  const after = await gauges();
  expect(after.scimflow_change_records_written_total).toBeGreaterThanOrEqual(before.scimflow_change_records_written_total! + 2);
  const kept = Number(((await env.stack.database.db('change_records').count('* as n').first()) as { n: string }).n);
  expect(after.scimflow_change_records_retained).toBe(kept);
  expect(after.scimflow_change_records_oldest_age_seconds).toBeGreaterThanOrEqual(0);
  expect(after.scimflow_change_records_oldest_age_seconds).toBeGreaterThanOrEqual(before.scimflow_change_records_oldest_age_seconds ?? 0);

  // Retention removes every record: none kept, none of an age; the total written stays.
  await new Promise((r) => setTimeout(r, 1_100));
  expect(await pruneChangeRecords(env.stack.database.db, 1, 100_000)).toBeGreaterThanOrEqual(kept);
  const pruned = await gauges();
  expect(pruned.scimflow_change_records_retained).toBe(0);
  expect(pruned).not.toHaveProperty('scimflow_change_records_oldest_age_seconds');
  expect(pruned.scimflow_change_records_written_total).toBeGreaterThanOrEqual(after.scimflow_change_records_written_total!);
});
