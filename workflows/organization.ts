import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index';
import type { QuarantineRetryRequest, QuarantineRetryResult } from '../domain/quarantine';
import type { ReconcileAccepted, ReconcileCursor, ReconcileOutcome, ReconcileRequest } from '../domain/reconcile';
import { roleChangeProblem, type RoleChangeRequest, type RoleChangeResult } from '../domain/roles';
import { failureMessage } from './failures';
import { reconcileTaskQueue, scalekitTaskQueue } from '../temporal/task-queues';
import {
  approveRunUpdate,
  changeRolesUpdate,
  cancelRunUpdate,
  pauseSyncUpdate,
  resumeSyncUpdate,
  retryQuarantinedUpdate,
  directoryEventSignal,
  reconcileSignal,
  startReconcileUpdate,
  statusQuery,
  type SyncPause,
} from './messages';
import { OrganizationState, type OrganizationWorkflowInput, type ScalekitStep, type ScalekitStepOutcome } from './organization-state';

// Heartbeat timeouts let a worker crash be noticed in seconds; the activities heartbeat on a timer.
const { applyDirectoryEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  // Transient failures (database restarting) retry until they pass: events wait in the queue,
  // in order, instead of being dropped. Retries are harmless thanks to the event ledger.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// While the sync is paused, batches are kept in the ledger; on resume they are applied from it.
// Same retry policy as applying: events wait, in order, until the database is back.
const { deferDirectoryEvents, applyDeferredEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Deferred events applied per step on resume: one batch, like a live one. */
const DEFERRED_BATCH = 250;

// Reconcile steps give up after a few minutes of failures (Scalekit down): the run is marked
// failed and the next scheduled one tries again.
const reconcileRetry = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 };
const { loadPlannedRun, finishSyncRun, recordSyncPause } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: reconcileRetry,
});
// A role change re-resolves every user of the organization (as long as an apply may take); a
// retry of quarantined events is bounded (500) but shares the policy.
const { changeRoleMappings, retryQuarantinedEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '20 seconds',
  retry: reconcileRetry,
});

// Registering a new organization asks Scalekit for its name. It runs beside the main loop (events
// are applied meanwhile) and keeps trying until Scalekit answers, backing off to one try a minute.
// Unknown to Scalekit is an answer, not a failure.
const registrationRetry = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' };

/**
 * The activities that wait on Scalekit run on the Scalekit task queue, the reconcile plan and
 * apply steps on the reconcile queue (temporal/task-queues.ts): worker slots of their own, so an
 * event batch never waits for a slot behind a request that cannot succeed or a long import. The
 * queues follow the workflow's own, hence built inside the workflow.
 */
function queuedActivities(taskQueue: string) {
  // If no worker polls a queue, the step fails (and so the run) instead of waiting for good.
  const step = { scheduleToStartTimeout: '10 minutes', retry: reconcileRetry } as const;
  const scalekit = { ...step, taskQueue: scalekitTaskQueue(taskQueue) };
  const { beginSyncRun } = proxyActivities<Activities>({ ...scalekit, startToCloseTimeout: '1 minute' });
  const { fetchDirectoryPages } = proxyActivities<Activities>({ ...scalekit, startToCloseTimeout: '2 minutes', heartbeatTimeout: '15 seconds' });
  const { planSyncRun, applySyncRun } = proxyActivities<Activities>({
    ...step,
    taskQueue: reconcileTaskQueue(taskQueue),
    startToCloseTimeout: '15 minutes',
    heartbeatTimeout: '20 seconds',
  });
  const { ensureOrganizationSchedules } = proxyActivities<Activities>({ taskQueue: scalekit.taskQueue, startToCloseTimeout: '1 minute', retry: registrationRetry });
  return { beginSyncRun, ensureOrganizationSchedules, fetchDirectoryPages, planSyncRun, applySyncRun };
}

/**
 * Opening a scheduled run and reading pages run beside the main loop, which keeps applying events
 * meanwhile. Runs recorded before awaited them in the loop, and keep doing so (same commands).
 */
const SCALEKIT_STEPS_BESIDE_LOOP = 'scalekit-steps-beside-loop';

/** A run the deprovision guard stopped waits this long for approve or cancel. */
const APPROVAL_WINDOW_HOURS = 24;

function approvalRemainingMs(c: ReconcileCursor): number {
  const since = c.awaitingSince ? Date.parse(c.awaitingSince) : Date.now();
  return Math.max(1, since + APPROVAL_WINDOW_HOURS * 3_600_000 - Date.now());
}

