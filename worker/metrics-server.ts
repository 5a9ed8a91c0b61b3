import { createServer, type Server } from 'node:http';
import type { WorkerMetrics } from '../observability/metrics';

export interface MetricsServerOptions {
  metrics: WorkerMetrics;
  host: string;
  /** 0: any free port (tests). */
  port: number;
  /**
   * The Temporal runtime's own Prometheus exporter (http://127.0.0.1:<port>/metrics), whose
   * families follow scimflow's on this endpoint: one scrape target per process.
   */
  temporalMetricsUrl?: string;
}

/** How long a scrape waits for the Temporal runtime's exporter, on this machine. */
const TEMPORAL_SCRAPE_TIMEOUT_MS = 2_000;

/**
 * The worker's scrape target: GET /metrics (scimflow's families, the process's, then the Temporal
 * runtime's) and GET /healthz (the process runs). Nothing else, and no body is read.
 */
export async function serveWorkerMetrics(options: MetricsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this port serves /metrics and /healthz\n');
      return;
    }
    void render(options).then(
      (body) => res.writeHead(200, { 'content-type': options.metrics.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${String(err).slice(0, 200)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

async function render(options: MetricsServerOptions): Promise<string> {
  const temporal = options.temporalMetricsUrl ? await temporalRuntimeMetrics(options.temporalMetricsUrl) : undefined;
  const own = await options.metrics.render(
    options.temporalMetricsUrl
      ? [
          {
            name: 'scimflow_temporal_runtime_metrics_up',
            help: "Whether the Temporal runtime's metrics could be read for this scrape (they follow on this endpoint).",
            value: temporal === undefined ? 0 : 1,
          },
        ]
      : [],
  );
  return temporal === undefined ? own : `${own}${temporal.endsWith('\n') || temporal === '' ? temporal : `${temporal}\n`}`;
}

/** The Temporal runtime exporter's text, or undefined when it does not answer. */
async function temporalRuntimeMetrics(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TEMPORAL_SCRAPE_TIMEOUT_MS) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}
