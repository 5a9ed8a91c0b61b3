import { describe, expect, it } from 'vitest';
import { reconcileScheduleOffsetMs, scheduleOffsetMs } from '../../temporal/schedules';

describe('schedule offsets', () => {
  const orgs = Array.from({ length: 2_000 }, (_, i) => `org_${(i * 7919).toString(36)}${i}`);

  it('is the same for the same organization every time, and whole seconds within the interval', () => {
    for (const every of ['1h', '6h', '15m', '1d', '90s', 3_600_000]) {
      const everyMs =
        typeof every === 'number' ? every : { '1h': 3_600_000, '6h': 21_600_000, '15m': 900_000, '1d': 86_400_000, '90s': 90_000 }[every]!;
      for (const org of orgs.slice(0, 200)) {
        const offset = reconcileScheduleOffsetMs(org, 'delta', every);
        expect(offset).toBe(reconcileScheduleOffsetMs(org, 'delta', every));
        expect(offset).toBeGreaterThanOrEqual(0);
        expect(offset).toBeLessThan(everyMs);
        expect(offset % 1000).toBe(0);
      }
    }
    expect(scheduleOffsetMs('org_a', '1 h')).toBe(scheduleOffsetMs('org_a', '1h'));
  });

  it('spreads organizations over the whole interval', () => {
    // 2,000 organizations over the 60 minutes of an hourly delta: every minute gets some, none a crowd.
    const perMinute = new Array<number>(60).fill(0);
    for (const org of orgs) perMinute[Math.floor(reconcileScheduleOffsetMs(org, 'delta', '1h') / 60_000)]! += 1;
    expect(Math.min(...perMinute)).toBeGreaterThan(0);
    expect(Math.max(...perMinute)).toBeLessThan(3 * (orgs.length / 60));
    expect(new Set(orgs.map((o) => reconcileScheduleOffsetMs(o, 'delta', '1h'))).size).toBeGreaterThan(orgs.length * 0.5);
  });

  it("does not put an organization's full run on one of its delta runs", () => {
    // Were the key the organization alone, the offset modulo 6 h and modulo 1 h would agree.
    const together = orgs.filter(
      (o) => reconcileScheduleOffsetMs(o, 'full', '6h') % 3_600_000 === reconcileScheduleOffsetMs(o, 'delta', '1h'),
    );
    expect(together.length).toBeLessThan(5);
  });

  it('has no offset for an interval of a second or less', () => {
    expect(scheduleOffsetMs('org_a', '1s')).toBe(0);
    expect(scheduleOffsetMs('org_a', 500)).toBe(0);
  });
});
