/**
 * Scalekit timestamps carry up to nanosecond precision (`2025-01-15T08:55:22.802860294Z`), more than
 * a JS Date or a Postgres timestamptz holds. Freshness comparisons use integer nanoseconds since
 * the epoch, kept as decimal strings so they survive JSON (workflow history) unchanged.
 */

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9})\d*)?([Zz]|[+-]\d{2}:\d{2})$/;

const MIN_NS = -(2n ** 63n);
const MAX_NS = 2n ** 63n - 1n;

/** Epoch nanoseconds of an RFC 3339 timestamp, or undefined if it is not one (or not storable). */
export function toEpochNanos(timestamp: string): string | undefined {
  const m = RFC3339.exec(timestamp);
  if (!m) return undefined;
  const [, date = '', time = '', fraction = '', zone = 'Z'] = m;
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hour, minute, second] = time.split(':').map(Number) as [number, number, number];
  // Date.parse rolls impossible dates over (Feb 30 → Mar 2); refuse them instead.
  if (hour > 23 || minute > 59 || second > 60 || month < 1 || month > 12 || day < 1) return undefined;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  const millis = Date.parse(`${date}T${time}${zone.toUpperCase() === 'Z' ? 'Z' : zone}`);
  if (Number.isNaN(millis)) return undefined;
  const nanosInSecond = BigInt(fraction.padEnd(9, '0'));
  const ns = BigInt(millis) * 1_000_000n + nanosInSecond;
  // Stored as a signed 64-bit integer: 1677-09-21 to 2262-04-11. Go's zero time is outside.
  if (ns < MIN_NS || ns > MAX_NS) return undefined;
  return ns.toString();
}

/** Epoch nanoseconds (decimal string) of a Date. */
export function dateToEpochNanos(date: Date): string {
  return (BigInt(date.getTime()) * 1_000_000n).toString();
}

/** Compares two epoch-nanosecond strings: negative, zero or positive. */
export function compareNanos(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
