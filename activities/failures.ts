import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { classifyError, describeError } from '../db/errors';

/** What a failure reported to Temporal may say, at most (it lands in histories, the UI and logs). */
const MAX_MESSAGE = 500;

export interface ReportOptions {
  /**
   * A permanent error ends the activity (no retry: it would fail the same way). Off for the
   * activities that apply events: they isolate bad events themselves, and must never end the
   * organization's workflow, so whatever escapes them is retried.
   */
  permanentIsFinal: boolean;
}

/**
 * Wraps an activity so that what it reports to Temporal is bounded and says what went wrong without
 * the statement, its values or a payload: an ApplicationFailure typed `DatabaseUnavailable`
 * (transient, retried with backoff), `DatabaseMisconfigured` (the schema or permissions are not as
 * expected: retried, never quarantined), `PermanentDataError`, or, for an error that is not the
 * database's (a Scalekit call), its own name. Failures the activity raises itself
 * (ApplicationFailure: refusals with their own message) and cancellations pass through.
 */
export function reported<A extends unknown[], R>(fn: (...args: A) => Promise<R>, options: ReportOptions): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toFailure(err, options);
    }
  };
}

/** The failure type an error is reported as, by what it is (see db/errors.ts). */
const FAILURE_TYPES = {
  transient: 'DatabaseUnavailable',
  environment: 'DatabaseMisconfigured',
  data: 'PermanentDataError',
} as const;

export function toFailure(err: unknown, options: ReportOptions): unknown {
  if (err instanceof CancelledFailure) return err;
  if (err instanceof ApplicationFailure) {
    if (err.message.length <= MAX_MESSAGE) return err;
    return ApplicationFailure.create({
      message: describeError(err, MAX_MESSAGE),
      type: err.type ?? undefined,
      nonRetryable: err.nonRetryable ?? undefined,
    });
  }
  const kind = classifyError(err);
  return ApplicationFailure.create({
    message: describeError(err, MAX_MESSAGE),
    // Not PostgreSQL's (a Scalekit call, a bug): named after the error itself.
    type: kind === 'unknown' ? ((err as Error | null)?.name ?? 'Error') : FAILURE_TYPES[kind],
    nonRetryable: kind === 'data' && options.permanentIsFinal,
  });
}
