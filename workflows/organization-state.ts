import type { ReconcileCursor, ReconcileOutcome, ReconcileRequest } from '../domain/reconcile';
import type { DirectoryEvent } from '../domain/events';
import { Lock } from './lock';
import type { OrganizationCounters, OrganizationSyncStatus, SyncPause } from './messages';

/**
 * The organization workflow's state, kept apart from Temporal APIs so it can be unit-tested:
 * dedupe by event id against a bounded window, a FIFO queue, batches capped by count and bytes,
 * and the snapshot carried across continue-as-new.
 */

export interface OrganizationLimits {
  maxBatchEvents: number;
  maxBatchBytes: number;
  /** How many recent event ids to remember for deduplication. */
  recentIdWindow: number;
  /** Continue-as-new after this many signals in one run (the server refuses past 10,000). */
  maxSignalsPerRun: number;
  /** Largest queue (bytes) carried into the next run; above it, drain first. */
  maxCarriedQueueBytes: number;
}

export const DEFAULT_LIMITS: OrganizationLimits = {
  maxBatchEvents: 250,
  maxBatchBytes: 256 * 1024,
  recentIdWindow: 2_000,
  maxSignalsPerRun: 5_000,
  maxCarriedQueueBytes: 512 * 1024,
};

export interface OrganizationWorkflowInput {
  organizationId: string;
  /** Carried across continue-as-new; absent on the first start. */
  carried?: {
    queue: DirectoryEvent[];
    recentIds: string[];
    counters: OrganizationCounters;
    reconcile: ReconcileCursor | null;
    pendingReconcile: ReconcileRequest | null;
    lastReconcile: ReconcileOutcome | null;
    reconcilesSkipped: number;
    schedulesEnsured: boolean;
    /** Absent in runs that predate pausing. */
    paused?: SyncPause | null;
    resuming?: boolean;
  };
  limits?: Partial<OrganizationLimits>;
}

/**
 * A reconcile step that waits on Scalekit, running beside the main loop: opening a scheduled run,
 * or reading a run's next pages. One at a time; never carried over continue-as-new.
 */
export type ScalekitStep = { kind: 'open'; request: ReconcileRequest } | { kind: 'fetch'; runId: string };

/** What a step came back with: the run's cursor, or why it failed. */
export type ScalekitStepOutcome = ScalekitStep & ({ cursor: ReconcileCursor; error?: undefined } | { cursor?: undefined; error: string });

interface Queued {
  event: DirectoryEvent;
  bytes: number;
}

/** UTF-8 size of the event's JSON: what payload limits count. */
function sizeOf(event: DirectoryEvent): number {
  const json = JSON.stringify(event);
  let bytes = json.length;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c >= 0x80) bytes += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

export class OrganizationState {
  readonly organizationId: string;
  readonly limits: OrganizationLimits;
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private readonly recent = new Set<string>();
  readonly counters: OrganizationCounters;
  signalsThisRun = 0;
  readonly runStartedAt: string;
  /** The reconciliation in progress: a cursor only, never directory data. */
  reconcile: ReconcileCursor | null;
  /** A scheduled reconcile waiting for the main loop to open it. */
  pendingReconcile: ReconcileRequest | null;
  /** An update is opening a run right now (guards against two concurrent starts). */
  reconcileStarting = false;
  lastReconcile: ReconcileOutcome | null;
  reconcilesSkipped: number;
  schedulesEnsured: boolean;
  /** While set, batches go to the ledger as deferred instead of being applied. */
  paused: SyncPause | null;
  /** After a resume, until every deferred event is applied: new events are deferred behind them. */
  resuming: boolean;
  /** A batch (or a deferred batch) is being applied right now. */
  applying = false;
  /** The step waiting on Scalekit beside the main loop, if any. */
  scalekitStep: ScalekitStep | null = null;
  /** What that step came back with, until the main loop takes it. */
  scalekitOutcome: ScalekitStepOutcome | null = null;
  /** Handlers changing data right now (role changes, retries of quarantined events): a pause waits for them. */
  changing = 0;
  /** Held while a role change or a retry of quarantined events changes data: one at a time. */
  readonly changes = new Lock();
  /** Held while a pause or resume is being recorded: a second one is refused meanwhile. */
  readonly transition = new Lock();

