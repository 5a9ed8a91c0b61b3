import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { WorkerMetrics } from '../observability/metrics';

/**
 * The error class of a failed activity attempt, as a bounded label: the failure type it reports
 * to Temporal (activities/failures.ts: DatabaseUnavailable, PermanentDataError, a refusal's own
 * type…), or the error's name.
 */
export function errorClass(err: unknown): string {
  const name = err instanceof ApplicationFailure ? (err.type ?? 'ApplicationFailure') : err instanceof Error ? err.name : 'unknown';
  return /^[\w.]{1,64}$/.test(name) ? name : 'other';
}

/**
 * Counts every activity attempt that fails, by activity type and error class, and every attempt
 * after the first (Temporal retrying). A cancellation (the workflow no longer wants the result, or
 * the worker is stopping) is no failure.
 */
export function activityMetrics(metrics: WorkerMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const activity = ctx.info.activityType;
        if (ctx.info.attempt > 1) metrics.activityRetries.inc({ activity });
        try {
          return await next(input);
        } catch (err) {
          if (!(err instanceof CancelledFailure)) metrics.activityFailures.inc({ activity, error_class: errorClass(err) });
          throw err;
        }
      },
    },
  });
}
