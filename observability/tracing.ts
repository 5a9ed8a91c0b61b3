/**
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, see config/index.ts). Off, none of the SDK is loaded: the
 * spans scimflow opens itself (the webhook request, the mirror's commit) go to OpenTelemetry's
 * no-op tracer, and Temporal's interceptors are not installed.
 *
 * On, one trace follows a webhook: the API's request span, the Temporal client's signalWithStart
 * (its trace context travels in the Temporal headers), the organization workflow's handling of the
 * signal and its scheduling of the activity (the workflow interceptors in workflows/tracing.ts,
 * whose spans leave the workflow sandbox through a sink), the activity, and the transaction that
 * commits the event to the mirror. Spans go to the collector over OTLP/HTTP (JSON) in batches; the
SDK's own variables tune the rest (OTEL_EXPORTER_OTLP_HEADERS for a collector that wants a key,
OTEL_BSP_SCHEDULE_DELAY for how long spans wait to be sent, 5 s by default).
 *
 * No span attribute holds a secret or personal data, nor an organization id (which the metrics do
 * not carry either): Temporal's workflow id (`scim-org:<org id>`) is removed from the spans; the
 * run id is kept, to find the workflow in the Temporal UI.
 */
import type { Tracer } from '@opentelemetry/api';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { Config } from '../config/index';

export interface Tracing {
  /** scimflow's own spans (the API's requests). */
  tracer: Tracer;
  /** For every Temporal client of the process (`interceptors.workflow`). */
  clientInterceptors: WorkflowClientInterceptor[];
  /** For every Temporal worker of the process: the activities' spans. */
  activityInterceptor: ActivityInterceptorsFactory;
  /** The workflows' spans, from the sandbox to the exporter. */
  workflowSinks: InjectedSinks<OpenTelemetrySinks>;
  /** Sends the spans still waiting (tests; shutdown does it too). */
  flush(): Promise<void>;
  /** Sends the spans still waiting and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Used when OTEL_SERVICE_NAME is not set: scimflow-api, scimflow-worker. */
  defaultServiceName: string;
}

/**
 * Starts tracing when `settings` (Config['tracing']) says where spans go; undefined otherwise,
 * without loading anything.
 */
export async function startTracing(settings: Config['tracing'], options: TracingOptions): Promise<Tracing | undefined> {
  if (!settings) return undefined;
  const { startTracingSdk } = await import('./tracing-sdk');
  return startTracingSdk(settings, options);
}

/** What a worker without tracing registers: workflow spans (from a client with tracing on) are dropped. */
export const DROP_WORKFLOW_SPANS: InjectedSinks<OpenTelemetrySinks> = {
  exporter: { export: { fn: () => undefined, callDuringReplay: false } },
};

/** For the start-up line: where spans go (the collector's origin, never a key in the URL), or off. */
export function describeTracing(settings: Config['tracing']): string {
  if (!settings) return 'off';
  const url = new URL(settings.tracesUrl);
  return `OTLP to ${url.origin}${url.pathname}`;
}
