import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { Knex } from 'knex';
import { fileURLToPath } from 'node:url';
import { createActivities, pickActivities, type ActivityDeps } from '../activities/index';
import { activityMetrics } from './activity-metrics';
import { DROP_WORKFLOW_SPANS, type Tracing } from '../observability/tracing';
import {
  PUSH_ACTIVITIES,
  pushTaskQueue,
  RECONCILE_ACTIVITIES,
  reconcileTaskQueue,
  registrationLimit,
  SCALEKIT_ACTIVITIES,
  scalekitTaskQueue,
} from '../temporal/task-queues';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/**
 * The workflow interceptors, in every bundle (built ahead of time, at start, or by tests): they
 * trace only calls that arrive with a trace context (workflows/tracing.ts).
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [fileURLToPath(new URL('../workflows/tracing.ts', import.meta.url))];

/** What bundleWorkflowCode needs to bundle the workflows as the worker runs them. */
export const WORKFLOW_BUNDLE_OPTIONS = { workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES };

/** Defaults of WORKER_ACTIVITY_SLOTS, WORKER_SCALEKIT_SLOTS and WORKER_RECONCILE_SLOTS. */
export const DEFAULT_ACTIVITY_SLOTS = 20;
export const DEFAULT_SCALEKIT_SLOTS = 10;
export const DEFAULT_RECONCILE_SLOTS = 4;
/** Pushes to the application at once (when APP_WEBHOOK_URL is set). */
export const DEFAULT_PUSH_SLOTS = 10;

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The main task queue; the Scalekit and reconcile queues are derived from it (temporal/task-queues.ts). */
  taskQueue: string;
  activities: ActivityDeps;
  /** A prebundled workflow bundle (tests bundle once per file); otherwise bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  shutdownGraceTime?: string;
  /** Encrypts payloads (see temporal/codec.ts); the same for the worker and every client. */
  dataConverter?: DataConverter;
  /** Activities run at once on the main task queue. */
  activitySlots?: number;
  /** Activities run at once on the Scalekit queue; 0: this process does not poll it. */
  scalekitSlots?: number;
  /** A database pool for the Scalekit queue's activities; default: the main one. */
  scalekitDb?: Knex;
  /** Activities run at once on the reconcile queue (plans and applies); 0: this process does not poll it. */
  reconcileSlots?: number;
  /** A database pool for the reconcile queue's activities (they hold a connection for long); default: the main one. */
  reconcileDb?: Knex;
  /** Pushes to the application run at once on the push queue (polled when `activities.push` is set). */
  pushSlots?: number;
  /** Tracing, when it is on (observability/tracing.ts): the activities' spans and the workflows' sink. */
  tracing?: Pick<Tracing, 'activityInterceptor' | 'workflowSinks'>;
}

/**
 * The worker process's Temporal workers, run and stopped together: the main task queue
 * (workflows; applying events and everything else short that needs only PostgreSQL or Temporal),
 * the Scalekit queue (activities that wait on Scalekit), the reconcile queue (plans and
 * applies) and, with signed HTTP push on, the push queue, each with its own activity slots.
 */
export class ScimflowWorker {
  constructor(
    readonly main: Worker,
    readonly scalekit: Worker | undefined,
    readonly reconcile: Worker | undefined = undefined,
    readonly push: Worker | undefined = undefined,
  ) {}

  private get workers(): Worker[] {
    return [this.main, this.scalekit, this.reconcile, this.push].filter((w): w is Worker => w !== undefined);
  }

  /** Runs until shut down; when one worker fails, the other is stopped too and the failure thrown. */
  async run(): Promise<void> {
    const results = await Promise.allSettled(
      this.workers.map((w) =>
        w.run().catch((err: unknown) => {
          this.shutdown();
          throw err;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Starts a graceful shutdown of all (in-flight activities get the grace time); safe to call twice. */
  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }
}

export async function createWorker(options: WorkerOptions): Promise<ScimflowWorker> {
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    // Let in-flight batches finish on deploys instead of abandoning them.
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
    interceptors: {
      // Tracing first: the metrics' interceptor (and the activity) run inside the activity's span.
      activity: [
        ...(options.tracing ? [options.tracing.activityInterceptor] : []),
        ...(options.activities.metrics ? [activityMetrics(options.activities.metrics)] : []),
      ],
      // Only when the worker bundles the workflows itself; a bundle built ahead of time has them.
      ...(options.workflowBundle ? {} : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }),
    },
    // The workflows' spans: exported, or dropped when this worker does not trace.
    sinks: options.tracing?.workflowSinks ?? DROP_WORKFLOW_SPANS,
  };
  const activitySlots = options.activitySlots ?? DEFAULT_ACTIVITY_SLOTS;
  const main = await Worker.create({
    ...common,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    // Every activity, Scalekit ones included: tasks scheduled on this queue by an earlier version
    // (before the other queues existed) still find a worker.
    activities: createActivities({ ...options.activities, registrationLimit: registrationLimit(activitySlots) }),
    maxConcurrentActivityTaskExecutions: activitySlots,
  });
  const slots = options.scalekitSlots ?? DEFAULT_SCALEKIT_SLOTS;
  const scalekit =
    slots > 0
      ? await Worker.create({
          ...common,
          taskQueue: scalekitTaskQueue(options.taskQueue),
          // Plans and applies too: an earlier version scheduled them on this queue.
          activities: pickActivities(
            createActivities({
              ...options.activities,
              db: options.scalekitDb ?? options.activities.db,
              registrationLimit: registrationLimit(slots),
            }),
            [...SCALEKIT_ACTIVITIES, ...RECONCILE_ACTIVITIES],
          ),
          maxConcurrentActivityTaskExecutions: slots,
        })
      : undefined;
  const reconcileSlots = options.reconcileSlots ?? DEFAULT_RECONCILE_SLOTS;
  const reconcile =
    reconcileSlots > 0
      ? await Worker.create({
          ...common,
          taskQueue: reconcileTaskQueue(options.taskQueue),
          activities: pickActivities(
            createActivities({ ...options.activities, db: options.reconcileDb ?? options.activities.db }),
            RECONCILE_ACTIVITIES,
          ),
          maxConcurrentActivityTaskExecutions: reconcileSlots,
        })
      : undefined;
  const pushSlots = options.pushSlots ?? DEFAULT_PUSH_SLOTS;
  const push =
    options.activities.push && pushSlots > 0
      ? await Worker.create({
          ...common,
          taskQueue: pushTaskQueue(options.taskQueue),
          activities: pickActivities(createActivities(options.activities), PUSH_ACTIVITIES),
          maxConcurrentActivityTaskExecutions: pushSlots,
        })
      : undefined;
  return new ScimflowWorker(main, scalekit, reconcile, push);
}
