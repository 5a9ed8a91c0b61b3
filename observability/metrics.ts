/**
 * A small Prometheus text-format registry: counters and histograms with labels. Label values are
 * bounded enums (status, outcome, reason), never ids, emails or secrets.
 */

type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`)
    .join(',');
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    this.bounds.forEach((b, i) => {
      if (value <= b) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
    });
    s.sum += value;
    s.count += 1;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.buckets[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly webhookDeliveries = new Counter(
    'scimflow_webhook_deliveries_total',
    'Webhook deliveries by HTTP status and result (accepted, ignored, quarantined, rejected, aborted by the client, unavailable).',
  );
  readonly webhookSeconds = new Histogram(
    'scimflow_webhook_duration_seconds',
    'Time to answer a webhook delivery.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  readonly httpRequests = new Counter('scimflow_http_requests_total', 'HTTP requests by route and status.');

  render(gauges: Gauge[] = []): string {
    const parts = [this.webhookDeliveries.render(), this.webhookSeconds.render(), this.httpRequests.render()];
    for (const g of gauges) {
      parts.push(`# HELP ${g.name} ${g.help}\n# TYPE ${g.name} ${g.type ?? 'gauge'}${g.value === null ? '' : `\n${g.name} ${g.value}`}`);
    }
    return `${parts.join('\n')}\n`;
  }
}

/** A value read at scrape time; null: unknown right now (the line is left out, not faked). */
export interface Gauge {
  name: string;
  help: string;
  value: number | null;
  /** A total that only grows, read from the database (rate() applies): a counter. */
  type?: 'counter';
}
