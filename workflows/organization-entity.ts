import { ActivityFailure, ApplicationFailure, condition, log, patched, workflowInfo } from '@temporalio/workflow';
import type { DirectoryEvent } from '../domain/events';
import type { QuarantineRetryRequest, QuarantineRetryResult } from '../domain/quarantine';
import type { ReconcileAccepted, ReconcileCursor, ReconcileOutcome, ReconcileRequest } from '../domain/reconcile';
import { roleChangeProblem, type RoleChangeRequest, type RoleChangeResult } from '../domain/roles';
import { allowedDomainsShapeProblem } from '../domain/email-policy-shape';
import type { EmailPolicyRequest, EmailPolicyResult } from '../domain/email-policy';
import type { OrganizationActivities } from './activities';
import { failureMessage } from './failures';
import type { OrganizationSyncStatus, SyncPause } from './messages';
import { OrganizationState, type OrganizationWorkflowInput, type ScalekitStep, type ScalekitStepOutcome } from './organization-state';
import { cliPrefix } from '../domain/cli-command';

/** Deferred events applied per step on resume: one batch, like a live one. */
export const DEFERRED_BATCH = 250;

/** A run the deprovision guard stopped waits this long for approve or cancel. */
const APPROVAL_WINDOW_HOURS = 24;

/**
 * A role change or a retry of quarantined events that arrives while another one changes data
 * waits for it (OrganizationState.changes). Runs recorded before ran them side by side, and keep
 * doing so (same commands): the patch is asked for only when the lock is held, and a free lock is
 * taken synchronously, so a change that waits for no one schedules its activity as it always did.
 */
const ONE_CHANGE_AT_A_TIME = 'one-change-at-a-time';

/**
 * A workflow started for an id nobody knows (not registered, unknown to Scalekit: a typo in a
 * command whose refusal started it) ends by itself once it has nothing to do. Runs recorded before
 * stayed; the patch is asked for only when the registration says so.
 */
export const END_WHEN_UNKNOWN = 'end-when-unknown';

export function approvalRemainingMs(c: ReconcileCursor): number {
  const since = c.awaitingSince ? Date.parse(c.awaitingSince) : Date.now();
  return Math.max(1, since + APPROVAL_WINDOW_HOURS * 3_600_000 - Date.now());
}

function approvalExpired(c: ReconcileCursor): boolean {
  return approvalRemainingMs(c) <= 1;
}

/** Refusals an operator can act on, with the activity's own message. */
function refusal(err: unknown): ApplicationFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return ApplicationFailure.create({ message: cause.message, type: cause.type ?? 'Refused', nonRetryable: true });
  return ApplicationFailure.create({ message: failureMessage(err), type: 'Refused', nonRetryable: true });
}

/**
 * One organization, as its workflow sees it: the state (OrganizationState), what each signal,
 * update and query does to it, and the steps the main loop takes. The workflow function only wires
 * handlers to these methods and runs the loop.
 *
 * Determinism: every method keeps the await structure the handlers and the loop had when they were
 * written inline (each activity is scheduled at the same point, each flag changes in the same
 * step), so recorded histories replay. Keep it so: wrapping an awaited call in one more async
 * layer changes when the code after it runs.
 */
export class OrganizationEntity {
  readonly state: OrganizationState;
  readonly org: string;
  /** Neither registered nor known to Scalekit (see END_WHEN_UNKNOWN). */
  private unknown = false;
  /** An operator asked for a continue-as-new (continueAsNewSignal). */
  private handOverAsked = false;

  constructor(
    input: OrganizationWorkflowInput,
    private readonly activities: OrganizationActivities,
    /** Steps that wait on Scalekit run beside the main loop (false in runs recorded before). */
    readonly besideLoop: boolean,
  ) {
    this.state = new OrganizationState(input, new Date());
    this.org = this.state.organizationId;
  }

  // Signals and queries

  enqueue(event: DirectoryEvent): void {
    this.state.enqueue(event);
  }

  status(): OrganizationSyncStatus {
    return this.state.status();
  }

  requestReconcile(request: ReconcileRequest): void {
    this.state.requestReconcile(request);
  }

  requestHandOver(): void {
    this.handOverAsked = true;
  }

  // Updates: each validator refuses what the handler must not start.