function approvalExpired(c: ReconcileCursor): boolean {
  return approvalRemainingMs(c) <= 1;
}

/** Refusals an operator can act on, with the activity's own message. */
function refusal(err: unknown): ApplicationFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return ApplicationFailure.create({ message: cause.message, type: cause.type ?? 'Refused', nonRetryable: true });
  return ApplicationFailure.create({ message: failureMessage(err), type: 'Refused', nonRetryable: true });
}

/**
 * One long-lived workflow per organization (`scim-org:<orgId>`): every directory change of the
 * organization is applied here, one batch at a time, in arrival order. Reconciliations advance one
 * bounded step at a time: the steps that wait on Scalekit (opening a scheduled run, reading pages)
 * beside the main loop, which keeps applying batches; plan and apply between batches. Events never
 * wait for a directory scan, nor for Scalekit.
 */
export async function organizationWorkflow(input: OrganizationWorkflowInput): Promise<void> {
  const state = new OrganizationState(input, new Date());
  const org = state.organizationId;
  const { beginSyncRun, ensureOrganizationSchedules, fetchDirectoryPages, planSyncRun, applySyncRun } = queuedActivities(workflowInfo().taskQueue);
  const besideLoop = patched(SCALEKIT_STEPS_BESIDE_LOOP);

  const outcome = (c: ReconcileCursor, status: ReconcileOutcome['status'], fields: Partial<ReconcileOutcome> = {}): ReconcileOutcome => ({
    runId: c.runId,
    kind: c.kind,
    dryRun: c.dryRun,
    status,
    finishedAt: new Date().toISOString(),
    plan: c.plan,
    result: null,
    error: null,
    ...fields,
  });

  setHandler(directoryEventSignal, (event) => {
    state.enqueue(event);
  });
  setHandler(statusQuery, () => state.status());
  setHandler(reconcileSignal, (request) => state.requestReconcile(request));

  setHandler(
    startReconcileUpdate,
    async (request: ReconcileRequest): Promise<ReconcileAccepted> => {
      state.reconcileStarting = true;
      try {
        const cursor = await beginSyncRun(org, request);
        state.reconcile = cursor;
        log.info('reconcile started', { runId: cursor.runId, kind: cursor.kind, dryRun: cursor.dryRun });
        return { runId: cursor.runId, kind: cursor.kind, dryRun: cursor.dryRun, snapshotAt: cursor.snapshotAt };
      } catch (err) {
        throw refusal(err);
      } finally {
        state.reconcileStarting = false;
      }
    },
    {
      validator: (request: ReconcileRequest) => {
        if (request.kind !== 'full' && request.kind !== 'delta') throw new Error(`unknown reconcile kind "${String(request.kind)}"`);
        if (!request.dryRun && state.deferring) throw new Error(pausedRefusal('a reconcile that changes data'));
        if (state.reconcileBusy) {
          const r = state.reconcile;
          throw new Error(
            r
              ? `a run is already in progress for ${org}: run ${r.runId} (${r.kind}, ${r.phase}); wait for it, or cancel it with: cancel ${org} ${r.runId}`
              : `a run is being started for ${org}; try again in a moment`,
          );
        }
      },
    },
  );

  setHandler(
    approveRunUpdate,
    async ({ runId }) => {
      const current = state.reconcile;
      if (current && current.runId === runId) {
        current.phase = 'apply';
        return { runId, status: 'applying' };
      }
      state.reconcileStarting = true;
      try {
        state.reconcile = await loadPlannedRun(org, runId);
        return { runId, status: 'applying' };
      } catch (err) {
        throw refusal(err);
      } finally {
        state.reconcileStarting = false;
      }
    },
    {
      validator: ({ runId }) => {
        if (state.deferring) throw new Error(pausedRefusal(`approving run ${runId}`));
        const r = state.reconcile;
        if (r && r.runId === runId && r.phase !== 'awaiting_approval') {
          throw new Error(`run ${runId} is not waiting for approval (it is in phase ${r.phase})`);
        }
        if ((r && r.runId !== runId) || state.opening) {
          throw new Error(`run ${r?.runId ?? '?'} is in progress for ${org}; approve ${runId} once it has finished`);
        }
      },
    },
  );

  setHandler(cancelRunUpdate, async ({ runId }) => {
    const current = state.reconcile;
    if (current && current.runId === runId) {
      current.cancelRequested = true;
      // The main loop ends the run at its next step boundary; a long plan or apply step may
      // finish first, so say what actually happened, or that the cancel is on its way.
      const ended = await condition(() => state.reconcile?.runId !== runId, '30 seconds');
      const last = state.lastReconcile;
      return { runId, status: ended && last?.runId === runId ? last.status : 'cancel_requested' };
    }
    try {
      await finishSyncRun(org, runId, 'cancelled', null);
    } catch (err) {
      throw refusal(err);
    }
    return { runId, status: 'cancelled' };
  });

  /** Handlers changing data right now (role changes, retries): a pause waits for them. */
  let changing = 0;

  setHandler(
    changeRolesUpdate,
    async (request: RoleChangeRequest): Promise<RoleChangeResult> => {
      if (!request.dryRun) changing += 1;
      try {
        const result = await changeRoleMappings(org, request);
        if (!request.dryRun) log.info('role mapping changed', { change: result.summary, usersChanged: result.usersChanged });
        return result;
      } catch (err) {
        throw refusal(err);
      } finally {
        if (!request.dryRun) changing -= 1;
      }
    },
    {
      validator: (request: RoleChangeRequest) => {
        const problem = roleChangeProblem(request.change);
        if (problem) throw new Error(problem);
        if (!request.dryRun && state.deferring) throw new Error(pausedRefusal('changing roles'));
      },
    },
  );

  function pausedRefusal(what: string): string {
    const p = state.paused;
    if (p) {
      return `the sync of ${org} is paused since ${p.since}${p.note ? ` (${p.note})` : ''}: ${what} waits until it is resumed (scimflow resume ${org}); a dry run is allowed`;
    }
    return `the sync of ${org} is applying the events deferred during its pause; ${what} can start once they are applied (scimflow status ${org})`;
  }

  setHandler(
    retryQuarantinedUpdate,
    async (request: QuarantineRetryRequest): Promise<QuarantineRetryResult> => {
      changing += 1;
      try {
        const result = await retryQuarantinedEvents(org, request);
        state.counters.applied += result.applied;
        state.counters.stale += result.stale;
        state.counters.quarantined -= Math.min(result.recovered, state.counters.quarantined);
        // The tables changed: a plan made before must be made again before it is applied.
        if (result.applied + result.stale > 0) {
          state.counters.batches += 1;
          state.counters.lastBatchAt = new Date().toISOString();
        }
        log.info('quarantined events retried', { tried: result.tried, applied: result.applied, stillQuarantined: result.stillQuarantined });
        return result;
      } catch (err) {
        throw refusal(err);
      } finally {
        changing -= 1;
      }
    },
    {
      validator: (request: QuarantineRetryRequest) => {
        const ids = request.eventIds;
        if (ids !== null && (!Array.isArray(ids) || ids.length === 0 || ids.length > 500 || ids.some((id) => typeof id !== 'string' || id.length === 0 || id.length > 200))) {
          throw new Error('expected between 1 and 500 event ids, or none for every quarantined event');
        }
        if (state.deferring) throw new Error(pausedRefusal('retrying quarantined events'));
      },
    },
  );

  /** A pause or resume is being recorded: a second one waits for it to finish. */
  let pauseTransition = false;

  setHandler(
    pauseSyncUpdate,
    async ({ note }) => {
      const pause = { since: new Date().toISOString(), note: note ?? null };
      pauseTransition = true;
      // From here on, batches are kept; the one being applied (if any) finishes first.
      state.paused = pause;
      // A scheduled run waiting to open would change data: skipped, as schedules are while paused.
      if (state.pendingReconcile && !state.pendingReconcile.dryRun) {
        state.pendingReconcile = null;
        state.reconcilesSkipped += 1;
      }
      try {
        const waiting = await recordSyncPause(org, pause);
        await condition(() => !state.applying && changing === 0);
        log.info('sync paused', { note: pause.note });
        return { paused: pause, deferred: waiting };
      } catch (err) {
        // Not paused after all; whatever was kept meanwhile is applied first, in order.
        if (state.paused === pause) {
          state.paused = null;
          state.resuming = true;
        }
        throw refusal(err);
      } finally {
        pauseTransition = false;
      }
    },
    {
      validator: ({ note }: { note: string | null }) => {
        if (note != null && (typeof note !== 'string' || note.length > 500)) throw new Error('the note must be a text of at most 500 characters');
        if (pauseTransition) throw new Error(`a pause or resume of ${org} is being recorded; try again in a moment`);
        if (state.paused) throw new Error(`the sync of ${org} is already paused since ${state.paused.since}; resume it with: scimflow resume ${org}`);
        const r = state.reconcile;
        if ((r && !r.dryRun) || state.opening) {
          throw new Error(
            r
              ? `run ${r.runId} (${r.kind}, ${r.phase}) is in progress for ${org}; wait for it or cancel it (scimflow cancel ${org} ${r.runId}), then pause`
              : `a run is being started for ${org}; try again in a moment`,
          );
        }
      },
    },
  );

  setHandler(
    resumeSyncUpdate,
    async () => {
      const pause = state.paused as SyncPause;
      pauseTransition = true;
      try {
        const deferred = await recordSyncPause(org, null);
        state.paused = null;
        state.resuming = true;
        log.info('sync resumed', { deferred });
        return { resumed: pause, deferred };
      } catch (err) {
        throw refusal(err);
      } finally {
        pauseTransition = false;
      }
    },
    {
      validator: () => {
        if (pauseTransition) throw new Error(`a pause or resume of ${org} is being recorded; try again in a moment`);
        if (!state.paused) throw new Error(`the sync of ${org} is not paused`);
      },
    },
  );

  /** One bounded step of the open run. */
  async function reconcileStep(c: ReconcileCursor): Promise<void> {
    // No activity failure may escape the main loop: that would fail the workflow and its queue.
    try {
      if (c.cancelRequested) {
        await finishSyncRun(org, c.runId, 'cancelled', null);
        state.endReconcile(outcome(c, 'cancelled'));
        return;
      }
      if (c.phase === 'awaiting_approval' && approvalExpired(c)) {
        const error = `not approved within ${APPROVAL_WINDOW_HOURS} hours; cancelled so that scheduled reconciles can run again`;
        log.warn('reconcile waiting for approval expired', { runId: c.runId });
        await finishSyncRun(org, c.runId, 'cancelled', error);
        state.endReconcile(outcome(c, 'cancelled', { error }));
        return;
      }
      if (c.phase === 'users' || c.phase === 'groups') {
        const next = await fetchDirectoryPages(org, c);
        // A cancel that arrived during the step still applies.
        state.reconcile = { ...next, cancelRequested: state.reconcile?.cancelRequested ?? false };
      } else if (c.phase === 'plan') {
        const plan = await planSyncRun(org, c.runId);
        c.plan = plan;
        c.batchesAtPlan = state.counters.batches;
        if (c.dryRun) state.endReconcile(outcome(c, 'planned', { plan }));
        else if (plan.needsApproval) {
          c.phase = 'awaiting_approval';
          c.awaitingSince = new Date().toISOString();
          log.warn('reconcile needs approval: it would deactivate too many users', {
            runId: c.runId,
            deactivate: plan.users.deactivate,
            activeUsers: plan.activeUsersBefore,
          });
        } else c.phase = 'apply';
      } else if (c.phase === 'apply') {
        // Plan again at apply only if events changed the tables since the plan.
        const result = await applySyncRun(org, c.runId, c.batchesAtPlan === undefined || c.batchesAtPlan !== state.counters.batches);
        state.recordRecovered(result.recoveredEvents ?? 0);
        state.endReconcile(outcome(c, 'completed', { result }));
        log.info('reconcile completed', { runId: c.runId, drift: result.drift });
      }
    } catch (err) {
      await failRun(c, failureMessage(err));
    }
  }

  async function failRun(c: ReconcileCursor, message: string): Promise<void> {
    log.error('reconcile failed', { runId: c.runId, error: message });
    try {
      await finishSyncRun(org, c.runId, 'failed', message);
    } catch {
      // The run row says what it says; the workflow's outcome below is what operators see.
    }
    state.endReconcile(outcome(c, 'failed', { error: message }));
  }

  function openFailed(request: ReconcileRequest, message: string): void {
    log.warn('scheduled reconcile could not start', { error: message });
    state.lastReconcile = {
      runId: '',
      kind: request.kind,
      dryRun: request.dryRun,
      status: 'failed',
      finishedAt: new Date().toISOString(),
      plan: null,
      result: null,
      error: message,
    };
  }

  /** Starts a step that waits on Scalekit beside the main loop; the loop takes its outcome. */
  function startBeside(step: ScalekitStep, run: () => Promise<ReconcileCursor>): void {
    state.startScalekitStep(step);
    // Never rejects: a failure is an outcome too.
    void run().then(
      (cursor) => state.finishScalekitStep({ ...step, cursor } as ScalekitStepOutcome),
      (err: unknown) => state.finishScalekitStep({ ...step, error: failureMessage(err) } as ScalekitStepOutcome),
    );
  }

  /** What a step beside the loop came back with, acted on in the loop (between batches). */
  async function takeOutcome(done: ScalekitStepOutcome): Promise<void> {
    if (done.kind === 'open') {
      if (done.cursor) {
        state.reconcile = done.cursor;
        log.info('reconcile started', { runId: done.cursor.runId, kind: done.cursor.kind, dryRun: done.cursor.dryRun });
      } else openFailed(done.request, done.error);
      return;
    }
    const c = state.reconcile;
    // Only the open run reads pages, and it ends only in the loop, after its step is back.
    if (!c || c.runId !== done.runId) return;
    // A cancel that arrived during the step still applies.
    if (done.cursor) state.reconcile = { ...done.cursor, cancelRequested: c.cancelRequested };
    else await failRun(c, done.error);
  }

  // First start of this organization: give it its reconcile schedules. This runs beside the main
  // loop and retries until Scalekit answers, so events are applied even while Scalekit is slow or
  // unreachable; a continue-as-new abandons it and the next run asks again.
  if (!state.schedulesEnsured) {
    void ensureOrganizationSchedules(org).then(
      (registration) => {
        // An id Scalekit does not know is asked again after the next continue-as-new.
        state.schedulesEnsured = registration !== 'unknown_organization';
      },
      (err: unknown) => {
        log.warn('could not create the reconcile schedules; the next run of this workflow tries again', { error: failureMessage(err) });
      },
    );
  }

  // A page read in flight is abandoned (the next run reads from the carried cursor again); a run
  // being opened is waited for.
  const canHandOver = () =>
    state.continueAsNewDue(workflowInfo().continueAsNewSuggested) &&
    state.canCarryQueue() &&
    state.canHandOverSteps &&
    !(state.reconcile?.cancelRequested ?? false);

  for (;;) {
    const waiting = state.reconcile?.phase === 'awaiting_approval' ? state.reconcile : null;
    const ready = () =>
      state.queued > 0 ||
      (state.resuming && !state.paused) ||
      state.reconcileRunnable ||
      state.scalekitOutcome !== null ||
      (state.pendingReconcile !== null && !state.reconcileBusy) ||
      canHandOver();
    // Only while a run waits for approval is there a timer: its approval window closing.
    const woke = waiting ? await condition(ready, approvalRemainingMs(waiting)) : (await condition(ready), true);
    if (woke === false && waiting && state.reconcile === waiting) await reconcileStep(waiting);
    if (state.queued > 0) {
      const batch = state.takeBatch();
      state.applying = true;
      if (state.deferring) {
        state.recordDeferred(await deferDirectoryEvents(org, batch));
      } else {
        const result = await applyDirectoryEvents(org, batch);
        state.recordBatch(result, new Date());
      }
      state.applying = false;
    }
    if (state.resuming && !state.paused) {
      // Deferred events in arrival order; events that arrived meanwhile were deferred behind them.
      state.applying = true;
      const result = await applyDeferredEvents(org, DEFERRED_BATCH);
      if (result.taken > 0) state.recordBatch(result, new Date());
      state.applying = false;
      if (result.remaining === 0 && state.queued === 0) {
        state.resuming = false;
        log.info('deferred events applied; sync is live again');
      }
    }
    const done = state.takeScalekitOutcome();
    if (done) await takeOutcome(done);
    if (state.pendingReconcile && state.deferring && !state.pendingReconcile.dryRun) {
      // Asked for before a pause, or carried over continue-as-new: skipped like a scheduled run.
      state.pendingReconcile = null;
      state.reconcilesSkipped += 1;
    }
    if (state.pendingReconcile && !state.reconcileBusy) {
      const request = state.pendingReconcile;
      state.pendingReconcile = null;
      if (besideLoop) startBeside({ kind: 'open', request }, () => beginSyncRun(org, request));
      else {
        state.reconcileStarting = true;
        try {
          state.reconcile = await beginSyncRun(org, request);
        } catch (err) {
          openFailed(request, failureMessage(err));
        } finally {
          state.reconcileStarting = false;
        }
      }
    }
    if (state.reconcile && state.reconcileRunnable) {
      const c = state.reconcile;
      const reading = !c.cancelRequested && (c.phase === 'users' || c.phase === 'groups');
      if (besideLoop && reading) startBeside({ kind: 'fetch', runId: c.runId }, () => fetchDirectoryPages(org, c));
      else await reconcileStep(c);
    }

    if (canHandOver()) {
      // A schedule registration or a page read still in flight is abandoned; the next run asks again.
      // A cancel that arrives while handlers finish is served by the loop first.
      await condition(() => allHandlersFinished() || (state.reconcile?.cancelRequested ?? false));
      if (canHandOver() && allHandlersFinished()) {
        await continueAsNew<typeof organizationWorkflow>(state.toContinueAsNewInput());
      }
    }
  }
}
