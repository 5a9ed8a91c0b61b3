import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index';
import type { DeliveryPage } from '../db/repositories/deliveries';
import type { ApplicationActivities, ChangeBatch, ChangeRecord } from '../domain/changes';
import { OfferedRecords } from '../domain/offered-records';
import { deliveryState, invalidRewind, rewoundCursor, stopReason, type DeliverySettings, type DeliveryStop } from '../domain/delivery';
import {
  changesAvailableSignal,
  deliveryStatusQuery,
  pauseDeliveryUpdate,
  resumeDeliveryUpdate,
  retryDeliveryUpdate,
  rewindDeliveryUpdate,
  skipRecordUpdate,
  type DeliveryChannelName,
  type DeliveryCounters,
  type DeliveryWorkflowInput,
} from './delivery-messages';
import { failureMessage } from './failures';
import { Lock } from './lock';
import { continueAsNewSignal } from './messages';
import { cliPrefix } from '../domain/cli-command';

// Reading records and writing the cursor retry until PostgreSQL answers: delivery waits, in order.
const deliveryBookkeeping: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * The application's activity. No schedule-to-start timeout: while the application's worker is
 * down, the call waits on its queue and delivery resumes, in order, when the worker is back. A
 * worker that dies during a call is noticed at the start-to-close timeout and the call is tried
 * again (the application skips the records it applied before, by id). Tries back off from one
 * second; after `maxAttempts` failed tries, or a non-retryable failure, the organization's
 * delivery stops at the record until an operator acts.
 */
function applicationOptions(settings: DeliverySettings): ActivityOptions {
  return {
    taskQueue: settings.appTaskQueue,
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: settings.maxRetryInterval,
      maximumAttempts: settings.maxAttempts,
    },
  };
}

/**
 * The push's activity (`pushDirectoryChanges` on scimflow's push queue): one try waits at most ten
 * seconds for the application; retryable answers back off like the application's activity does.
 */
function pushOptions(settings: DeliverySettings): ActivityOptions {
  return { ...applicationOptions(settings), startToCloseTimeout: '30 seconds' };
}

/**
 * Patch: delivery pipelined. While the application applies a batch and more records wait, the next
 * batch is read; the cursor of an acknowledged batch is written while the next one is delivered
 * (cursor writes stay in order); after a batch, no read that would find nothing; a read the loop
 * waits on is a local activity. A backlog, an import, goes out at the application's pace; a live
 * record waits for one local read and one call.
 */
const PIPELINED = 'delivery-pipelined';

/**
 * Patch: a wake-up's records are delivered as they came. A delivery whose cursor is among the
 * records a wake-up carried (a live change, when it is caught up) hands them to the application
 * without reading them first: one call after the signal.
 */
const RECORDS_IN_WAKE_UP = 'delivery-records-in-wake-up';

const refuse = (message: string) => ApplicationFailure.create({ message, type: 'Refused', nonRetryable: true });

/** A validator's refusal: throws when `refused`. */
function refuseIf(refused: boolean, message: () => string): void {
  if (refused) throw refuse(message());
}

/**
 * One per organization (`scim-delivery:<orgId>`), while APP_TASK_QUEUE is set: hands the
 * organization's change records to the application's `applyDirectoryChanges`, in order and in
 * batches, and writes the cursor of what the application acknowledged after each batch.
 *
 * - Woken by `changesAvailable` (the worker sends it after each step that committed records);
 *   idle, it looks for records on its own every `idleCheck` as well.
 * - A batch the application refuses for good is narrowed down to the record it refuses: the
 *   records before it are delivered one by one, and delivery stops at that record (state
 *   'stopped', the reason and the record, also in `change_deliveries`). Other organizations are
 *   other workflows: they go on. An operator retries, skips the record, or rewinds.
 * - Operators pause, resume, retry, skip and rewind through updates; each waits for the batch in
 *   flight, so the cursor only ever moves one step at a time.
 */
