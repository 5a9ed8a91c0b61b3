import { defineQuery } from '@temporalio/workflow';
import type { RetentionReport } from '../domain/retention';

/**
 * Retention's workflow ids, types and query, shared by the worker, the schedule and the CLI.
 * One retention schedule and one retention workflow id per task queue (a deployment): a run
 * started by hand and a scheduled one can never overlap.
 */

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
export const SCHEDULED_RETENTION_WORKFLOW_TYPE = 'scheduledRetentionWorkflow';

export function retentionWorkflowId(taskQueue: string): string {
  return `scimflow-retention:${taskQueue}`;
}

export function retentionScheduleId(taskQueue: string): string {
  return `scimflow-retention:${taskQueue}`;
}

/** The run so far: counts by kind, steps, whether it has finished. */
export const retentionProgressQuery = defineQuery<RetentionReport>('retentionProgress');
