import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, OrganizationState } from '../../workflows/organization-state';
import type { OrganizationLimits, OrganizationWorkflowInput } from '../../workflows/organization-state';
import type { DirectoryEvent } from '../../domain/events';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const T1 = new Date('2026-01-01T01:00:00.000Z');

function ev(id: string, padding = 0): DirectoryEvent {
  return {
    id,
    organizationId: 'org_1',
    environmentId: null,
    occurredAt: '2026-01-01T00:00:00.000000001Z',
    occurredAtNs: '1767225600000000001',
    webhookId: null,
    receivedAt: '2026-01-01T00:00:01.000Z',
    kind: 'user',
    type: 'organization.directory.user_updated',
    user: { id: 'diruser_1', attributes: padding > 0 ? { pad: 'x'.repeat(padding) } : {} },
  };
}

const bytes = (e: DirectoryEvent): number => JSON.stringify(e).length;

function state(limits: Partial<OrganizationLimits> = {}, now = T0): OrganizationState {
  return new OrganizationState({ organizationId: 'org_1', limits }, now);
}

function ids(events: DirectoryEvent[]): string[] {
  return events.map((e) => e.id);
}

function drain(s: OrganizationState): string[][] {
  const out: string[][] = [];
  for (let b = s.takeBatch(); b.length > 0; b = s.takeBatch()) out.push(ids(b));
  return out;
}

describe('dedupe', () => {
  it('drops a redelivered event id and counts it', () => {
    const s = state();
    expect(s.enqueue(ev('evt_1'))).toBe(true);
    expect(s.enqueue(ev('evt_1'))).toBe(false);
    expect(s.queued).toBe(1);
    expect(s.counters.received).toBe(2);
    expect(s.counters.duplicates).toBe(1);
    expect(s.signalsThisRun).toBe(2);
  });

  it('remembers ids after their event left the queue', () => {
    const s = state();
    s.enqueue(ev('evt_1'));
    expect(ids(s.takeBatch())).toEqual(['evt_1']);
    expect(s.enqueue(ev('evt_1'))).toBe(false);
    expect(s.queued).toBe(0);
  });

  it('remembers exactly the last `recentIdWindow` ids; older ones are evicted first-in first-out', () => {
    const s = state({ recentIdWindow: 3 });
    for (const id of ['evt_1', 'evt_2', 'evt_3', 'evt_4']) expect(s.enqueue(ev(id))).toBe(true);
    // evt_1 was evicted by evt_4: it gets through again (the ledger catches it downstream).
    expect(s.enqueue(ev('evt_1'))).toBe(true);
    // That re-admission evicted evt_2; evt_3 and evt_4 are still remembered.
    expect(s.enqueue(ev('evt_3'))).toBe(false);
    expect(s.enqueue(ev('evt_4'))).toBe(false);
    expect(s.enqueue(ev('evt_2'))).toBe(true);
  });

  it('a duplicate does not refresh its place in the window', () => {
    const s = state({ recentIdWindow: 2 });
    s.enqueue(ev('evt_1'));
    s.enqueue(ev('evt_2'));
    expect(s.enqueue(ev('evt_1'))).toBe(false); // still remembered
    s.enqueue(ev('evt_3')); // evicts evt_1 (the oldest admission)
    expect(s.enqueue(ev('evt_2'))).toBe(false);
    expect(s.enqueue(ev('evt_1'))).toBe(true);
  });
});