  constructor(input: OrganizationWorkflowInput, now: Date) {
    this.organizationId = input.organizationId;
    this.limits = { ...DEFAULT_LIMITS, ...input.limits };
    this.runStartedAt = now.toISOString();
    this.counters = input.carried?.counters
      ? {
          ...input.carried.counters,
          // Counters carried from a run that predates pausing have no `deferred`.
          deferred: (input.carried.counters as Partial<OrganizationCounters>).deferred ?? 0,
          continuedAsNew: input.carried.counters.continuedAsNew + 1,
        }
      : {
          received: 0,
          applied: 0,
          duplicates: 0,
          stale: 0,
          quarantined: 0,
          batches: 0,
          lastAppliedEventAt: null,
          lastBatchAt: null,
          firstStartedAt: now.toISOString(),
          continuedAsNew: 0,
          deferred: 0,
        };
    this.reconcile = input.carried?.reconcile ?? null;
    this.pendingReconcile = input.carried?.pendingReconcile ?? null;
    this.lastReconcile = input.carried?.lastReconcile ?? null;
    this.reconcilesSkipped = input.carried?.reconcilesSkipped ?? 0;
    this.schedulesEnsured = input.carried?.schedulesEnsured ?? false;
    this.paused = input.carried?.paused ?? null;
    this.resuming = input.carried?.resuming ?? false;
    for (const id of input.carried?.recentIds ?? []) this.remember(id);
    for (const event of input.carried?.queue ?? []) this.push(event);
  }

