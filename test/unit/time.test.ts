import { describe, expect, it } from 'vitest';
import { compareNanos, dateToEpochNanos, toEpochNanos } from '../../domain/time';

// Epoch seconds below were computed independently (`date -u -d … +%s`), not with the code under test.
const S_2025_01_15_08_55_22 = '1736931322';

describe('toEpochNanos', () => {
  it('keeps all nine fraction digits of a Scalekit timestamp', () => {
    expect(toEpochNanos('2025-01-15T08:55:22.802860294Z')).toBe(`${S_2025_01_15_08_55_22}802860294`);
  });

  it('reads a timestamp without a fraction as whole seconds', () => {
    expect(toEpochNanos('2025-01-15T08:55:22Z')).toBe(`${S_2025_01_15_08_55_22}000000000`);
  });

  it.each([
    ['.8', '800000000'],
    ['.05', '050000000'],
    ['.153954', '153954000'],
    ['.00000001', '000000010'],
  ])('pads a fraction with fewer than nine digits (%s) on the right', (fraction, nanos) => {
    expect(toEpochNanos(`2025-01-15T08:55:22${fraction}Z`)).toBe(`${S_2025_01_15_08_55_22}${nanos}`);
  });

  it('truncates (does not round) digits beyond nanoseconds', () => {
    expect(toEpochNanos('2025-01-15T08:55:22.8028602949999Z')).toBe(`${S_2025_01_15_08_55_22}802860294`);
    expect(toEpochNanos('2025-01-15T08:55:22.999999999999Z')).toBe(`${S_2025_01_15_08_55_22}999999999`);
  });

  it('applies a +05:30 offset (local time ahead of UTC)', () => {
    // 14:25:22+05:30 is 08:55:22Z.
    expect(toEpochNanos('2025-01-15T14:25:22.000000001+05:30')).toBe(`${S_2025_01_15_08_55_22}000000001`);
  });

  it('applies a negative offset', () => {
    // 03:25:22-05:30 is 08:55:22Z.
    expect(toEpochNanos('2025-01-15T03:25:22.5-05:30')).toBe(`${S_2025_01_15_08_55_22}500000000`);
  });

  it('treats +00:00, Z and z alike, and accepts t or a space as separator', () => {
    const expected = `${S_2025_01_15_08_55_22}123000000`;
    expect(toEpochNanos('2025-01-15T08:55:22.123+00:00')).toBe(expected);
    expect(toEpochNanos('2025-01-15T08:55:22.123z')).toBe(expected);
    expect(toEpochNanos('2025-01-15t08:55:22.123Z')).toBe(expected);
    expect(toEpochNanos('2025-01-15 08:55:22.123Z')).toBe(expected);
  });

  it('handles instants before the epoch (negative nanoseconds, fraction still added)', () => {
    expect(toEpochNanos('1969-12-31T23:59:59.5Z')).toBe('-500000000');
    expect(toEpochNanos('1970-01-01T00:00:00Z')).toBe('0');
  });

  it('keeps precision beyond Number.MAX_SAFE_INTEGER (nanoseconds differ in the last digit)', () => {
    const a = toEpochNanos('2025-01-15T08:55:22.802860294Z');
    const b = toEpochNanos('2025-01-15T08:55:22.802860295Z');
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(BigInt(b as string) - BigInt(a as string)).toBe(1n);
  });

  it.each([
    ['empty string', ''],
    ['not a date', 'yesterday'],
    ['no zone', '2025-01-15T08:55:22.802860294'],
    ['date only', '2025-01-15'],
    ['dot without digits', '2025-01-15T08:55:22.Z'],
    ['zone without colon', '2025-01-15T08:55:22+0530'],
    ['month 13', '2025-13-15T08:55:22Z'],
    ['minute 60', '2025-01-15T08:60:22Z'],
    ['offset hour 24', '2025-01-15T08:55:22+24:00'],
    ['epoch milliseconds', '1736931322802'],
    ['trailing garbage', '2025-01-15T08:55:22Zjunk'],
    ['leading whitespace', ' 2025-01-15T08:55:22Z'],
    ['single-digit month', '2025-1-15T08:55:22Z'],
  ])('returns undefined for %s', (_label, input) => {
    expect(toEpochNanos(input)).toBeUndefined();
  });

  it.each([
    ['February 30th', '2025-02-30T00:00:00Z'],
    ['April 31st', '2025-04-31T00:00:00Z'],
    ['hour 24', '2025-01-15T24:00:00Z'],
  ])('returns undefined for a calendar-invalid instant (%s) instead of rolling it over', (_label, input) => {
    // RFC 3339 (section 5.7) rejects these; silently normalising them to another instant would
    // put a fabricated time on the freshness clock.
    expect(toEpochNanos(input)).toBeUndefined();
  });
});

describe('dateToEpochNanos', () => {
  it('converts milliseconds to nanoseconds', () => {
    expect(dateToEpochNanos(new Date(Date.UTC(2025, 0, 15, 8, 55, 22, 802)))).toBe(`${S_2025_01_15_08_55_22}802000000`);
    expect(dateToEpochNanos(new Date(0))).toBe('0');
    expect(dateToEpochNanos(new Date(-1))).toBe('-1000000');
  });

  it('agrees with toEpochNanos for millisecond timestamps', () => {
    const iso = '2025-01-15T08:55:22.802Z';
    expect(dateToEpochNanos(new Date(iso))).toBe(toEpochNanos(iso));
  });
});

describe('compareNanos', () => {
  it('orders numerically, not lexicographically', () => {
    // As strings '9' > '10'; as numbers 9 < 10.
    expect(compareNanos('9', '10')).toBeLessThan(0);
    expect(compareNanos('10', '9')).toBeGreaterThan(0);
    expect(compareNanos('1736931322802860294', '999999999999999999')).toBeGreaterThan(0);
  });

  it('returns exactly -1, 0 or 1', () => {
    expect(compareNanos('1736931322802860294', '1736931322802860295')).toBe(-1);
    expect(compareNanos('1736931322802860295', '1736931322802860294')).toBe(1);
    expect(compareNanos('1736931322802860294', '1736931322802860294')).toBe(0);
  });

  it('distinguishes values one nanosecond apart beyond double precision', () => {
    // Both round to the same double; BigInt keeps them apart.
    expect(Number('1736931322802860294')).toBe(Number('1736931322802860295'));
    expect(compareNanos('1736931322802860294', '1736931322802860295')).toBe(-1);
  });

  it('handles zero (placeholder freshness) and negative values', () => {
    expect(compareNanos('0', '1')).toBe(-1);
    expect(compareNanos('-500000000', '0')).toBe(-1);
    expect(compareNanos('0', '-1')).toBe(1);
  });

  it('orders timestamps with different offsets by instant, not by text', () => {
    const utc = toEpochNanos('2025-01-15T08:55:22.000000001Z') as string;
    const india = toEpochNanos('2025-01-15T14:25:22+05:30') as string; // 08:55:22Z, one ns earlier
    expect(compareNanos(india, utc)).toBe(-1);
  });
});

describe('the storable range', () => {
  it('refuses instants a signed 64-bit nanosecond count cannot hold', () => {
    expect(toEpochNanos('0001-01-01T00:00:00Z')).toBeUndefined();
    expect(toEpochNanos('2263-01-01T00:00:00Z')).toBeUndefined();
    expect(toEpochNanos('1677-09-22T00:00:00Z')).toBeDefined();
    expect(toEpochNanos('2262-04-11T00:00:00Z')).toBeDefined();
  });
});
