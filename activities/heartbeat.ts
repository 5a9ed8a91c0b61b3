import { Context } from '@temporalio/activity';

/**
 * Heartbeats on a timer while `fn` runs (one long SQL statement cannot heartbeat itself), so a
 * worker that dies mid-activity is noticed within the heartbeat timeout rather than the much
 * longer start-to-close timeout. Outside an activity (unit tests) it just runs `fn`.
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, everyMs = 2_000): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return fn();
  }
  const timer = setInterval(() => ctx?.heartbeat(), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
