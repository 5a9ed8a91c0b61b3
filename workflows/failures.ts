import { ActivityFailure } from '@temporalio/common';

/**
 * What went wrong, in words, for a workflow's log, status or report: an activity's own message
 * rather than Temporal's "Activity task failed" wrapper. Pure, so workflows can use it.
 */
export function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return (cause as Error | undefined)?.message ?? String(err);
}
