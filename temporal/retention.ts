import {
  ScheduleAlreadyRunning,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetentionReport, RetentionRequest } from '../domain/retention';
import type { Logger } from '../observability/logger';
import { describeSchedule, scheduleOffsetMs, type ScheduleDescription } from './schedules';
import {
  RETENTION_WORKFLOW_TYPE,
  retentionProgressQuery,
  retentionScheduleId,
  retentionWorkflowId,
  SCHEDULED_RETENTION_WORKFLOW_TYPE,
} from '../workflows/retention-messages';
import { cliPrefix } from '../domain/cli-command';

/**
 * The retention schedule: one per task queue (not per organization), made at worker start. It
 * starts a small workflow that starts the retention run under its fixed id.
 */

export interface RetentionScheduleSettings {
  taskQueue: string;
  /** How often it runs, e.g. 1h. */
  interval: string;
}

/** Creates the schedule, or brings an existing one's interval and action up to date (idempotent). */
export async function ensureRetentionSchedule(client: Client, s: RetentionScheduleSettings): Promise<'created' | 'updated'> {
  const scheduleId = retentionScheduleId(s.taskQueue);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: SCHEDULED_RETENTION_WORKFLOW_TYPE,
    taskQueue: s.taskQueue,
    args: [],
    workflowId: `scimflow-retention-scheduled:${s.taskQueue}`,
  };
  // At its own moment in the interval (from its id), not at the top of the hour.
  const spec = { intervals: [{ every: s.interval, offset: scheduleOffsetMs(scheduleId, s.interval) }] };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      // A run still going when the next is due is not doubled; one missed in an outage runs once.
      policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
      state: { note: `retention of events, sync runs and deactivated users (${cliPrefix()} retention status)` },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    // The interval may have changed; a pause an operator set (and its note) stays as it is.
    await client.schedule.getHandle(scheduleId).update((previous) => ({
      ...previous,
      spec,
      action,
      policies: { ...previous.policies, overlap: 'SKIP' },
    }));
    return 'updated';
  }
}

export interface KeepTrying {
  logger: Logger;
  /** Stops trying (the worker is shutting down). */
  signal: AbortSignal;
  /** The wait after the first failure, doubled after each until `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** What went wrong, for telling one failure from another: the error's type and status code. */
function failureKind(err: unknown): string {
  const e = err as { name?: string; code?: unknown; cause?: { name?: string; code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return [e?.name ?? typeof err, e?.cause?.name, code].filter((part) => part !== undefined && part !== '').join(':');
}

/**
 * `ensureRetentionSchedule` until it succeeds, in the background: the worker does not wait for it
 * (directory sync does not depend on retention), and a Temporal that was not ready when the worker
 * started (the namespace not made yet, the frontend restarting) gets its schedule once it is.
 * Tries again with backoff; each kind of failure is logged once, so a long outage does not fill
 * the log. Resolves with the outcome, or null when `signal` aborts first.
 */
export async function keepEnsuringRetentionSchedule(
  client: Client,
  s: RetentionScheduleSettings,
  o: KeepTrying,
): Promise<'created' | 'updated' | null> {
  const maxDelayMs = o.maxDelayMs ?? 5 * 60_000;
  let delayMs = o.initialDelayMs ?? 1_000;
  const logged = new Set<string>();
  for (let attempt = 1; ; attempt += 1) {
    if (o.signal.aborted) return null;
    try {
      const outcome = await ensureRetentionSchedule(client, s);
      o.logger.info(`retention schedule ${outcome}`, { interval: s.interval, ...(attempt > 1 ? { attempts: attempt } : {}) });
      return outcome;
    } catch (err) {
      if (o.signal.aborted) return null;
      const kind = failureKind(err);
      if (!logged.has(kind)) {
        logged.add(kind);
        // The retention metrics show it too (the last run's age).
        o.logger.error('could not create the retention schedule; nothing is pruned until it exists. Trying again in the background', {
          error: err as Error,
          kind,
          attempt,
        });
      }
    }
    try {
      await sleep(delayMs, undefined, { signal: o.signal });
    } catch {
      return null;
    }
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }
}

export type RetentionScheduleState = ScheduleDescription;

export async function describeRetentionSchedule(client: Client, taskQueue: string): Promise<RetentionScheduleState> {
  return describeSchedule(client, retentionScheduleId(taskQueue));
}

/**
 * Starts a retention run now under the fixed id, or, when one is already going, returns that one
 * (`started: false`): two runs never overlap.
 */
export async function startRetentionRun(
  client: Client,
  taskQueue: string,
  request: RetentionRequest,
): Promise<{ handle: WorkflowHandle; started: boolean }> {
  const workflowId = retentionWorkflowId(taskQueue);
  try {
    const handle = await client.workflow.start(RETENTION_WORKFLOW_TYPE, { workflowId, taskQueue, args: [request] });
    return { handle, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle(workflowId), started: false };
  }
}

/** The run's progress so far, or null when it cannot be asked (not started yet, or gone). */
export async function retentionProgress(handle: WorkflowHandle): Promise<RetentionReport | null> {
  try {
    return await handle.query(retentionProgressQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}
