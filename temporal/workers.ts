import type { Client } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { reconcileTaskQueue, scalekitTaskQueue } from './task-queues';

/**
 * Whether a worker is alive, as Temporal sees it: the pollers of scimflow's task queues. A worker
 * keeps a poll open on each queue it serves; Temporal lists a poller for a few minutes after its
 * last poll (5 by default), so an empty list means no worker has asked for work lately. The
 * worker has no endpoint of its own: this is how `status` and /readyz's details notice one is gone.
 */

/**
 * A poller last seen longer ago than this has stopped: a live worker's long poll returns within
 * about a minute and it polls again at once, while Temporal keeps listing a gone one for minutes.
 */
export const POLLER_STALE_AFTER_MS = 2 * 60_000;

export interface QueuePollers {
  taskQueue: string;
  type: 'workflow' | 'activity';
  /** Pollers seen within POLLER_STALE_AFTER_MS. */
  pollers: number;
  /** The most recent poll of any of them. */
  lastSeenAt: string | null;
}

export interface WorkerPresence {
  /** Some worker polls the main queue for workflow tasks and for activity tasks (seen within POLLER_STALE_AFTER_MS). */
  polling: boolean;
  /** The most recent poll on the main queue. */
  lastSeenAt: string | null;
  queues: QueuePollers[];
}

const { TaskQueueType, TaskQueueKind } = proto.temporal.api.enums.v1;

async function pollers(client: Client, taskQueue: string, type: 'workflow' | 'activity'): Promise<QueuePollers> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: type === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  const seen = (res.pollers ?? []).map((p) => optionalTsToDate(p.lastAccessTime)?.getTime()).filter((t): t is number => t !== undefined);
  return {
    taskQueue,
    type,
    pollers: seen.filter((t) => Date.now() - t < POLLER_STALE_AFTER_MS).length,
    lastSeenAt: seen.length > 0 ? new Date(Math.max(...seen)).toISOString() : null,
  };
}

/**
 * The pollers of the main queue (workflow and activity tasks) and of its Scalekit and reconcile
 * queues (activity tasks; a deployment may serve those from another process).
 */
export async function workerPresence(client: Client, taskQueue: string): Promise<WorkerPresence> {
  const queues = await Promise.all([
    pollers(client, taskQueue, 'workflow'),
    pollers(client, taskQueue, 'activity'),
    pollers(client, scalekitTaskQueue(taskQueue), 'activity'),
    pollers(client, reconcileTaskQueue(taskQueue), 'activity'),
  ]);
  const main = queues.slice(0, 2);
  const seen = main.map((q) => q.lastSeenAt).filter((t): t is string => t !== null);
  return {
    polling: main.every((q) => q.pollers > 0),
    lastSeenAt: seen.length > 0 ? seen.sort().at(-1)! : null,
    queues,
  };
}
