import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index';
import type { ReconcileCursor } from '../domain/reconcile';
import { reconcileTaskQueue, scalekitTaskQueue } from '../temporal/task-queues';

/**
 * Every activity option set the workflows use, named once. Retries are part of what a workflow
 * does when a step fails, so each set says why it retries the way it does.
 */

// Transient failures (database restarting) retry until they pass: events wait in the queue, in
// order, instead of being dropped. Retries are harmless thanks to the event ledger.
const untilItPasses = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' };

// Reconcile steps give up after a few minutes of failures (Scalekit down): the run is marked
// failed and the next scheduled one tries again.
const reconcileRetry = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 };

// Registering a new organization asks Scalekit for its name. It runs beside the main loop (events
// are applied meanwhile) and keeps trying until Scalekit answers, backing off to one try a minute.
// Unknown to Scalekit is an answer, not a failure.
const registrationRetry = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' };

/**
 * Applying a batch of events, keeping one in the ledger while the sync is paused, applying the kept
 * ones on resume. Heartbeat timeouts let a worker crash be noticed in seconds; the activities
 * heartbeat on a timer.
 */
export const eventSteps: ActivityOptions = { startToCloseTimeout: '2 minutes', heartbeatTimeout: '20 seconds', retry: untilItPasses };

/** Short bookkeeping of a run or a pause (a row read or written). */
export const bookkeeping: ActivityOptions = { startToCloseTimeout: '1 minute', retry: reconcileRetry };

/**
 * A role change re-resolves every user of the organization (as long as an apply may take); a
 * retry of quarantined events is bounded (500) but shares the policy.
 */
export const organizationChanges: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '20 seconds',
  retry: reconcileRetry,
};

/**
 * The activities that wait on Scalekit run on the Scalekit task queue, the reconcile plan and
 * apply steps on the reconcile queue (temporal/task-queues.ts): worker slots of their own, so an
 * event batch never waits for a slot behind a request that cannot succeed or a long import. The
 * queues follow the workflow's own, hence built from it.
 */
export function queuedSteps(taskQueue: string) {
  // If no worker polls a queue, the step fails (and so the run) instead of waiting for good.
  const step = { scheduleToStartTimeout: '10 minutes', retry: reconcileRetry } as const;
  const scalekit = { ...step, taskQueue: scalekitTaskQueue(taskQueue) };
  return {
    /** Opening a run. */
    openRun: { ...scalekit, startToCloseTimeout: '1 minute' } satisfies ActivityOptions,
    /** Reading a run's next pages. */
    readPages: { ...scalekit, startToCloseTimeout: '2 minutes', heartbeatTimeout: '15 seconds' } satisfies ActivityOptions,
    /** Planning and applying a run. */
    planAndApply: {
      ...step,
      taskQueue: reconcileTaskQueue(taskQueue),
      startToCloseTimeout: '15 minutes',
      heartbeatTimeout: '20 seconds',
    } satisfies ActivityOptions,
    /** Registering the organization and its schedules. */
    registration: { taskQueue: scalekit.taskQueue, startToCloseTimeout: '1 minute', retry: registrationRetry } satisfies ActivityOptions,
  };
}

/**
 * An activity that carries a one-line summary, made from its arguments, in its scheduled event:
 * what the Temporal UI lists for the step instead of its bare type. Counts and ids only, never
 * directory data. Scheduled exactly when a plain call would be (no await in between).
 */
function summarized<A extends unknown[], R>(
  activity: { executeWithOptions(options: ActivityOptions, args: A): Promise<R> },
  summary: (args: NoInfer<A>) => string,
): (...args: A) => Promise<R> {
  return (...args) => activity.executeWithOptions({ summary: summary(args) }, args);
}

const events = (n: number) => (n === 1 ? '1 event' : `${n} events`);

function fetchSummary(c: ReconcileCursor): string {
  const directories = c.directoryIds ?? [];
  const directory = directories.length > 1 ? `, directory ${(c.directoryIndex ?? 0) + 1} of ${directories.length}` : '';
  const read = c.phase === 'groups' ? c.groupsFetched : c.usersFetched;
  return `run ${c.runId}: read ${c.phase}${directory} (${read} so far, ${c.pages === 1 ? '1 page' : `${c.pages} pages`} in all)`;
}