describe('queue and batches', () => {
  it('hands events out in arrival (FIFO) order across batches', () => {
    const s = state({ maxBatchEvents: 2 });
    for (const id of ['evt_c', 'evt_a', 'evt_d', 'evt_b', 'evt_e']) s.enqueue(ev(id));
    expect(s.queued).toBe(5);
    expect(drain(s)).toEqual([['evt_c', 'evt_a'], ['evt_d', 'evt_b'], ['evt_e']]);
    expect(s.queued).toBe(0);
  });

  it('interleaves enqueue and takeBatch without losing or reordering events', () => {
    const s = state({ maxBatchEvents: 3 });
    s.enqueue(ev('evt_1'));
    s.enqueue(ev('evt_2'));
    expect(ids(s.takeBatch())).toEqual(['evt_1', 'evt_2']);
    s.enqueue(ev('evt_3'));
    s.enqueue(ev('evt_4'));
    s.enqueue(ev('evt_5'));
    s.enqueue(ev('evt_6'));
    expect(ids(s.takeBatch())).toEqual(['evt_3', 'evt_4', 'evt_5']);
    expect(ids(s.takeBatch())).toEqual(['evt_6']);
    expect(s.takeBatch()).toEqual([]);
  });

  it('caps a batch by count', () => {
    const s = state({ maxBatchEvents: 250 });
    for (let i = 0; i < 600; i += 1) s.enqueue(ev(`evt_${i}`));
    expect(drain(s).map((b) => b.length)).toEqual([250, 250, 100]);
  });

  it('caps a batch by bytes: adds events while the total stays within the cap', () => {
    const one = bytes(ev('evt_1', 100));
    const s = state({ maxBatchBytes: one * 2 + 5 });
    for (const id of ['evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5']) s.enqueue(ev(id, 100));
    expect(drain(s)).toEqual([['evt_1', 'evt_2'], ['evt_3', 'evt_4'], ['evt_5']]);
  });

  it('a batch may fill the byte cap exactly', () => {
    const one = bytes(ev('evt_1', 100));
    const s = state({ maxBatchBytes: one * 3 });
    for (const id of ['evt_1', 'evt_2', 'evt_3', 'evt_4']) s.enqueue(ev(id, 100));
    expect(drain(s)).toEqual([['evt_1', 'evt_2', 'evt_3'], ['evt_4']]);
  });

  it('always hands out at least one event, even one larger than the byte cap', () => {
    const s = state({ maxBatchBytes: 100 });
    s.enqueue(ev('evt_big', 10_000));
    s.enqueue(ev('evt_small'));
    expect(drain(s)).toEqual([['evt_big'], ['evt_small']]);
  });

  it('does not put a small event after an oversized one in the same batch, nor skip ahead', () => {
    const small = bytes(ev('evt_s1'));
    const s = state({ maxBatchBytes: small * 2 });
    s.enqueue(ev('evt_s1'));
    s.enqueue(ev('evt_big', 5_000));
    s.enqueue(ev('evt_s2'));
    expect(drain(s)).toEqual([['evt_s1'], ['evt_big'], ['evt_s2']]);
  });

  it('tracks the queued byte count as events come and go', () => {
    const s = state({ maxBatchEvents: 1 });
    const a = ev('evt_a', 10);
    const b = ev('evt_b', 200);
    s.enqueue(a);
    s.enqueue(b);
    s.enqueue(ev('evt_a', 10)); // duplicate: not queued, not counted
    expect(s.queuedByteCount).toBe(bytes(a) + bytes(b));
    s.takeBatch();
    expect(s.queuedByteCount).toBe(bytes(b));
    s.takeBatch();
    expect(s.queuedByteCount).toBe(0);
  });

  it('keeps order through internal compaction in a long run', () => {
    const s = state({ maxBatchEvents: 7, recentIdWindow: 10_000 });
    const seen: string[] = [];
    for (let i = 0; i < 3000; i += 1) {
      s.enqueue(ev(`evt_${i}`));
      if (i % 3 === 0) seen.push(...ids(s.takeBatch()));
    }
    for (const b of drain(s)) seen.push(...b);
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => `evt_${i}`));
    expect(s.queued).toBe(0);
    expect(s.queuedByteCount).toBe(0);
  });
});

