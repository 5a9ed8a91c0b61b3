import {
  ApplicationFailure,
  log,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index';
import { failureMessage } from './failures';
import { addCounts, emptyCounts, type RetentionReport, type RetentionRequest } from '../domain/retention';
import { retentionProgressQuery, retentionWorkflowId } from './retention-messages';

// A step prunes for about 20 seconds in short batches, heartbeating; a crashed worker is noticed
// within the heartbeat timeout and the step runs again (pruning what is due is idempotent).
const { pruneRetentionStep } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});
const { recordRetentionRun } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumAttempts: 5 },
});

/** A run stops starting steps after this long; what is left goes to the next run. */
const RUN_BUDGET_MS = 30 * 60_000;
/** And after this many steps, which keeps the history small whatever the step length. */
const MAX_STEPS = 120;

/**
 * One retention run (`scimflow-retention:<task queue>`): bounded pruning steps until nothing is
 * due or the time budget is spent, then a record of what was pruned. A dry run counts instead.
 */
export async function retentionWorkflow(request: RetentionRequest): Promise<RetentionReport> {
  const report: RetentionReport = {
    trigger: request.trigger,
    dryRun: request.dryRun,
    startedAt: new Date().toISOString(),
    finishedAt: null,
    complete: false,
    steps: 0,
    counts: emptyCounts(),
    busyOrganizations: 0,
    periods: null,
    error: null,
  };
  setHandler(retentionProgressQuery, () => report);
  const deadline = Date.now() + RUN_BUDGET_MS;
  try {
    for (;;) {
      const step = await pruneRetentionStep({ dryRun: request.dryRun });
      report.steps += 1;
      report.counts = addCounts(report.counts, step.counts);
      report.busyOrganizations = Math.max(report.busyOrganizations, step.busyOrganizations);
      report.periods = step.periods;
      if (step.done) {
        report.complete = true;
        break;
      }
      if (Date.now() >= deadline || report.steps >= MAX_STEPS) break;
    }
  } catch (err) {
    report.error = failureMessage(err);
  }
  report.finishedAt = new Date().toISOString();
  await recordRetentionRun(report);
  if (report.error) throw ApplicationFailure.create({ message: `retention run failed: ${report.error}`, type: 'RetentionFailed', nonRetryable: true });
  return report;
}

/**
 * Started by the retention schedule. A Schedule appends a time to its workflows' ids, so this one
 * starts the run under the fixed id: a run started by hand meanwhile is left to finish, not doubled.
 */
export async function scheduledRetentionWorkflow(): Promise<RetentionReport | null> {
  try {
    const run = await startChild(retentionWorkflow, {
      workflowId: retentionWorkflowId(workflowInfo().taskQueue),
      args: [{ dryRun: false, trigger: 'schedule' }],
    });
    return await run.result();
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      log.info('a retention run is already in progress; this one is skipped');
      return null;
    }
    throw err;
  }
}