/** What the organization workflow calls, for a workflow running on `taskQueue`. */
export function organizationActivities(taskQueue: string) {
  const queued = queuedSteps(taskQueue);
  const { applyDirectoryEvents, deferDirectoryEvents, applyDeferredEvents } = proxyActivities<Activities>(eventSteps);
  const { loadPlannedRun, finishSyncRun, recordSyncPause } = proxyActivities<Activities>(bookkeeping);
  const { changeRoleMappings, changeEmailPolicy, retryQuarantinedEvents } = proxyActivities<Activities>(organizationChanges);
  const { beginSyncRun } = proxyActivities<Activities>(queued.openRun);
  const { fetchDirectoryPages } = proxyActivities<Activities>(queued.readPages);
  const { planSyncRun, applySyncRun } = proxyActivities<Activities>(queued.planAndApply);
  const { ensureOrganizationSchedules } = proxyActivities<Activities>(queued.registration);
  const { searchAttributeRegistered } = proxyActivities<Activities>(bookkeeping);
  return {
    applyDirectoryEvents: summarized(applyDirectoryEvents, ([, batch]) => `apply ${events(batch.length)}`),
    deferDirectoryEvents: summarized(deferDirectoryEvents, ([, batch]) => `keep ${events(batch.length)} (sync paused)`),
    applyDeferredEvents: summarized(applyDeferredEvents, ([, limit]) => `apply up to ${events(limit)} kept during the pause`),
    loadPlannedRun: summarized(loadPlannedRun, ([, runId]) => `run ${runId}: load its plan for approval`),
    finishSyncRun: summarized(finishSyncRun, ([, runId, status]) => `run ${runId}: record it ${status}`),
    recordSyncPause: summarized(recordSyncPause, ([, pause]) => (pause ? 'record the pause' : 'record the resume')),
    changeRoleMappings: summarized(changeRoleMappings, ([, r]) => (r.dryRun ? 'preview a role change' : 'change roles')),
    changeEmailPolicy: summarized(changeEmailPolicy, ([, r]) =>
      r.dryRun ? 'preview the allowed e-mail domains' : 'set the allowed e-mail domains',
    ),
    retryQuarantinedEvents: summarized(retryQuarantinedEvents, ([, r]) =>
      r.eventIds ? `retry ${events(r.eventIds.length)} quarantined` : 'retry the quarantined events',
    ),
    beginSyncRun: summarized(
      beginSyncRun,
      ([, r]) => `open a ${r.kind}${r.dryRun ? ' dry' : ''} run (${r.trigger === 'import' ? 'import' : `asked by ${r.trigger}`})`,
    ),
    fetchDirectoryPages: summarized(fetchDirectoryPages, ([, cursor]) => fetchSummary(cursor)),
    planSyncRun: summarized(planSyncRun, ([, runId]) => `run ${runId}: plan`),
    applySyncRun: summarized(
      applySyncRun,
      ([, runId, replan]) => `run ${runId}: apply${replan !== false ? ' (planning again first)' : ''}`,
    ),
    ensureOrganizationSchedules: summarized(ensureOrganizationSchedules, () => 'register the organization and its schedules'),
    searchAttributeRegistered: summarized(searchAttributeRegistered, ([name]) => `is search attribute ${name} registered`),
  };
}

export type OrganizationActivities = ReturnType<typeof organizationActivities>;

/**
 * A retention step prunes for about 20 seconds in short batches, heartbeating; a crashed worker is
 * noticed within the heartbeat timeout and the step runs again (pruning what is due is idempotent).
 */
export const retentionStep: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
};

/** Recording what a retention run pruned. */
export const retentionRecord: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumAttempts: 5 },
};

/** A schedule asking an organization to reconcile. */
export const reconcileRequest: ActivityOptions = { startToCloseTimeout: '1 minute', retry: { maximumAttempts: 5 } };
