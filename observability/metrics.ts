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
