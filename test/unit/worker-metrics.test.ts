import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isDeprovisioning,
  observeDelivered,
  observeEvents,
  observeFullReconcile,
  quarantineReasonClass,
} from '../../activities/event-metrics';
import { parseDirectoryWebhook, type DirectoryEvent } from '../../domain/events';
import type { ApplyCounts } from '../../domain/reconcile';
import { WorkerMetrics } from '../../observability/metrics';
import { errorClass } from '../../worker/activity-metrics';
import { serveWorkerMetrics } from '../../worker/metrics-server';
import { samples } from '../support/metrics';
import { envelope, T } from '../support/webhooks';

const OCCURRED = Date.parse('2026-01-15T08:00:00Z');

function event(type: string, data: Record<string, unknown>, receivedAt = new Date(OCCURRED + 2_000)): DirectoryEvent {
  const out = parseDirectoryWebhook(JSON.stringify(envelope(type, 'org_1', data, new Date(OCCURRED).toISOString())), { receivedAt });
  if (out.status !== 'event') throw new Error(`not an event: ${JSON.stringify(out)}`);
  return out.event;
}

describe('what the worker records of the events it resolves', () => {
  it('tells deprovisioning (a user deleted or deactivated) from the rest', () => {
    expect(isDeprovisioning(event(T.userDeleted, { id: 'diruser_1', email: 'a@example.com' }))).toBe(true);
    expect(isDeprovisioning(event(T.userUpdated, { id: 'diruser_1', email: 'a@example.com', active: false }))).toBe(true);
    expect(isDeprovisioning(event(T.userUpdated, { id: 'diruser_1', email: 'a@example.com', active: true }))).toBe(false);
    expect(isDeprovisioning(event(T.userCreated, { id: 'diruser_1', email: 'a@example.com' }))).toBe(false);
    expect(isDeprovisioning(event(T.groupDeleted, { id: 'dirgroup_1', display_name: 'G' }))).toBe(false);
  });

  it.each([
    ['unique constraint violated (23505): directory_users_active_email', 'unique_violation'],
    ['foreign key violated (23503): group_memberships', 'integrity_constraint'],
    ['value too long (22001): directory_users.email', 'invalid_data'],
    ['insufficient privilege (42501)', 'database_other'],
    ['could not be recorded: value too long (22001)', 'unrecordable'],
    ['RangeError: Invalid string length', 'other'],
    [null, 'other'],
  ])('classes the quarantine reason %j as %s', (detail, reasonClass) => {
    expect(quarantineReasonClass(detail)).toBe(reasonClass);
  });

  it('counts by event type and outcome, quarantines by reason class, and times what was applied from its change and its receipt', async () => {
    const m = new WorkerMetrics();
    const created = event(T.userCreated, { id: 'diruser_1', email: 'a@example.com' });
    const deleted = event(T.userDeleted, { id: 'diruser_2', email: 'b@example.com' });
    const conflicting = event(T.userCreated, { id: 'diruser_3', email: 'a@example.com' });
    observeEvents(
      m,
      [
        { event: created, outcome: 'applied', detail: null },
        { event: deleted, outcome: 'applied', detail: null },
        { event: conflicting, outcome: 'quarantined', detail: 'unique constraint violated (23505): x' },
        { event: created, outcome: 'duplicate', detail: null },
      ],
      OCCURRED + 7_000,
    );
    const v = samples(await m.render());
    expect(v.get(`scimflow_events_total{event_type="${T.userCreated}",outcome="applied"}`)).toBe(1);
    expect(v.get(`scimflow_events_total{event_type="${T.userCreated}",outcome="duplicate"}`)).toBe(1);
    expect(v.get(`scimflow_events_total{event_type="${T.userCreated}",outcome="quarantined"}`)).toBe(1);
    expect(v.get(`scimflow_events_total{event_type="${T.userDeleted}",outcome="applied"}`)).toBe(1);
    expect(v.get(`scimflow_events_quarantined_total{event_type="${T.userCreated}",reason_class="unique_violation"}`)).toBe(1);
    // 7 s after it happened, 5 s after it arrived; the deletion on its own.
    expect(v.get('scimflow_provisioning_latency_seconds_sum{from="occurred",to="mirror"}')).toBe(7);
    expect(v.get('scimflow_provisioning_latency_seconds_sum{from="received",to="mirror"}')).toBe(5);
    expect(v.get('scimflow_provisioning_latency_seconds_count{from="occurred",to="mirror"}')).toBe(1);
    expect(v.get('scimflow_deprovisioning_latency_seconds_count{from="occurred",to="mirror"}')).toBe(1);
  });

  it('times a change Scalekit dates ahead of our clock as no latency, not a negative one', async () => {
    const m = new WorkerMetrics();
    observeEvents(
      m,
      [{ event: event(T.userCreated, { id: 'diruser_1', email: 'a@example.com' }), outcome: 'applied', detail: null }],
      OCCURRED - 1_000,
    );
    expect(samples(await m.render()).get('scimflow_provisioning_latency_seconds_sum{from="occurred",to="mirror"}')).toBe(0);
  });

  it('times the records the application committed, per channel, a deactivation as deprovisioning', async () => {
    const m = new WorkerMetrics();
    observeDelivered(m, 'temporal', [
      { kind: 'user.provisioned', secondsSinceOccurred: 9, secondsSinceCommitted: 2 },
      { kind: 'group.created', secondsSinceOccurred: null, secondsSinceCommitted: 1 },
      { kind: 'user.deactivated', secondsSinceOccurred: 4, secondsSinceCommitted: 3 },
    ]);
    observeDelivered(m, 'webhook', [{ kind: 'user.updated', secondsSinceOccurred: 5, secondsSinceCommitted: 5 }]);
    const v = samples(await m.render());
    expect(v.get('scimflow_provisioning_latency_seconds_sum{from="occurred",to="application"}')).toBe(9);
    expect(v.get('scimflow_provisioning_latency_seconds_count{from="committed",to="application"}')).toBe(2);
    expect(v.get('scimflow_provisioning_latency_seconds_sum{from="committed",to="application"}')).toBe(3);
    expect(v.get('scimflow_deprovisioning_latency_seconds_sum{from="committed",to="application"}')).toBe(3);
    expect(v.get('scimflow_provisioning_latency_seconds_count{from="committed",to="application_push"}')).toBe(1);
  });

  it("counts a full reconcile's drift by kind and the share of its users whose roles were already right", async () => {
    const m = new WorkerMetrics();
    const counts: ApplyCounts = {
      users: { created: 1, updated: 2, deactivated: 1, reactivated: 0, unchanged: 16, skippedNewer: 0, failed: 0 },
      groups: { created: 0, updated: 0, deleted: 0, restored: 0, skippedNewer: 0 },
      drift: 4,
      memberships: 3,
      roles: { usersChanged: 5, granted: 4, revoked: 2 },
    };
    observeFullReconcile(m, counts);
    const v = samples(await m.render());
    expect(v.get('scimflow_reconcile_drift_total{kind="users"}')).toBe(4);
    expect(v.get('scimflow_reconcile_drift_total{kind="memberships"}')).toBe(3);
    expect(v.get('scimflow_reconcile_drift_total{kind="roles"}')).toBe(5);
    expect(v.get('scimflow_reconcile_roles_right_ratio_sum')).toBe(0.75);
    expect(v.get('scimflow_reconcile_roles_right_ratio_bucket{le="0.5"}')).toBe(0);
    expect(v.get('scimflow_reconcile_roles_right_ratio_bucket{le="0.8"}')).toBe(1);
  });
});