describe('counters', () => {
  it('start at zero with the first start time', () => {
    const s = state({}, T0);
    expect(s.counters).toEqual({
      received: 0,
      applied: 0,
      duplicates: 0,
      stale: 0,
      quarantined: 0,
      batches: 0,
      lastAppliedEventAt: null,
      lastBatchAt: null,
      firstStartedAt: T0.toISOString(),
      continuedAsNew: 0,
      deferred: 0,
    });
    expect(s.runStartedAt).toBe(T0.toISOString());
  });

  it('accumulate batch results; duplicates found by the ledger add to those found in memory', () => {
    const s = state();
    s.enqueue(ev('evt_1'));
    s.enqueue(ev('evt_1'));
    s.recordBatch({ applied: 3, duplicate: 2, stale: 1, quarantined: 1, lastAppliedOccurredAt: '2026-01-01T00:00:05Z' }, T1);
    s.recordBatch({ applied: 1, duplicate: 0, stale: 2, quarantined: 0, lastAppliedOccurredAt: null }, T1);
    expect(s.counters).toMatchObject({
      received: 2,
      applied: 4,
      duplicates: 3,
      stale: 3,
      quarantined: 1,
      batches: 2,
      lastBatchAt: T1.toISOString(),
      // A batch that applied nothing does not clear the last applied time.
      lastAppliedEventAt: '2026-01-01T00:00:05Z',
    });
  });

  it('status reports the counters and the queue', () => {
    const s = state({}, T0);
    s.enqueue(ev('evt_1'));
    s.enqueue(ev('evt_2'));
    s.enqueue(ev('evt_2'));
    s.recordBatch({ applied: 1, duplicate: 0, stale: 0, quarantined: 0, lastAppliedOccurredAt: 'x' }, T1);
    expect(s.status()).toEqual({
      organizationId: 'org_1',
      queued: 2,
      received: 3,
      applied: 1,
      duplicates: 1,
      stale: 0,
      quarantined: 0,
      batches: 1,
      lastAppliedEventAt: 'x',
      lastBatchAt: T1.toISOString(),
      runStartedAt: T0.toISOString(),
      firstStartedAt: T0.toISOString(),
      continuedAsNew: 0,
      reconcile: null,
      lastReconcile: null,
      reconcilesSkipped: 0,
      deferred: 0,
      paused: null,
      resuming: false,
    });
  });
});

