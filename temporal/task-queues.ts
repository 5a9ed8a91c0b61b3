/**
 * scimflow's task queues, each with worker slots of its own so one kind of work never waits
 * for a slot held by another:
 *
 * - The main one (TEMPORAL_TASK_QUEUE) runs the workflows and every short activity that needs only
 *   PostgreSQL or Temporal: applying and deferring events, retries of quarantined events, role
 *   changes, ending runs.
 * - `<queue>-scalekit` runs what waits on Scalekit: registering an organization, opening a
 *   reconcile run, reading directory pages. The organization workflow never waits for these in
 *   its main loop (they run beside it), so a slow or unreachable Scalekit holds up no event batch;
 *   registrations, which retry without limit, may take only a share of its slots (see
 *   registrationLimit) so the reconcile steps still find one.
 * - `<queue>-reconcile` runs the reconcile plan and apply steps: PostgreSQL only (the role
 *   assignments they need are recorded when the run opens), but a large import holds a database
 *   connection for minutes. They change the mirror, so the main loop waits for them like for a
 *   batch: on the main queue they could take every slot event batches need; on the Scalekit queue
 *   they would wait behind requests that Scalekit never answers.
 *
 * No imports: workflow code derives the queues from its own task queue with these functions too.
 */
export function scalekitTaskQueue(taskQueue: string): string {
  return `${taskQueue}-scalekit`;
}

export function reconcileTaskQueue(taskQueue: string): string {
  return `${taskQueue}-reconcile`;
}

/**
 * `<queue>-app` runs the signed HTTP pushes to the application (APP_WEBHOOK_URL): a slow or
 * unreachable application holds only this queue's slots, never the ones event batches need.
 */
export function pushTaskQueue(taskQueue: string): string {
  return `${taskQueue}-app`;
}

/** The activities that run on the push queue. */
export const PUSH_ACTIVITIES = ['pushDirectoryChanges'] as const;

/** The activities that run on the Scalekit queue (the workflows route them there). */
export const SCALEKIT_ACTIVITIES = ['ensureOrganizationSchedules', 'beginSyncRun', 'fetchDirectoryPages'] as const;

/** The activities that run on the reconcile queue. */
export const RECONCILE_ACTIVITIES = ['planSyncRun', 'applySyncRun'] as const;

/**
 * How many registrations may wait on Scalekit at once in a worker with `slots` activity slots: a
 * third of them, at least one. Registrations retry until Scalekit answers; hundreds of new
 * organizations during an outage would otherwise hold every slot the reconcile steps need.
 */
export function registrationLimit(slots: number): number {
  return Math.max(1, Math.floor(slots / 3));
}
