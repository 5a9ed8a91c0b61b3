/**
 * OpenTelemetry tracing in the workflows: Temporal's interceptors, always in the workflow bundle
 * (the one built ahead of time and the one bundled at start), and active only for what arrives
 * with a trace context in its Temporal headers (put there by a client with tracing on, see
 * observability/tracing.ts). What arrives without one runs exactly as without these interceptors:
 * no span, no SDK flag, no extra step. Whether a call is traced is read from the history itself,
 * so a history replays the same whatever the worker's tracing setting.
 *
 * The organization workflow applies events in its main loop, not in the signal handler that
 * receives them: the batch's activity is traced under the signal of its first traced event, so a
 * webhook's trace goes on to the activity that applies its event (and its commit), even when the
 * workflow was started long before by another webhook.
 *
 * Spans leave the workflow through the `exporter` sink (the worker's; a worker without tracing
 * registers one that drops them).
 */
import * as otel from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import type { Headers } from '@temporalio/common';
import type { ActivityInput, WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { directoryEventSignal } from './messages';

/** The activities that take a batch of events, as their second argument. */
const BATCH_ACTIVITIES = new Set(['applyDirectoryEvents', 'deferDirectoryEvents']);

/** Trace contexts of events received and not yet handed to an activity (bounded: the oldest go first). */
const MAX_REMEMBERED_EVENTS = 2_000;

const traced = (headers: Headers): boolean => headers[TRACE_HEADER] !== undefined;

/** True inside a traced call (a span is current). */
const inSpan = (): boolean => otel.trace.getSpan(otel.context.active()) !== undefined;

export const interceptors: WorkflowInterceptorsFactory = () => {
  const inbound = new OpenTelemetryInboundInterceptor();
  const outbound = new OpenTelemetryOutboundInterceptor();
  const eventContexts = new Map<string, otel.Context>();

  const remember = (eventId: string): void => {
    eventContexts.delete(eventId);
    eventContexts.set(eventId, otel.context.active());
    if (eventContexts.size > MAX_REMEMBERED_EVENTS) eventContexts.delete(eventContexts.keys().next().value!);
  };

  /** The trace context of the first traced event of a batch activity (the others' are forgotten). */
  const batchContext = (input: ActivityInput): otel.Context | undefined => {
    if (!BATCH_ACTIVITIES.has(input.activityType)) return undefined;
    const batch = input.args[1];
    if (!Array.isArray(batch)) return undefined;
    let found: otel.Context | undefined;
    for (const event of batch as { id?: unknown }[]) {
      if (typeof event?.id !== 'string') continue;
      found ??= eventContexts.get(event.id);
      eventContexts.delete(event.id);
    }
    return found;
  };

  return {
    inbound: [
      {
        execute: (input, next) => (traced(input.headers) ? inbound.execute(input, next) : next(input)),
        handleSignal: (input, next) => {
          if (!traced(input.headers)) return next(input);
          return inbound.handleSignal(input, (signal) => {
            const eventId = (signal.args[0] as { id?: unknown } | undefined)?.id;
            if (signal.signalName === directoryEventSignal.name && typeof eventId === 'string') remember(eventId);
            return next(signal);
          });
        },
        handleUpdate: (input, next) => (traced(input.headers) ? inbound.handleUpdate(input, next) : next(input)),
        validateUpdate: (input, next) => (traced(input.headers) ? inbound.validateUpdate(input, next) : next(input)),
        // Queries are not traced in the workflow (the client's span shows them).
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => {
          const parent = batchContext(input) ?? (inSpan() ? otel.context.active() : undefined);
          return parent ? otel.context.with(parent, () => outbound.scheduleActivity(input, next)) : next(input);
        },
        scheduleLocalActivity: (input, next) => (inSpan() ? outbound.scheduleLocalActivity(input, next) : next(input)),
        startChildWorkflowExecution: (input, next) => (inSpan() ? outbound.startChildWorkflowExecution(input, next) : next(input)),
        // Each run of a long-lived workflow starts untraced: a trace does not go on for the life of
        // the organization.
        continueAsNew: (input, next) => next(input),
        signalWorkflow: (input, next) => (inSpan() ? outbound.signalWorkflow(input, next) : next(input)),
        // Workflow log lines carry trace_id and span_id inside a traced call.
        getLogAttributes: (input, next) => outbound.getLogAttributes(input, next),
      },
    ],
    internals: [new OpenTelemetryInternalsInterceptor()],
  };
};
