import { proxyActivities } from '@temporalio/workflow';
import type { ApplicationActivities, ChangeBatch, ChangeBatchResult } from '../../../contract/index';

/**
 * A stand-in for a delivery workflow: calls the application's activity by name on the
 * application's own task queue, as scimflow does, and returns its answer.
 */
export async function deliverToApplication(taskQueue: string, batch: ChangeBatch): Promise<ChangeBatchResult> {
  const application = proxyActivities<ApplicationActivities>({
    taskQueue,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '50 milliseconds', maximumAttempts: 5 },
  });
  return application.applyDirectoryChanges(batch);
}