  validateStartReconcile(request: ReconcileRequest): void {
    const { state, org } = this;
    if (request.kind !== 'full' && request.kind !== 'delta') throw new Error(`unknown reconcile kind "${String(request.kind)}"`);
    if (!request.dryRun && state.deferring) throw new Error(this.pausedRefusal('a reconcile that changes data'));
    if (state.reconcileBusy) {
      const r = state.reconcile;
      throw new Error(
        r
          ? `a run is already in progress for ${org}: run ${r.runId} (${r.kind}, ${r.phase}); wait for it, or cancel it with: cancel ${org} ${r.runId}`
          : `a run is being started for ${org}; try again in a moment`,
      );
    }
  }

  async startReconcile(request: ReconcileRequest): Promise<ReconcileAccepted> {
    const { state } = this;
    state.reconcileStarting = true;
    try {
      const cursor = await this.activities.beginSyncRun(this.org, request);
      state.reconcile = cursor;
      log.info('reconcile started', { runId: cursor.runId, kind: cursor.kind, dryRun: cursor.dryRun });
      return { runId: cursor.runId, kind: cursor.kind, dryRun: cursor.dryRun, snapshotAt: cursor.snapshotAt };
    } catch (err) {
      throw refusal(err);
    } finally {
      state.reconcileStarting = false;
    }
  }

  validateApproveRun({ runId }: { runId: string }): void {
    const { state, org } = this;
    if (state.deferring) throw new Error(this.pausedRefusal(`approving run ${runId}`));
    const r = state.reconcile;
    if (r && r.runId === runId && r.phase !== 'awaiting_approval') {
      throw new Error(`run ${runId} is not waiting for approval (it is in phase ${r.phase})`);
    }
    if ((r && r.runId !== runId) || state.opening) {
      throw new Error(`run ${r?.runId ?? '?'} is in progress for ${org}; approve ${runId} once it has finished`);
    }
  }

  async approveRun({ runId }: { runId: string }): Promise<{ runId: string; status: string }> {
    const { state } = this;
    const current = state.reconcile;
    if (current && current.runId === runId) {
      current.phase = 'apply';
      return { runId, status: 'applying' };
    }
    state.reconcileStarting = true;
    try {
      state.reconcile = await this.activities.loadPlannedRun(this.org, runId);
      return { runId, status: 'applying' };
    } catch (err) {
      throw refusal(err);
    } finally {
      state.reconcileStarting = false;
    }
  }

