import { ApplicationFailure, log, proxyActivities, setHandler, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index';
import { retentionRecord, retentionStep } from './activities';
import { failureMessage } from './failures';
import { addCounts, emptyCounts, type RetentionReport, type RetentionRequest } from '../domain/retention';
import { retentionProgressQuery, retentionWorkflowId } from './retention-messages';

const { pruneRetentionStep } = proxyActivities<Activities>(retentionStep);
const { recordRetentionRun } = proxyActivities<Activities>(retentionRecord);

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
  if (report.error)
    throw ApplicationFailure.create({ message: `retention run failed: ${report.error}`, type: 'RetentionFailed', nonRetryable: true });
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
