/**
 * A nanosecond wall clock. Scalekit stamps events like `2025-01-15T08:55:22.802860294Z`;
 * a JS Date only has milliseconds, so we add the monotonic clock's nanoseconds to a
 * wall-clock anchor and never hand out the same instant twice (freshness checks compare them).
 */

const anchorWallNs = BigInt(Date.now()) * 1_000_000n;
const anchorMono = process.hrtime.bigint();
let lastNs = 0n;

/** Epoch nanoseconds, strictly increasing across calls in this process. */
export function nowNs(): bigint {
  let ns = anchorWallNs + (process.hrtime.bigint() - anchorMono);
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

/** RFC 3339 in UTC with all nine fractional digits. */
export function formatNs(ns: bigint): string {
  const millis = ns / 1_000_000n;
  const iso = new Date(Number(millis)).toISOString(); // 2025-01-15T08:55:22.802Z
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${fraction}Z`;
}

/** protobuf Timestamp parts of an epoch-nanosecond instant. */
export function nsToTimestamp(ns: bigint): { seconds: bigint; nanos: number } {
  return { seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) };
}

export function timestampToNs(ts: { seconds: bigint; nanos: number }): bigint {
  return ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
}
