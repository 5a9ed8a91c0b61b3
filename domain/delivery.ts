/**
 * Temporal-native delivery of the change stream: a workflow per organization hands the
 * organization's records, in order and batched, to the application's activity
 * (`applyDirectoryChanges` on APP_TASK_QUEUE), and keeps a cursor of what was delivered.
 */

export interface DeliverySettings {
  /** The application's task queue (APP_TASK_QUEUE). */
  appTaskQueue: string;
  /** Records per call (APP_DELIVERY_BATCH). */
  batch: number;
  /** Tries of one call before the organization's delivery stops (APP_DELIVERY_ATTEMPTS). */
  maxAttempts: number;
  /** Longest wait between two tries, backing off from one second (e.g. '1 minute'). */
  maxRetryInterval: string;
  /** How long an idle delivery waits for a wake-up before it looks for records anyway (e.g. '5 minutes'). */
  idleCheck: string;
}

export const DEFAULT_DELIVERY_BATCH = 500;
export const DEFAULT_DELIVERY_ATTEMPTS = 10;

export function deliverySettings(appTaskQueue: string, overrides: Partial<Omit<DeliverySettings, 'appTaskQueue'>> = {}): DeliverySettings {
  return {
    appTaskQueue,
    batch: DEFAULT_DELIVERY_BATCH,
    maxAttempts: DEFAULT_DELIVERY_ATTEMPTS,
    maxRetryInterval: '1 minute',
    idleCheck: '5 minutes',
    ...overrides,
  };
}

/** Why an organization's delivery stopped: the record the application refused for good. */
export interface DeliveryStop {
  /** 'rejected': a non-retryable failure; 'retries_exhausted': every try failed; 'unreadable': the records are gone. */
  kind: 'rejected' | 'retries_exhausted' | 'unreadable';
  reason: string;
  recordId: string | null;
  sequence: number;
  at: string;
}

export type DeliveryState = 'running' | 'paused' | 'stopped';

export function deliveryState(stop: DeliveryStop | null, paused: unknown): DeliveryState {
  return stop ? 'stopped' : paused ? 'paused' : 'running';
}

/** Rewind to a sequence (delivered again from it) or to a time (from the first record committed at or after it). */
export interface RewindRequest {
  toSequence?: number;
  toTime?: string;
  dryRun: boolean;
}

export interface RewindResult {
  dryRun: boolean;
  /** The first sequence delivered again (null: nothing to deliver again). */
  fromSequence: number | null;
  /** The delivered sequence before the rewind. */
  deliveredSequence: number;
  /** Records that will be delivered again. */
  records: number;
}

/** Why a rewind request is not one, or null. */
export function invalidRewind(request: RewindRequest): string | null {
  const bySequence = request.toSequence !== undefined && request.toSequence !== null;
  const byTime = request.toTime !== undefined && request.toTime !== null;
  if (bySequence === byTime) return 'give either a sequence or a time to rewind to';
  if (bySequence && (!Number.isSafeInteger(request.toSequence) || request.toSequence! < 1)) {
    return 'the sequence to rewind to is a whole number from 1';
  }
  if (byTime && Number.isNaN(Date.parse(request.toTime!))) return `"${String(request.toTime).slice(0, 40)}" is not a time (ISO 8601)`;
  return null;
}

/**
 * The cursor after a rewind whose first record to deliver again is `first` (null: no record at or
 * after the time): never forward, never before the start.
 */
export function rewoundCursor(delivered: number, first: number | null): number {
  if (first === null) return delivered;
  return Math.max(0, Math.min(delivered, first - 1));
}

/** Application calls needed for `records` records in batches of `batch`. */
export function batchesFor(records: number, batch: number): number {
  return Math.ceil(records / batch);
}

/**
 * The reason a delivery stopped, as operators read it: the application's failure, and what to do
 * when it is the application's worker not reading scimflow's payloads (no payload codec).
 */
export function stopReason(failure: string): string {
  if (/binary\/zlib|binary\/encrypted/.test(failure) && !/payload codec/.test(failure)) {
    return `${failure} (the application's worker reads scimflow's payloads without scimflow's payload codec: give its worker dataConverter() of temporal/codec.ts with the same PAYLOAD_COMPRESSION and PAYLOAD_ENCRYPTION_KEYS, then: delivery retry)`;
  }
  return failure;
}
