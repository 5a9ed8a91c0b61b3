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
 * (transient, retried with backoff) or `PermanentDataError`. Failures the activity raises itself
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

export function toFailure(err: unknown, options: ReportOptions): unknown {
  if (err instanceof CancelledFailure) return err;
  if (err instanceof ApplicationFailure) {
    if (err.message.length <= MAX_MESSAGE) return err;
    return ApplicationFailure.create({ message: describeError(err, MAX_MESSAGE), type: err.type ?? undefined, nonRetryable: err.nonRetryable ?? undefined });
  }
  const permanent = classifyError(err) === 'permanent';
  return ApplicationFailure.create({
    message: describeError(err, MAX_MESSAGE),
    type: permanent ? 'PermanentDataError' : 'DatabaseUnavailable',
    nonRetryable: permanent && options.permanentIsFinal,
  });
}
