import { ApplicationFailure } from '@temporalio/common';
import type { LogLevel as TemporalLogLevel, LogMetadata } from '@temporalio/common';
import type { Logger } from '../observability/logger';

/**
 * The Temporal runtime's own log lines, through scimflow's structured logger: one JSON line each,
 * errors by name and message, never a stack. An activity that refuses (a non-retryable
 * ApplicationFailure with its own reason, e.g. "Scalekit does not know organization …") did its
 * job: it is logged as one `activity refused` line with the reason, at info, not as a failure.
 */

/** Non-retryable failures that are failures, not refusals. */
const NOT_REFUSALS = new Set(['PermanentDataError', 'DatabaseMisconfigured', 'DatabaseUnavailable', 'PushRejected', 'PushFailed']);

export function isRefusal(error: unknown): error is ApplicationFailure {
  return error instanceof ApplicationFailure && error.nonRetryable === true && !NOT_REFUSALS.has(error.type ?? '');
}

export function temporalLogTo(logger: Logger): (entry: { level: TemporalLogLevel; message: string; meta?: LogMetadata }) => void {
  return ({ level, message, meta }) => {
    // The Scalekit and reconcile workers run activities only, which the runtime warns about at
    // every start: that is by design, not news.
    if (message.startsWith('No workflows registered')) return;
    if (message === 'Activity failed' && isRefusal(meta?.error)) {
      const { error, taskToken: _taskToken, ...rest } = meta as LogMetadata & { error: ApplicationFailure };
      logger.info('activity refused', {
        activityType: rest.activityType,
        workflowId: rest.workflowId,
        reason: error.message,
        ...(error.type ? { type: error.type } : {}),
        source: 'temporal',
      });
      return;
    }
    const write = level === 'ERROR' ? logger.error : level === 'WARN' ? logger.warn : level === 'INFO' ? logger.info : logger.debug;
    write(message, { ...meta, source: 'temporal' });
  };
}
