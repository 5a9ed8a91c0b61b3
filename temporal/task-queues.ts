/**
 * scimflow's two task queues. The main one (TEMPORAL_TASK_QUEUE) runs the workflows and every
 * activity that only needs PostgreSQL or Temporal: applying and deferring events, retries of
 * quarantined events, role changes. Activities that wait on Scalekit (registering an
 * organization, opening a reconcile run, reading directory pages) and the reconcile plan and
 * apply steps that come with them run on a queue of their own, with their own worker slots, so a
 * slow or unreachable Scalekit never keeps an event batch waiting for a slot.
 *
 * No imports: workflow code derives the queue from its own task queue with this function too.
 */
export function scalekitTaskQueue(taskQueue: string): string {
  return `${taskQueue}-scalekit`;
}

/** The activities that run on the Scalekit queue (the workflows route them there). */
export const SCALEKIT_ACTIVITIES = ['ensureOrganizationSchedules', 'beginSyncRun', 'fetchDirectoryPages', 'planSyncRun', 'applySyncRun'] as const;

export type ScalekitActivityName = (typeof SCALEKIT_ACTIVITIES)[number];
