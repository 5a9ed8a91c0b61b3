/**
 * The OpenTelemetry SDK side of observability/tracing.ts, loaded only when tracing is on. Its
 * packages are imported when it starts (the production build keeps them out of the start-up path:
 * a static import would be hoisted into dist/api.js and dist/worker.js).
 */
import type { Attributes, Context } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { OpenTelemetrySinks, SerializableSpan } from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks } from '@temporalio/worker';
import type { Config } from '../config/index';
import type { Tracing, TracingOptions } from './tracing';

/** Attributes never exported: Temporal's workflow id holds the organization id (`scim-org:<org id>`). */
const WITHHELD_ATTRIBUTES = ['temporalWorkflowId'];

function withoutWithheld(span: ReadableSpan): ReadableSpan {
  if (!WITHHELD_ATTRIBUTES.some((k) => k in span.attributes)) return span;
  const attributes: Attributes = { ...span.attributes };
  for (const k of WITHHELD_ATTRIBUTES) delete attributes[k];
  // The span as it is, but for its attributes.
  return Object.create(span, { attributes: { value: attributes, enumerable: true } }) as ReadableSpan;
}

/** Removes the withheld attributes from every span before it is exported. */
class WithholdingSpanProcessor implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}
  onStart(span: Span, context: Context): void {
    this.next.onStart(span, context);
  }
  onEnd(span: ReadableSpan): void {
    this.next.onEnd(withoutWithheld(span));
  }
  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}

/**
 * The workflows' spans, as the sandbox hands them over, to the processor. (Temporal's own
 * makeWorkflowExporter also copies the whole workflow info into each span's attributes: search
 * attributes, memo and workflow id included; this adds the workflow type and run id only.)
 */
function workflowSinks(processor: SpanProcessor, resource: Resource): InjectedSinks<OpenTelemetrySinks> {
  return {
    exporter: {
      export: {
        fn: (info, spans: SerializableSpan[]) => {
          for (const serialized of spans) {
            const { spanContext, ...rest } = serialized;
            const { traceState: _traceState, ...context } = spanContext;
            const span: ReadableSpan = {
              ...rest,
              attributes: { ...rest.attributes, temporalWorkflowType: info.workflowType, run_id: info.runId },
              spanContext: () => context,
              resource,
            };
            processor.onEnd(span);
          }
        },
        callDuringReplay: false,
      },
    },
  };
}

export async function startTracingSdk(settings: NonNullable<Config['tracing']>, options: TracingOptions): Promise<Tracing> {
  const [{ OTLPTraceExporter }, { Resource }, { BatchSpanProcessor }, { NodeTracerProvider }, { ATTR_SERVICE_NAME }, temporal] =
    await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/semantic-conventions'),
      import('@temporalio/interceptors-opentelemetry'),
    ]);
  const resource = new Resource({ [ATTR_SERVICE_NAME]: settings.serviceName ?? options.defaultServiceName });
  const processor = new WithholdingSpanProcessor(new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl })));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // The global tracer provider, context manager (AsyncLocalStorage) and W3C propagator.
  provider.register();
  return {
    tracer: provider.getTracer('scimflow'),
    clientInterceptors: [new temporal.OpenTelemetryWorkflowClientInterceptor()],
    activityInterceptor: (ctx) => ({
      inbound: new temporal.OpenTelemetryActivityInboundInterceptor(ctx),
      outbound: new temporal.OpenTelemetryActivityOutboundInterceptor(ctx),
    }),
    workflowSinks: workflowSinks(processor, resource),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