describe('continue-as-new', () => {
  it('is due when the server suggests it', () => {
    const s = state();
    expect(s.continueAsNewDue(false)).toBe(false);
    expect(s.continueAsNewDue(true)).toBe(true);
  });

  it('is due after maxSignalsPerRun signals, duplicates included', () => {
    const s = state({ maxSignalsPerRun: 3 });
    s.enqueue(ev('evt_1'));
    s.enqueue(ev('evt_1'));
    expect(s.continueAsNewDue(false)).toBe(false);
    s.enqueue(ev('evt_1'));
    expect(s.continueAsNewDue(false)).toBe(true);
  });

  it('uses defaults well below the server limits', () => {
    expect(state().limits).toEqual(DEFAULT_LIMITS);
    expect(DEFAULT_LIMITS.maxSignalsPerRun).toBeLessThan(10_000);
    expect(state({ maxSignalsPerRun: 7 }).limits).toEqual({ ...DEFAULT_LIMITS, maxSignalsPerRun: 7 });
  });

  it('can carry the queue only while it fits in maxCarriedQueueBytes', () => {
    const one = bytes(ev('evt_1', 50));
    const s = state({ maxCarriedQueueBytes: one * 2, maxBatchEvents: 1 });
    expect(s.canCarryQueue()).toBe(true);
    s.enqueue(ev('evt_1', 50));
    s.enqueue(ev('evt_2', 50));
    expect(s.canCarryQueue()).toBe(true);
    s.enqueue(ev('evt_3', 50));
    expect(s.canCarryQueue()).toBe(false);
    s.takeBatch();
    expect(s.canCarryQueue()).toBe(true);
  });

  it('hands over the unprocessed queue, the recent ids and the counters', () => {
    const s = state({ maxBatchEvents: 2, recentIdWindow: 100 }, T0);
    for (const id of ['evt_1', 'evt_2', 'evt_3', 'evt_4']) s.enqueue(ev(id));
    s.enqueue(ev('evt_2'));
    expect(ids(s.takeBatch())).toEqual(['evt_1', 'evt_2']);
    s.recordBatch({ applied: 2, duplicate: 0, stale: 0, quarantined: 0, lastAppliedOccurredAt: 'a' }, T1);

    const input: OrganizationWorkflowInput = JSON.parse(JSON.stringify(s.toContinueAsNewInput())); // as history stores it
    expect(input.organizationId).toBe('org_1');
    expect(input.carried?.queue.map((e) => e.id)).toEqual(['evt_3', 'evt_4']);
    expect(input.carried?.recentIds).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4']);
    expect(input.limits).toMatchObject({ maxBatchEvents: 2, recentIdWindow: 100 });

    const T2 = new Date('2026-01-02T00:00:00.000Z');
    const next = new OrganizationState(input, T2);
    // The queue continues in order, and its bytes are accounted.
    expect(next.queued).toBe(2);
    expect(next.queuedByteCount).toBe(bytes(ev('evt_3')) + bytes(ev('evt_4')));
    // Dedupe works across the hand-over: ids processed or still queued are remembered.
    expect(next.enqueue(ev('evt_1'))).toBe(false);
    expect(next.enqueue(ev('evt_4'))).toBe(false);
    expect(next.enqueue(ev('evt_5'))).toBe(true);
    expect(drain(next)).toEqual([['evt_3', 'evt_4'], ['evt_5']]);
    // Counters carry over; continuedAsNew goes up; the signal count starts again.
    expect(next.counters).toMatchObject({
      received: 5 + 3,
      applied: 2,
      duplicates: 1 + 2,
      batches: 1,
      lastAppliedEventAt: 'a',
      lastBatchAt: T1.toISOString(),
      firstStartedAt: T0.toISOString(),
      continuedAsNew: 1,
    });
    expect(next.signalsThisRun).toBe(3);
    expect(next.runStartedAt).toBe(T2.toISOString());
    expect(next.status().continuedAsNew).toBe(1);
    // Carried events are not counted as received a second time.
    expect(next.status().received).toBe(8);
  });

  it('continuedAsNew keeps counting over several hand-overs', () => {
    let s = state({}, T0);
    for (let i = 1; i <= 3; i += 1) {
      s.enqueue(ev(`evt_${i}`));
      s = new OrganizationState(s.toContinueAsNewInput(), T1);
      expect(s.counters.continuedAsNew).toBe(i);
    }
    expect(s.counters.received).toBe(3);
    expect(s.queued).toBe(3);
    expect(s.counters.firstStartedAt).toBe(T0.toISOString());
  });

  it('the new run does not share the counters object with the old one', () => {
    const s = state();
    const next = new OrganizationState(s.toContinueAsNewInput(), T1);
    next.enqueue(ev('evt_1'));
    expect(s.counters.received).toBe(0);
    expect(s.counters.continuedAsNew).toBe(0);
  });

  it('a smaller window in the new run keeps the newest carried ids', () => {
    const s = state({ recentIdWindow: 10 });
    for (const id of ['evt_1', 'evt_2', 'evt_3', 'evt_4']) s.enqueue(ev(id));
    drain(s);
    const input = s.toContinueAsNewInput();
    const next = new OrganizationState({ ...input, limits: { ...input.limits, recentIdWindow: 2 } }, T1);
    expect(next.enqueue(ev('evt_4'))).toBe(false);
    expect(next.enqueue(ev('evt_3'))).toBe(false);
    expect(next.enqueue(ev('evt_1'))).toBe(true);
  });
});