describe('the error class of a failed activity', () => {
  it('is the failure type it reports to Temporal, or the error name, bounded', () => {
    expect(errorClass(ApplicationFailure.create({ message: 'down', type: 'DatabaseUnavailable' }))).toBe('DatabaseUnavailable');
    expect(errorClass(ApplicationFailure.create({ message: 'no type' }))).toBe('ApplicationFailure');
    expect(errorClass(new TypeError('fetch failed'))).toBe('TypeError');
    expect(errorClass(ApplicationFailure.create({ message: 'x', type: 'a "quoted" type' }))).toBe('other');
    expect(errorClass('a string')).toBe('unknown');
  });
});

describe("the worker's scrape target", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
    server = undefined;
  });

  async function serve(temporalMetricsUrl?: string): Promise<string> {
    server = await serveWorkerMetrics({
      metrics: new WorkerMetrics(),
      host: '127.0.0.1',
      port: 0,
      ...(temporalMetricsUrl ? { temporalMetricsUrl } : {}),
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('answers /healthz and /metrics, and nothing else', async () => {
    const base = await serve();
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toContain('# TYPE scimflow_events_total counter');
    expect(text).toContain('# TYPE scimflow_activity_failures_total counter');
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).not.toContain('scimflow_temporal_runtime_metrics_up');
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it("says when the Temporal runtime's metrics could not be read, and serves its own anyway", async () => {
    // A port nothing listens on: this server's own, once closed.
    const gone = await serve();
    await new Promise((r) => server?.close(r));
    const base = await serve(`${gone}/metrics`);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(samples(text).get('scimflow_temporal_runtime_metrics_up')).toBe(0);
    expect(text).toContain('# TYPE scimflow_events_total counter');
  });
});