export async function deliveryWorkflow(input: DeliveryWorkflowInput): Promise<void> {
  const org = input.organizationId;
  let settings = input.settings;
  const steps = proxyActivities<Activities>(deliveryBookkeeping);
  // Pipelined, the read a batch waits on runs in the workflow's own task (no round trip through the server).
  const local = proxyLocalActivities<Activities>(deliveryBookkeeping);
  const carried = input.carried;
  const channel: DeliveryChannelName = input.channel ?? 'temporal';
  // The bookkeeping activities take the channel last; Temporal-native delivery leaves it out.
  const ch: [] | [DeliveryChannelName] = channel === 'temporal' ? [] : [channel];

  let loaded = carried !== undefined;
  let delivered = carried?.deliveredSequence ?? 0;
  let paused = carried?.paused ?? null;
  let stop: DeliveryStop | null = carried?.stop ?? null;
  let known = delivered;
  let wake = true;
  let delivering = false;
  /** Sequence up to which batches go one record at a time (narrowing a refused batch). */
  let narrowUntil = 0;
  /** Records wake-ups carried and not yet delivered, in order without a gap. */
  const offered = new OfferedRecords();
  const counters: DeliveryCounters = carried?.counters ?? {
    batches: 0,
    records: 0,
    skipped: 0,
    rewinds: 0,
    lastDeliveredAt: null,
    continuedAsNew: 0,
  };
  // The loop holds it for a batch (read, deliver, write the cursor); operators' updates for their change.
  const lock = new Lock();

  const snapshot = () => ({ deliveredSequence: delivered, paused, stop });
  // What the Temporal UI shows of the workflow.
  const showDetails = () =>
    setCurrentDetails(
      stop
        ? `**Stopped** at record ${stop.recordId ?? '?'} (sequence ${stop.sequence}), ${stop.kind}: ${stop.reason}\n\n` +
            `Waiting for an operator: ${cliPrefix()} delivery retry|skip|rewind ${org}`
        : paused
          ? `**Paused** since ${paused.since}${paused.note ? ` (${paused.note})` : ''}; delivered up to sequence ${delivered}`
          : channel === 'webhook'
            ? `Pushing to the application's URL: up to sequence ${delivered} delivered`
            : `Delivering to ${settings.appTaskQueue}: up to sequence ${delivered} delivered`,
    );
  /** The cursor writes of acknowledged batches, in order; the state's other writes wait for them. */
  let cursorWrites: Promise<void> = Promise.resolve();
  const saveCursor = async (sequence: number) => {
    if (!pipelined) return steps.saveDelivered(org, sequence, ...ch);
    cursorWrites = cursorWrites.then(() => steps.saveDelivered(org, sequence, ...ch));
    // Awaited by the next write of the state (a failure is a cancellation: it surfaces there).
    cursorWrites.catch(() => undefined);
  };
  const persist = async () => {
    showDetails();
    await cursorWrites;
    await steps.saveDelivery(org, snapshot(), ...ch);
  };

  // An operator asked for a new run (after a payload key rotation: the state it carries is then sealed with the new key).
  let handOverAsked = false;
  setHandler(continueAsNewSignal, () => {
    handOverAsked = true;
  });
  const continueAsNewDue = () => handOverAsked || workflowInfo().continueAsNewSuggested;

  setHandler(changesAvailableSignal, ({ sequence, settings: latest, records }) => {
    known = Math.max(known, sequence);
    settings = latest;
    wake = true;
    if (records && records.length > 0) offered.add(records);
  });
  setHandler(deliveryStatusQuery, () => ({
    organizationId: org,
    state: deliveryState(stop, paused),
    deliveredSequence: delivered,
    knownSequence: Math.max(known, delivered),
    delivering,
    paused,
    stop,
    appTaskQueue: settings.appTaskQueue,
    channel,
    counters,
  }));

  /** Runs an operator's change once the state is loaded and no batch is in flight. */
  const operate = async <T>(change: () => Promise<T>): Promise<T> => {
    await condition(() => loaded);
    return lock.run(async () => {
      await cursorWrites;
      return change();
    });
  };

  setHandler(
    retryDeliveryUpdate,
    () =>
      operate(async () => {
        if (!stop) throw refuse(`the delivery of ${org} is not stopped: nothing to retry`);
        const from = stop.sequence;
        stop = null;
        narrowUntil = 0;
        await persist();
        wake = true;
        return { retryingFrom: from };
      }),
    { validator: () => refuseIf(loaded && !stop, () => `the delivery of ${org} is not stopped: nothing to retry`) },
  );

  setHandler(
    skipRecordUpdate,
    ({ recordId, reason }) =>
      operate(async () => {
        if (!stop || stop.recordId !== recordId) {
          throw refuse(
            stop
              ? `the delivery of ${org} is stopped at record ${stop.recordId ?? '(unknown)'}, not ${recordId}`
              : `the delivery of ${org} is not stopped: no record to skip`,
          );
        }
        const sequence = stop.sequence;
        if (!(await steps.recordDeliverySkip(org, { recordId, sequence, reason }, ...ch))) {
          throw refuse(`record ${recordId} is not record ${sequence} of ${org}`);
        }
        delivered = Math.max(delivered, sequence);
        stop = null;
        narrowUntil = 0;
        counters.skipped++;
        await persist();
        wake = true;
        return { skipped: recordId, sequence };
      }),
    {
      validator: ({ recordId, reason }) => {
        if (typeof recordId !== 'string' || !/^\d{1,19}$/.test(recordId)) throw refuse('give the id of the record to skip');
        if (typeof reason !== 'string' || reason.trim() === '') throw refuse('give the reason for skipping the record (it is recorded)');
        if (loaded && (!stop || stop.recordId !== recordId)) {
          throw refuse(
            stop
              ? `the delivery of ${org} is stopped at record ${stop.recordId ?? '(unknown)'}, not ${recordId}: only the record it stopped at can be skipped`
              : `the delivery of ${org} is not stopped: only the record it stopped at can be skipped`,
          );
        }
      },
    },
  );

  setHandler(
    pauseDeliveryUpdate,
    ({ note }) =>
      operate(async () => {
        if (paused) throw refuse(`the delivery of ${org} is already paused (since ${paused.since})`);
        const pause = { since: new Date().toISOString(), note: note ?? null };
        paused = pause;
        await persist();
        return { paused: pause };
      }),
    {
      validator: (_request) =>
        refuseIf(loaded && paused !== null, () => `the delivery of ${org} is already paused (since ${paused?.since})`),
    },
  );

  setHandler(
    resumeDeliveryUpdate,
    () =>
      operate(async () => {
        if (!paused) throw refuse(`the delivery of ${org} is not paused`);
        const was = paused;
        paused = null;
        await persist();
        wake = true;
        return { resumed: was };
      }),
    { validator: () => refuseIf(loaded && !paused, () => `the delivery of ${org} is not paused`) },
  );

  setHandler(
    rewindDeliveryUpdate,
    (request) =>
      operate(async () => {
        const first = request.toSequence ?? (await steps.firstDeliverySequenceAt(org, new Date(request.toTime!).toISOString()));
        const cursor = rewoundCursor(delivered, first);
        const result = {
          dryRun: request.dryRun,
          fromSequence: cursor < delivered ? cursor + 1 : null,
          deliveredSequence: delivered,
          records: delivered - cursor,
        };
        if (request.dryRun || cursor === delivered) return result;
        delivered = cursor;
        // Delivering again from before a stop: the stopped record is tried again on the way.
        stop = null;
        narrowUntil = 0;
        counters.rewinds++;
        await persist();
        wake = true;
        return result;
      }),
    {
      validator: (request) => {
        const invalid = invalidRewind(request);
        if (invalid) throw refuse(invalid);
      },
    },
  );

  if (!carried) {
    const row = await steps.loadDelivery(org, ...ch);
    if (row) {
      delivered = row.deliveredSequence;
      paused = row.paused;
      stop = row.stop;
    }
    known = Math.max(known, delivered);
    loaded = true;
  }
  showDetails();

  // The call that hands a batch over: the application's activity, or the push.
  const app = (): ((batch: ChangeBatch) => Promise<unknown>) =>
    channel === 'webhook'
      ? proxyActivities<Activities>(pushOptions(settings)).pushDirectoryChanges
      : proxyActivities<ApplicationActivities>(applicationOptions(settings)).applyDirectoryChanges;

  const pipelined = patched(PIPELINED);
  /** The next batch, read while the one before it was delivered: used when it starts where the cursor now is. */
  let ahead: { after: number; limit: number; page: Promise<DeliveryPage> } | null = null;
  let offersUsed: boolean | undefined;
  /** The records after `after` that wake-ups carried, when they start there (a patched run only). */
  const fromOffers = (after: number, limit: number): DeliveryPage | null => {
    if (!offered.startsAt(after + 1)) return null;
    offersUsed ??= patched(RECORDS_IN_WAKE_UP);
    if (!offersUsed) return null;
    const records = offered.take(after, limit);
    const last = records[records.length - 1]!.sequence;
    return { records, more: offered.last > last || known > last };
  };
  const read = (after: number, limit: number): Promise<DeliveryPage> => {
    const next = ahead;
    ahead = null;
    if (next && next.after === after && next.limit === limit) return next.page;
    const page = fromOffers(after, limit);
    if (page) return Promise.resolve(page);
    return (pipelined ? local : steps).readDeliveryBatch(org, after, limit);
  };

  const ready = () => !stop && !paused && !lock.held && lock.queued === 0;
  for (;;) {
    if (continueAsNewDue()) {
      // Operators' changes finish first (they hold the lock while they write); then hand over.
      await condition(() => allHandlersFinished() && !lock.held);
      await cursorWrites;
      counters.continuedAsNew++;
      await continueAsNew<typeof deliveryWorkflow>({
        organizationId: org,
        settings,
        ...(input.channel ? { channel: input.channel } : {}),
        carried: { deliveredSequence: delivered, paused, stop, counters },
      });
    }
    if (!ready() || !wake) {
      // Every pass waits here or delivers a batch: the loop never turns without one or the other.
      const woke = await condition(() => (ready() && wake) || continueAsNewDue(), settings.idleCheck);
      if (!woke) wake = true;
      continue;
    }

    const release = lock.tryAcquire()!;
    try {
      wake = false;
      const limit = delivered < narrowUntil ? 1 : settings.batch;
      const page = await read(delivered, limit);
      if ('gone' in page) {
        stop = { kind: 'unreadable', reason: page.gone, recordId: null, sequence: delivered + 1, at: new Date().toISOString() };
        await persist();
        continue;
      }
      const records = page.records;
      if (records.length === 0) continue;
      known = Math.max(known, records[records.length - 1]!.sequence);
      if (pipelined && page.more && limit > 1 && !offered.startsAt(records[records.length - 1]!.sequence + 1)) {
        const after = records[records.length - 1]!.sequence;
        const next = steps.readDeliveryBatch(org, after, limit);
        // Not used if the batch is refused or an operator moves the cursor; its failure (a cancellation) is the loop's only then.
        next.catch(() => undefined);
        ahead = { after, limit, page: next };
      }
      delivering = true;
      const outcome = await deliver(app(), org, records);
      delivering = false;
      if (outcome.ok) {
        delivered = records[records.length - 1]!.sequence;
        counters.batches++;
        counters.records += records.length;
        counters.lastDeliveredAt = new Date().toISOString();
        await saveCursor(delivered);
        showDetails();
        // Pipelined, it reads again only for records it knows of (the page said more, or a wake-up
        // named a later sequence); otherwise it waits for the next wake-up (or its idle check).
        wake = !pipelined || wake || page.more || known > delivered || delivered < narrowUntil;
      } else if (outcome.kind === 'rejected' && records.length > 1) {
        // Find the record it refuses: the ones before it go one at a time.
        narrowUntil = records[records.length - 1]!.sequence;
        wake = true;
      } else {
        const first = records[0]!;
        stop = { kind: outcome.kind, reason: outcome.reason, recordId: first.id, sequence: first.sequence, at: new Date().toISOString() };
        narrowUntil = 0;
        await persist();
      }
    } finally {
      delivering = false;
      release();
    }
  }
}

type Outcome = { ok: true } | { ok: false; kind: 'rejected' | 'retries_exhausted'; reason: string };

async function deliver(apply: (batch: ChangeBatch) => Promise<unknown>, organizationId: string, records: ChangeRecord[]): Promise<Outcome> {
  try {
    await apply({ organizationId, records });
    return { ok: true };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const rejected = cause instanceof ApplicationFailure && cause.nonRetryable === true;
    return {
      ok: false,
      kind: rejected ? 'rejected' : 'retries_exhausted',
      reason: stopReason(failureMessage(cause ?? err).slice(0, 1000)),
    };
  }
}