describe('reconcile state', () => {
  const cursor = (phase: 'users' | 'awaiting_approval' = 'users') => ({
    runId: '7',
    kind: 'full' as const,
    dryRun: false,
    trigger: 'test',
    phase,
    startedAt: T0.toISOString(),
    snapshotAt: T0.toISOString(),
    pages: 3,
    usersFetched: 90,
    groupsFetched: 0,
    usersTotal: 300,
    groupsTotal: null,
    plan: null,
    cancelRequested: false,
    directoryId: 'dir_1',
    pageToken: 'tok_3',
    updatedAfter: null,
  });

  it('a scheduled request waits when idle and is skipped (counted) while a run is open', () => {
    const s = state();
    s.requestReconcile({ kind: 'full', dryRun: false, trigger: 'schedule' });
    expect(s.pendingReconcile).toMatchObject({ kind: 'full' });
    s.requestReconcile({ kind: 'delta', dryRun: false, trigger: 'schedule' });
    expect(s.reconcilesSkipped).toBe(1);
    s.pendingReconcile = null;
    s.reconcile = cursor();
    s.requestReconcile({ kind: 'delta', dryRun: false, trigger: 'schedule' });
    expect(s.pendingReconcile).toBeNull();
    expect(s.reconcilesSkipped).toBe(2);
  });

  it('a run waiting for approval is not runnable until approved or cancelled', () => {
    const s = state();
    expect(s.reconcileRunnable).toBe(false);
    s.reconcile = cursor('awaiting_approval');
    expect(s.reconcileBusy).toBe(true);
    expect(s.reconcileRunnable).toBe(false);
    s.reconcile.cancelRequested = true;
    expect(s.reconcileRunnable).toBe(true);
    s.reconcile = cursor('users');
    expect(s.reconcileRunnable).toBe(true);
  });

  it('the status shows progress without the page token or directory id', () => {
    const s = state();
    s.reconcile = cursor();
    const progress = s.status().reconcile as unknown as Record<string, unknown>;
    expect(progress).toMatchObject({ runId: '7', phase: 'users', usersFetched: 90, usersTotal: 300 });
    expect(progress).not.toHaveProperty('pageToken');
    expect(progress).not.toHaveProperty('directoryId');
  });

  it('continue-as-new carries the open run, the pending request and the last outcome', () => {
    const s = state();
    s.reconcile = cursor();
    s.pendingReconcile = { kind: 'delta', dryRun: false, trigger: 'schedule' };
    s.schedulesEnsured = true;
    const next = new OrganizationState(s.toContinueAsNewInput(), T1);
    expect(next.reconcile).toEqual(cursor());
    expect(next.pendingReconcile).toEqual({ kind: 'delta', dryRun: false, trigger: 'schedule' });
    expect(next.schedulesEnsured).toBe(true);
    next.endReconcile({
      runId: '7',
      kind: 'full',
      dryRun: false,
      status: 'completed',
      finishedAt: T1.toISOString(),
      plan: null,
      result: null,
      error: null,
    });
    expect(next.reconcile).toBeNull();
    expect(new OrganizationState(next.toContinueAsNewInput(), T1).lastReconcile).toMatchObject({ runId: '7', status: 'completed' });
  });

  it('a run being opened beside the loop keeps it busy until the loop takes the outcome, and holds the hand-over', () => {
    const s = state();
    const request = { kind: 'delta' as const, dryRun: false, trigger: 'schedule' };
    expect(s.canHandOverSteps).toBe(true);
    s.startScalekitStep({ kind: 'open', request });
    expect([s.opening, s.reconcileBusy, s.canHandOverSteps]).toEqual([true, true, false]);
    // A schedule firing meanwhile is skipped, as while a run is open.
    s.requestReconcile(request);
    expect([s.pendingReconcile, s.reconcilesSkipped]).toEqual([null, 1]);
    s.finishScalekitStep({ kind: 'open', request, cursor: cursor() });
    expect([s.scalekitStep, s.opening, s.canHandOverSteps]).toEqual([null, true, false]);
    expect(s.takeScalekitOutcome()).toMatchObject({ kind: 'open', cursor: { runId: '7' } });
    expect(s.takeScalekitOutcome()).toBeNull();
    expect([s.opening, s.reconcileBusy, s.canHandOverSteps]).toEqual([false, false, true]);
  });

  it('a run reading pages beside the loop is not runnable (a cancel waits for the step), and may be handed over', () => {
    const s = state();
    s.reconcile = cursor();
    s.startScalekitStep({ kind: 'fetch', runId: '7' });
    s.reconcile.cancelRequested = true;
    expect([s.reconcileRunnable, s.reconcileBusy, s.opening]).toEqual([false, true, false]);
    // Abandoned at a hand-over: the next run reads from the carried cursor again.
    expect(s.canHandOverSteps).toBe(true);
    expect(new OrganizationState(s.toContinueAsNewInput(), T1)).toMatchObject({ reconcile: { pageToken: 'tok_3' }, scalekitStep: null });
    s.finishScalekitStep({ kind: 'fetch', runId: '7', error: 'Scalekit did not answer' });
    expect([s.reconcileRunnable, s.canHandOverSteps]).toEqual([false, false]);
    expect(s.takeScalekitOutcome()).toEqual({ kind: 'fetch', runId: '7', error: 'Scalekit did not answer' });
    expect([s.reconcileRunnable, s.canHandOverSteps]).toEqual([true, true]);
  });
});

