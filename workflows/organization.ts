import { allHandlersFinished, condition, continueAsNew, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { organizationActivities } from './activities';
import { failureMessage } from './failures';
import {
  approveRunUpdate,
  changeRolesUpdate,
  setEmailPolicyUpdate,
  cancelRunUpdate,
  pauseSyncUpdate,
  resumeSyncUpdate,
  retryQuarantinedUpdate,
  continueAsNewSignal,
  directoryEventSignal,
  reconcileSignal,
  startReconcileUpdate,
  statusQuery,
  SCIM_STATE,
} from './messages';
import { approvalRemainingMs, DEFERRED_BATCH, OrganizationEntity } from './organization-entity';
import type { OrganizationWorkflowInput } from './organization-state';
import { OrganizationView } from './organization-view';

/**
 * Opening a scheduled run and reading pages run beside the main loop, which keeps applying events
 * meanwhile. Runs recorded before awaited them in the loop, and keep doing so (same commands).
 */
const SCALEKIT_STEPS_BESIDE_LOOP = 'scalekit-steps-beside-loop';

/** The `ScimState` search attribute follows the state (its upserts are commands runs recorded before lack). */
const STATE_SEARCH_ATTRIBUTE = 'state-search-attribute';

/**
 * One long-lived workflow per organization (`scim-org:<orgId>`): every directory change of the
 * organization is applied here, one batch at a time, in arrival order. Reconciliations advance one
 * bounded step at a time: the steps that wait on Scalekit (opening a scheduled run, reading pages)
 * beside the main loop, which keeps applying batches; plan and apply between batches. Events never
 * wait for a directory scan, nor for Scalekit.
 *
 * What each message does is in OrganizationEntity; the loop below awaits activities inline, as it
 * always did, so that recorded histories replay (see the note on OrganizationEntity).
 */
export async function organizationWorkflow(input: OrganizationWorkflowInput): Promise<void> {
  const activities = organizationActivities(workflowInfo().taskQueue);
  const entity = new OrganizationEntity(input, activities, patched(SCALEKIT_STEPS_BESIDE_LOOP));
  const { state, org } = entity;
  const view = new OrganizationView(state, patched(STATE_SEARCH_ATTRIBUTE));

  setHandler(directoryEventSignal, (event) => entity.enqueue(event));
  setHandler(statusQuery, () => entity.status());
  setHandler(reconcileSignal, (request) => entity.requestReconcile(request));
  setHandler(continueAsNewSignal, () => entity.requestHandOver());
  setHandler(startReconcileUpdate, (request) => entity.startReconcile(request), {
    validator: (request) => entity.validateStartReconcile(request),
  });
  setHandler(approveRunUpdate, (request) => entity.approveRun(request), { validator: (request) => entity.validateApproveRun(request) });
  setHandler(cancelRunUpdate, (request) => entity.cancelRun(request));
  setHandler(changeRolesUpdate, (request) => entity.changeRoles(request), { validator: (request) => entity.validateChangeRoles(request) });
  setHandler(setEmailPolicyUpdate, (request) => entity.setEmailPolicy(request), {
    validator: (request) => entity.validateSetEmailPolicy(request),
  });
  setHandler(retryQuarantinedUpdate, (request) => entity.retryQuarantined(request), {
    validator: (request) => entity.validateRetryQuarantined(request),
  });
  setHandler(pauseSyncUpdate, (request) => view.around(entity.pauseSync(request)), {
    validator: (request) => entity.validatePauseSync(request),
  });
  setHandler(resumeSyncUpdate, () => view.around(entity.resumeSync()), { validator: () => entity.validateResumeSync() });

  entity.ensureSchedules();
  if (view.upserts) {
    // Beside the loop, like the registration: events are applied meanwhile.
    void activities.searchAttributeRegistered(SCIM_STATE.name).then(
      (registered) => registered && view.enableSearch(),
      (err: unknown) => log.warn('could not tell whether the namespace has the ScimState search attribute', { error: failureMessage(err) }),
    );
  }

  for (;;) {
    view.refresh();
    // Only while a run waits for approval is there a timer: its approval window closing.
    const waiting = entity.awaitingApproval;
    const woke = waiting
      ? await condition(() => entity.hasWork(), approvalRemainingMs(waiting))
      : (await condition(() => entity.hasWork()), true);
    if (woke === false && waiting && state.reconcile === waiting) await entity.reconcileStep(waiting);
    if (state.queued > 0) {
      const batch = state.takeBatch();
      state.applying = true;
      view.refresh();
      if (state.deferring) state.recordDeferred(await activities.deferDirectoryEvents(org, batch));
      else state.recordBatch(await activities.applyDirectoryEvents(org, batch), new Date());
      state.applying = false;
    }
    if (state.resuming && !state.paused) {
      // Deferred events in arrival order; events that arrived meanwhile were deferred behind them.
      state.applying = true;
      view.refresh();
      entity.deferredApplied(await activities.applyDeferredEvents(org, DEFERRED_BATCH));
    }
    const done = state.takeScalekitOutcome();
    if (done) await entity.takeOutcome(done);
    entity.skipPendingWhilePaused();
    const request = entity.takePendingReconcile();
    if (request && entity.besideLoop) entity.openBeside(request);
    else if (request) {
      // Runs recorded before opening went beside the loop open the run here.
      state.reconcileStarting = true;
      try {
        state.reconcile = await activities.beginSyncRun(org, request);
      } catch (err) {
        entity.openFailed(request, failureMessage(err));
      } finally {
        state.reconcileStarting = false;
      }
    }
    const run = state.reconcileRunnable ? state.reconcile : null;
    if (run && entity.readsBeside(run)) entity.readBeside(run);
    else if (run) {
      view.refresh();
      await entity.reconcileStep(run);
    }

    if (entity.nothingToKeep()) {
      await condition(allHandlersFinished);
      if (entity.nothingToKeep()) return;
    }

    if (entity.canHandOver()) {
      // A schedule registration or a page read still in flight is abandoned; the next run asks again.
      // A cancel that arrives while handlers finish is served by the loop first.
      await condition(() => allHandlersFinished() || (state.reconcile?.cancelRequested ?? false));
      if (entity.canHandOver() && allHandlersFinished()) {
        await continueAsNew<typeof organizationWorkflow>(state.toContinueAsNewInput());
      }
    }
  }
}
