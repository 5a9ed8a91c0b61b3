import { Context } from '@temporalio/activity';

/**
 * Heartbeats on a timer while `fn` runs (one long SQL statement cannot heartbeat itself), so a
 * worker that dies mid-activity is noticed within the heartbeat timeout rather than the much
 * longer start-to-close timeout. `details`, when given, is sent with each heartbeat (progress the
 * Temporal UI shows). Outside an activity (unit tests) it just runs `fn`.
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, options: { everyMs?: number; details?: () => unknown } = {}): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return fn();
  }
  const timer = setInterval(() => ctx?.heartbeat(options.details?.()), options.everyMs ?? 2_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
