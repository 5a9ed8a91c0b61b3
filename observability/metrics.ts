import { collectDefaultMetrics, Counter, Gauge as PromGauge, Histogram, Registry } from 'prom-client';

/**
 * The processes' Prometheus metrics, on prom-client (with its default process metrics: CPU,
 * memory, event loop lag, GC). Label values are bounded enums (status, outcome, reason, event
 * type, activity type), never ids, emails or secrets.
 */
export abstract class ProcessMetrics {
  readonly registry = new Registry();
  /** Metrics read at scrape time (Gauge below), made on first use: their names come from the caller. */
  private readonly scraped = new Map<string, PromGauge | Counter>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text format: this process's metrics, then `gauges` (values read for this scrape). */
  async render(gauges: Gauge[] = []): Promise<string> {
    for (const g of gauges) this.setScraped(g);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private setScraped(g: Gauge): void {
    let metric = this.scraped.get(g.name);
    if (!metric) {
      const config = { name: g.name, help: g.help, registers: [this.registry] };
      metric = g.type === 'counter' ? new Counter(config) : new PromGauge(config);
      this.scraped.set(g.name, metric);
    }
    // Unknown right now: the family is listed without a sample, not given a made-up value.
    metric.reset();
    if (g.value === null) metric.remove();
    else if (metric instanceof Counter) metric.inc(g.value);
    else metric.set(g.value);
  }
}

/** The API's metrics. */
export class Metrics extends ProcessMetrics {
  readonly webhookDeliveries = new Counter({
    name: 'scimflow_webhook_deliveries_total',
    help: 'Webhook deliveries by HTTP status and result (accepted, ignored, quarantined, rejected, aborted by the client, unavailable).',
    labelNames: ['result', 'status'] as const,
    registers: [this.registry],
  });
  readonly webhookSeconds = new Histogram({
    name: 'scimflow_webhook_duration_seconds',
    help: 'Time to answer a webhook delivery.',
    labelNames: ['result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'scimflow_http_requests_total',
    help: 'HTTP requests by route and status.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
}

/** A value read at scrape time; null: unknown right now (the sample is left out, not faked). */
export interface Gauge {
  name: string;
  help: string;
  value: number | null;
  /** A total that only grows, read from the database (rate() applies): a counter. */
  type?: 'counter';
}

/** Seconds from a directory change to its commit: a webhook's second, a paused organization's days. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400];

/** The worker's metrics, recorded where things happen (activities/event-metrics.ts, worker/activity-metrics.ts). */
export class WorkerMetrics extends ProcessMetrics {
  readonly events = new Counter({
    name: 'scimflow_events_total',
    help: 'Directory events resolved by the worker, by event type and ledger outcome (applied, duplicate, stale, quarantined, deferred).',
    labelNames: ['event_type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly quarantines = new Counter({
    name: 'scimflow_events_quarantined_total',
    help: 'Events the worker quarantined while applying them, by event type and reason class (unique_violation, integrity_constraint, invalid_data, database_other, unrecordable, other).',
    labelNames: ['event_type', 'reason_class'] as const,
    registers: [this.registry],
  });
  readonly provisioningSeconds = new Histogram({
    name: 'scimflow_provisioning_latency_seconds',
    help: "Time from a directory change (from=occurred: Scalekit's occurred_at; from=received: the webhook's receipt; from=committed: its commit in the mirror) to its commit in the mirror (to=mirror) or in the application (to=application: Temporal-native delivery; to=application_push: the signed HTTP push), for everything but deprovisioning.",
    labelNames: ['from', 'to'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly deprovisioningSeconds = new Histogram({
    name: 'scimflow_deprovisioning_latency_seconds',
    help: 'As scimflow_provisioning_latency_seconds, for users deleted or deactivated in the directory.',
    labelNames: ['from', 'to'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly activityFailures = new Counter({
    name: 'scimflow_activity_failures_total',
    help: 'Activity attempts that failed, by activity type and error class (the failure type Temporal records: DatabaseUnavailable, PermanentDataError, …).',
    labelNames: ['activity', 'error_class'] as const,
    registers: [this.registry],
  });
  readonly activityRetries = new Counter({
    name: 'scimflow_activity_retries_total',
    help: 'Activity attempts after the first (Temporal retrying), by activity type.',
    labelNames: ['activity'] as const,
    registers: [this.registry],
  });
  readonly reconcileDrift = new Counter({
    name: 'scimflow_reconcile_drift_total',
    help: 'What full reconciles found drifted from the directory and corrected, by kind (users, memberships, roles).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly reconcileRolesRight = new Histogram({
    name: 'scimflow_reconcile_roles_right_ratio',
    help: 'Per full reconcile, the share of its users whose roles were already right.',
    buckets: [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1],
    registers: [this.registry],
  });
}