describe('pause', () => {
  it('defers while paused and while resuming; schedules are skipped meanwhile', () => {
    const s = state();
    expect(s.deferring).toBe(false);
    s.paused = { since: T0.toISOString(), note: 'IdP migration' };
    expect(s.deferring).toBe(true);
    s.requestReconcile({ kind: 'full', dryRun: false, trigger: 'schedule' });
    expect([s.pendingReconcile, s.reconcilesSkipped]).toEqual([null, 1]);
    s.paused = null;
    s.resuming = true;
    expect(s.deferring).toBe(true);
    s.resuming = false;
    s.requestReconcile({ kind: 'full', dryRun: false, trigger: 'schedule' });
    expect(s.pendingReconcile).not.toBeNull();
  });

  it('counts deferred events, and duplicates and unstorable ones found by the ledger', () => {
    const s = state();
    s.recordDeferred({ deferred: 5, duplicate: 2, quarantined: 1 });
    expect(s.status()).toMatchObject({ deferred: 5, duplicates: 2, quarantined: 1, applied: 0 });
  });

  it('carries the pause and the resume across continue-as-new', () => {
    const s = state();
    s.paused = { since: T0.toISOString(), note: 'audit' };
    s.recordDeferred({ deferred: 3, duplicate: 0, quarantined: 0 });
    const next = new OrganizationState(JSON.parse(JSON.stringify(s.toContinueAsNewInput())) as OrganizationWorkflowInput, T1);
    expect(next.status()).toMatchObject({ paused: { since: T0.toISOString(), note: 'audit' }, resuming: false, deferred: 3 });
    next.paused = null;
    next.resuming = true;
    expect(new OrganizationState(next.toContinueAsNewInput(), T1).status()).toMatchObject({ paused: null, resuming: true });
  });

  it('continues a run that predates pausing: live, nothing deferred', () => {
    const old = JSON.parse(JSON.stringify(state().toContinueAsNewInput())) as OrganizationWorkflowInput;
    const carried = old.carried as unknown as Record<string, unknown>;
    delete carried.paused;
    delete carried.resuming;
    delete (carried.counters as Record<string, unknown>).deferred;
    const next = new OrganizationState(old, T1);
    expect(next.status()).toMatchObject({ paused: null, resuming: false, deferred: 0 });
    expect(next.deferring).toBe(false);
  });
});