  async cancelRun({ runId }: { runId: string }): Promise<{ runId: string; status: string }> {
    const { state } = this;
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
      await this.activities.finishSyncRun(this.org, runId, 'cancelled', null);
    } catch (err) {
      throw refusal(err);
    }
    // A dry run's plan (or a run waiting for approval) discarded: the status says so, as the runs do.
    const last = state.lastReconcile;
    if (last?.runId === runId) state.lastReconcile = { ...last, status: 'cancelled', finishedAt: new Date().toISOString() };
    return { runId, status: 'cancelled' };
  }

  validateChangeRoles(request: RoleChangeRequest): void {
    const problem = roleChangeProblem(request.change);
    if (problem) throw new Error(problem);
    if (!request.dryRun && this.state.deferring) throw new Error(this.pausedRefusal('changing roles'));
  }

  async changeRoles(request: RoleChangeRequest): Promise<RoleChangeResult> {
    const { state } = this;
    if (!request.dryRun) state.changing += 1;
    // A preview changes nothing: it does not wait for a change in progress. See ONE_CHANGE_AT_A_TIME.
    const release = request.dryRun
      ? null
      : (state.changes.tryAcquire() ?? (patched(ONE_CHANGE_AT_A_TIME) ? await state.changes.acquire() : null));
    try {
      const result = await this.activities.changeRoleMappings(this.org, request);
      if (!request.dryRun) log.info('role mapping changed', { change: result.summary, usersChanged: result.usersChanged });
      return result;
    } catch (err) {
      throw refusal(err);
    } finally {
      release?.();
      if (!request.dryRun) state.changing -= 1;
    }
  }

  validateSetEmailPolicy(request: EmailPolicyRequest): void {
    const problem = allowedDomainsShapeProblem(request?.allowedDomains);
    if (problem) throw new Error(problem);
    if (!request.dryRun && this.state.deferring) throw new Error(this.pausedRefusal('changing the allowed e-mail domains'));
  }

  async setEmailPolicy(request: EmailPolicyRequest): Promise<EmailPolicyResult> {
    const { state } = this;
    if (!request.dryRun) state.changing += 1;
    // A preview changes nothing: it does not wait for a change in progress.
    const release = request.dryRun ? null : (state.changes.tryAcquire() ?? (await state.changes.acquire()));
    try {
      const result = await this.activities.changeEmailPolicy(this.org, request);
      if (!request.dryRun)
        log.info('allowed e-mail domains changed', { policy: result.summary, held: result.held, released: result.released });
      return result;
    } catch (err) {
      throw refusal(err);
    } finally {
      release?.();
      if (!request.dryRun) state.changing -= 1;
    }
  }

  validateRetryQuarantined(request: QuarantineRetryRequest): void {
    const ids = request.eventIds;
    if (
      ids !== null &&
      (!Array.isArray(ids) ||
        ids.length === 0 ||
        ids.length > 500 ||
        ids.some((id) => typeof id !== 'string' || id.length === 0 || id.length > 200))
    ) {
      throw new Error('expected between 1 and 500 event ids, or none for every quarantined event');
    }
    if (this.state.deferring) throw new Error(this.pausedRefusal('retrying quarantined events'));
  }

  async retryQuarantined(request: QuarantineRetryRequest): Promise<QuarantineRetryResult> {
    const { state } = this;
    state.changing += 1;
    // See ONE_CHANGE_AT_A_TIME.
    const release = state.changes.tryAcquire() ?? (patched(ONE_CHANGE_AT_A_TIME) ? await state.changes.acquire() : null);
    try {
      const result = await this.activities.retryQuarantinedEvents(this.org, request);
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
      release?.();
      state.changing -= 1;
    }
  }

  validatePauseSync({ note }: { note: string | null }): void {
    const { state, org } = this;
    if (note != null && (typeof note !== 'string' || note.length > 500))
      throw new Error('the note must be a text of at most 500 characters');
    if (state.transition.held) throw new Error(`a pause or resume of ${org} is being recorded; try again in a moment`);
    if (state.paused)
      throw new Error(`the sync of ${org} is already paused since ${state.paused.since}; resume it with: ${cliPrefix()} resume ${org}`);
    const r = state.reconcile;
    if ((r && !r.dryRun) || state.opening) {
      throw new Error(
        r
          ? `run ${r.runId} (${r.kind}, ${r.phase}) is in progress for ${org}; wait for it or cancel it (${cliPrefix()} cancel ${org} ${r.runId}), then pause`
          : `a run is being started for ${org}; try again in a moment`,
      );
    }
  }

  async pauseSync({ note }: { note: string | null }): Promise<{ paused: SyncPause; deferred: number }> {
    const { state } = this;
    const pause = { since: new Date().toISOString(), note: note ?? null };
    // The validator refuses a second transition, so the lock is free here.
    const release = state.transition.tryAcquire() ?? (await state.transition.acquire());
    // From here on, batches are kept; the one being applied (if any) finishes first.
    state.paused = pause;
    // A scheduled run waiting to open would change data: skipped, as schedules are while paused.
    if (state.pendingReconcile && !state.pendingReconcile.dryRun) {
      state.pendingReconcile = null;
      state.reconcilesSkipped += 1;
    }
    try {
      const waiting = await this.activities.recordSyncPause(this.org, pause);
      await condition(() => !state.applying && state.changing === 0);
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
      release();
    }
  }

  validateResumeSync(): void {
    const { state, org } = this;
    if (state.transition.held) throw new Error(`a pause or resume of ${org} is being recorded; try again in a moment`);
    if (!state.paused) throw new Error(`the sync of ${org} is not paused`);
  }

  async resumeSync(): Promise<{ resumed: SyncPause; deferred: number }> {
    const { state } = this;
    const pause = state.paused as SyncPause;
    const release = state.transition.tryAcquire() ?? (await state.transition.acquire());
    try {
      const deferred = await this.activities.recordSyncPause(this.org, null);
      state.paused = null;
      state.resuming = true;
      log.info('sync resumed', { deferred });
      return { resumed: pause, deferred };
    } catch (err) {
      throw refusal(err);
    } finally {
      release();
    }
  }

  private pausedRefusal(what: string): string {
    const { org } = this;
    const p = this.state.paused;
    if (p) {
      return `the sync of ${org} is paused since ${p.since}${p.note ? ` (${p.note})` : ''}: ${what} waits until it is resumed (${cliPrefix()} resume ${org}); a dry run is allowed`;
    }
    return `the sync of ${org} is applying the events deferred during its pause; ${what} can start once they are applied (${cliPrefix()} status ${org})`;
  }

  // The main loop's steps

  /**
   * First start of this organization: give it its reconcile schedules. This runs beside the main
   * loop and retries until Scalekit answers, so events are applied even while Scalekit is slow or
   * unreachable; a continue-as-new abandons it and the next run asks again.
   */
  ensureSchedules(): void {
    if (this.state.schedulesEnsured) return;
    void this.activities.ensureOrganizationSchedules(this.org).then(
      (registration) => {
        // An id Scalekit does not know is asked again after the next continue-as-new.
        this.state.schedulesEnsured = registration !== 'unknown_organization' && registration !== 'unknown_unregistered';
        if (registration === 'unknown_unregistered' && patched(END_WHEN_UNKNOWN)) this.unknown = true;
      },
      (err: unknown) => {
        log.warn('could not create the reconcile schedules; the next run of this workflow tries again', { error: failureMessage(err) });
      },
    );
  }

  /** The run waiting for a person to approve it, if any: the loop's only timer is its window closing. */
  get awaitingApproval(): ReconcileCursor | null {
    return this.state.reconcile?.phase === 'awaiting_approval' ? this.state.reconcile : null;
  }

  /** Whether the main loop has something to do. */
  hasWork(): boolean {
    const { state } = this;
    return (
      state.queued > 0 ||
      (state.resuming && !state.paused) ||
      state.reconcileRunnable ||
      state.scalekitOutcome !== null ||
      (state.pendingReconcile !== null && !state.reconcileBusy) ||
      this.canHandOver() ||
      this.nothingToKeep()
    );
  }

  /**
   * Whether this workflow may end: nobody knows the organization (END_WHEN_UNKNOWN) and it holds
   * nothing: no event ever came, no run, no pause, no change in flight. What refused the request
   * that started it has answered by then (the loop waits for every handler first).
   */
  nothingToKeep(): boolean {
    const { state } = this;
    return (
      this.unknown &&
      state.counters.received === 0 &&
      state.queued === 0 &&
      !state.reconcileBusy &&
      state.pendingReconcile === null &&
      state.scalekitOutcome === null &&
      state.paused === null &&
      !state.resuming &&
      state.changing === 0
    );
  }

  /**
   * Whether to hand over to a new run now. A page read in flight is abandoned (the next run reads
   * from the carried cursor again); a run being opened is waited for.
   */
  canHandOver(): boolean {
    const { state } = this;
    return (
      (state.continueAsNewDue(workflowInfo().continueAsNewSuggested) || this.handOverAsked) &&
      state.canCarryQueue() &&
      state.canHandOverSteps &&
      !(state.reconcile?.cancelRequested ?? false)
    );
  }

  /** A deferred batch is applied: once none is left and no event waits, the sync is live again. */
  deferredApplied(result: Awaited<ReturnType<OrganizationActivities['applyDeferredEvents']>>): void {
    const { state } = this;
    if (result.taken > 0) state.recordBatch(result, new Date());
    state.applying = false;
    if (result.remaining === 0 && state.queued === 0) {
      state.resuming = false;
      log.info('deferred events applied; sync is live again');
    }
  }

  /** A run asked for before a pause, or carried over continue-as-new: skipped like a scheduled run. */
  skipPendingWhilePaused(): void {
    const { state } = this;
    if (state.pendingReconcile && state.deferring && !state.pendingReconcile.dryRun) {
      state.pendingReconcile = null;
      state.reconcilesSkipped += 1;
    }
  }

  /** The run a schedule asked for, if it can be opened now (taken: the loop opens it). */
  takePendingReconcile(): ReconcileRequest | null {
    const { state } = this;
    if (!state.pendingReconcile || state.reconcileBusy) return null;
    const request = state.pendingReconcile;
    state.pendingReconcile = null;
    return request;
  }

  /** Opens a run beside the main loop. */
  openBeside(request: ReconcileRequest): void {
    this.startBeside({ kind: 'open', request }, () => this.activities.beginSyncRun(this.org, request));
  }

  /** The open run's next step reads pages, which happens beside the main loop. */
  readsBeside(c: ReconcileCursor): boolean {
    return this.besideLoop && !c.cancelRequested && (c.phase === 'users' || c.phase === 'groups');
  }

  /** Reads the open run's next pages beside the main loop. */
  readBeside(c: ReconcileCursor): void {
    this.startBeside({ kind: 'fetch', runId: c.runId }, () => this.activities.fetchDirectoryPages(this.org, c));
  }

  /** One bounded step of the open run. */
  async reconcileStep(c: ReconcileCursor): Promise<void> {
    const { state, org, activities } = this;
    // No activity failure may escape the main loop: that would fail the workflow and its queue.
    try {
      if (c.cancelRequested) {
        await activities.finishSyncRun(org, c.runId, 'cancelled', null);
        state.endReconcile(this.outcome(c, 'cancelled'));
        return;
      }
      if (c.phase === 'awaiting_approval' && approvalExpired(c)) {
        const error = `not approved within ${APPROVAL_WINDOW_HOURS} hours; cancelled so that scheduled reconciles can run again`;
        log.warn('reconcile waiting for approval expired', { runId: c.runId });
        await activities.finishSyncRun(org, c.runId, 'cancelled', error);
        state.endReconcile(this.outcome(c, 'cancelled', { error }));
        return;
      }
      if (c.phase === 'users' || c.phase === 'groups') {
        const next = await activities.fetchDirectoryPages(org, c);
        // A cancel that arrived during the step still applies.
        state.reconcile = { ...next, cancelRequested: state.reconcile?.cancelRequested ?? false };
      } else if (c.phase === 'plan') {
        const plan = await activities.planSyncRun(org, c.runId);
        c.plan = plan;
        c.batchesAtPlan = state.counters.batches;
        if (c.dryRun) state.endReconcile(this.outcome(c, 'planned', { plan }));
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
        const result = await activities.applySyncRun(
          org,
          c.runId,
          c.batchesAtPlan === undefined || c.batchesAtPlan !== state.counters.batches,
        );
        state.recordRecovered(result.recoveredEvents ?? 0);
        state.endReconcile(this.outcome(c, 'completed', { result }));
        log.info('reconcile completed', { runId: c.runId, drift: result.drift });
      }
    } catch (err) {
      await this.failRun(c, failureMessage(err));
    }
  }

  private async failRun(c: ReconcileCursor, message: string): Promise<void> {
    log.error('reconcile failed', { runId: c.runId, error: message });
    try {
      await this.activities.finishSyncRun(this.org, c.runId, 'failed', message);
    } catch {
      // The run row says what it says; the workflow's outcome below is what operators see.
    }
    this.state.endReconcile(this.outcome(c, 'failed', { error: message }));
  }

  private outcome(c: ReconcileCursor, status: ReconcileOutcome['status'], fields: Partial<ReconcileOutcome> = {}): ReconcileOutcome {
    return {
      runId: c.runId,
      kind: c.kind,
      dryRun: c.dryRun,
      status,
      finishedAt: new Date().toISOString(),
      plan: c.plan,
      result: null,
      error: null,
      ...fields,
    };
  }

  openFailed(request: ReconcileRequest, message: string): void {
    log.warn('scheduled reconcile could not start', { error: message });
    this.state.lastReconcile = {
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
  private startBeside(step: ScalekitStep, run: () => Promise<ReconcileCursor>): void {
    const { state } = this;
    state.startScalekitStep(step);
    // Never rejects: a failure is an outcome too.
    void run().then(
      (cursor) => state.finishScalekitStep({ ...step, cursor } as ScalekitStepOutcome),
      (err: unknown) => state.finishScalekitStep({ ...step, error: failureMessage(err) } as ScalekitStepOutcome),
    );
  }

  /** What a step beside the loop came back with, acted on in the loop (between batches). */
  async takeOutcome(done: ScalekitStepOutcome): Promise<void> {
    const { state } = this;
    if (done.kind === 'open') {
      if (done.cursor) {
        state.reconcile = done.cursor;
        log.info('reconcile started', { runId: done.cursor.runId, kind: done.cursor.kind, dryRun: done.cursor.dryRun });
      } else this.openFailed(done.request, done.error);
      return;
    }
    const c = state.reconcile;
    // Only the open run reads pages, and it ends only in the loop, after its step is back.
    if (!c || c.runId !== done.runId) return;
    // A cancel that arrived during the step still applies.
    if (done.cursor) state.reconcile = { ...done.cursor, cancelRequested: c.cancelRequested };
    else await this.failRun(c, done.error);
  }
}