  private remember(id: string): void {
    this.recent.add(id);
    if (this.recent.size > this.limits.recentIdWindow) {
      const oldest = this.recent.values().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  private push(event: DirectoryEvent): void {
    const bytes = sizeOf(event);
    this.queue.push({ event, bytes });
    this.queuedBytes += bytes;
  }

  /** Signal handler body: never throws. Returns false for a recent duplicate (dropped here). */
  enqueue(event: DirectoryEvent): boolean {
    this.signalsThisRun += 1;
    this.counters.received += 1;
    if (this.recent.has(event.id)) {
      this.counters.duplicates += 1;
      return false;
    }
    this.remember(event.id);
    this.push(event);
    return true;
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  get queuedByteCount(): number {
    return this.queuedBytes;
  }

  /** The next batch in arrival order, capped by count and bytes (always at least one event). */
  takeBatch(): DirectoryEvent[] {
    const batch: DirectoryEvent[] = [];
    let bytes = 0;
    while (this.queueHead < this.queue.length && batch.length < this.limits.maxBatchEvents) {
      const next = this.queue[this.queueHead] as Queued;
      if (batch.length > 0 && bytes + next.bytes > this.limits.maxBatchBytes) break;
      batch.push(next.event);
      bytes += next.bytes;
      this.queueHead += 1;
      this.queuedBytes -= next.bytes;
    }
    // Compact now and then so the array does not grow without bound in a long run.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    return batch;
  }

  recordBatch(
    result: {
      applied: number;
      recovered?: number;
      duplicate: number;
      stale: number;
      quarantined: number;
      lastAppliedOccurredAt: string | null;
    },
    now: Date,
  ): void {
    // Recovered: quarantined in an earlier batch, applied now that their conflict cleared.
    const recovered = result.recovered ?? 0;
    this.counters.applied += result.applied + recovered;
    this.counters.quarantined -= Math.min(recovered, this.counters.quarantined);
    this.counters.duplicates += result.duplicate;
    this.counters.stale += result.stale;
    this.counters.quarantined += result.quarantined;
    this.counters.batches += 1;
    this.counters.lastBatchAt = now.toISOString();
    if (result.lastAppliedOccurredAt) this.counters.lastAppliedEventAt = result.lastAppliedOccurredAt;
  }

  /** Whether this run should hand over to a new one (given the server's suggestion). */
  continueAsNewDue(suggested: boolean): boolean {
    return suggested || this.signalsThisRun >= this.limits.maxSignalsPerRun;
  }

  /** A run hands over only once the queue is small enough to carry in one payload. */
  canCarryQueue(): boolean {
    return this.queuedBytes <= this.limits.maxCarriedQueueBytes;
  }

  toContinueAsNewInput(): OrganizationWorkflowInput {
    return {
      organizationId: this.organizationId,
      carried: {
        queue: this.queue.slice(this.queueHead).map((q) => q.event),
        recentIds: [...this.recent],
        counters: this.counters,
        reconcile: this.reconcile,
        pendingReconcile: this.pendingReconcile,
        lastReconcile: this.lastReconcile,
        reconcilesSkipped: this.reconcilesSkipped,
        schedulesEnsured: this.schedulesEnsured,
        paused: this.paused,
        resuming: this.resuming,
      },
      limits: this.limits,
    };
  }

  status(): OrganizationSyncStatus {
    return {
      organizationId: this.organizationId,
      queued: this.queued,
      ...this.counters,
      runStartedAt: this.runStartedAt,
      reconcile: this.reconcile ? publicProgress(this.reconcile) : null,
      lastReconcile: this.lastReconcile,
      reconcilesSkipped: this.reconcilesSkipped,
      paused: this.paused,
      resuming: this.resuming,
    };
  }

  /** Batches are kept, not applied: paused, or resuming with deferred events still ahead. */
  get deferring(): boolean {
    return this.paused !== null || this.resuming;
  }

  recordDeferred(result: { deferred: number; duplicate: number; quarantined: number }): void {
    this.counters.deferred += result.deferred;
    this.counters.duplicates += result.duplicate;
    this.counters.quarantined += result.quarantined;
  }

  /** A run is being opened: by an update, or by a step beside the main loop (until it is taken). */
  get opening(): boolean {
    return this.reconcileStarting || this.scalekitStep?.kind === 'open' || this.scalekitOutcome?.kind === 'open';
  }

  /** A run is open or being opened. */
  get reconcileBusy(): boolean {
    return this.reconcile !== null || this.opening;
  }

  /**
   * The open run has work the main loop can do now: not waiting for a person, nor for a step
   * beside the loop (a cancel is served once that step is back, so it cannot race the step's writes).
   */
  get reconcileRunnable(): boolean {
    const r = this.reconcile;
    return (
      r !== null && this.scalekitStep === null && this.scalekitOutcome === null && (r.cancelRequested || r.phase !== 'awaiting_approval')
    );
  }

  startScalekitStep(step: ScalekitStep): void {
    this.scalekitStep = step;
  }

  finishScalekitStep(outcome: ScalekitStepOutcome): void {
    this.scalekitStep = null;
    this.scalekitOutcome = outcome;
  }

  /** The outcome of the step beside the loop, once: the main loop acts on it. */
  takeScalekitOutcome(): ScalekitStepOutcome | null {
    const outcome = this.scalekitOutcome;
    this.scalekitOutcome = null;
    return outcome;
  }

  /**
   * Nothing a continue-as-new would lose: no run being opened (its row would be left behind) and
   * no step outcome not yet taken. A page read in flight is abandoned: reading from the carried
   * cursor again rewrites the same snapshot rows.
   */
  get canHandOverSteps(): boolean {
    return !this.opening && this.scalekitOutcome === null;
  }

  /** Schedules ask; a busy organization skips (the Schedule's overlap policy is SKIP too). */
  requestReconcile(request: ReconcileRequest): void {
    if (this.reconcileBusy || this.pendingReconcile || this.deferring) this.reconcilesSkipped += 1;
    else this.pendingReconcile = request;
  }

  /** Quarantined events applied outside a batch (their conflict cleared by a reconcile). */
  recordRecovered(n: number): void {
    this.counters.applied += n;
    this.counters.quarantined -= Math.min(n, this.counters.quarantined);
  }

  endReconcile(outcome: ReconcileOutcome): void {
    this.lastReconcile = outcome;
    this.reconcile = null;
  }
}

function publicProgress(c: ReconcileCursor) {
  const { directoryId: _d, pageToken: _p, updatedAfter: _u, directoryStart: _s, ...progress } = c;
  return progress;
}
