import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../config/index';
import { describePeriod, parsePeriod } from '../../domain/retention';

const DAY = 86_400;

function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected parseConfig to throw a ConfigError');
}

describe('retention periods', () => {
  it('read days, hours, minutes, a bare number of days, and 0 for keep forever', () => {
    const config = parseConfig({
      RETENTION_EVENT_PAYLOADS: '12h',
      RETENTION_EVENT_LEDGER: '365',
      RETENTION_SYNC_RUNS: '0',
      RETENTION_DEACTIVATED_USERS: ' 2d ',
      RETENTION_INTERVAL: '30m',
    });
    expect(config.retention).toEqual({
      eventPayloadSeconds: 12 * 3_600,
      eventLedgerSeconds: 365 * DAY,
      syncRunSeconds: 0,
      deactivatedUserSeconds: 2 * DAY,
      changeRecordSeconds: 30 * DAY,
      interval: '30m',
    });
  });

  it('blank values take the defaults: payloads 30 days, ledger 180, runs 90, deactivated users kept, hourly', () => {
    const config = parseConfig({ RETENTION_EVENT_PAYLOADS: '', RETENTION_EVENT_LEDGER: ' ', RETENTION_DEACTIVATED_USERS: '' });
    expect(config.retention).toEqual({
      eventPayloadSeconds: 30 * DAY,
      eventLedgerSeconds: 180 * DAY,
      syncRunSeconds: 90 * DAY,
      deactivatedUserSeconds: 0,
      changeRecordSeconds: 30 * DAY,
      interval: '1h',
    });
  });

  it('refuses an event ledger shorter than 7 days, saying why (a redelivery would be applied again)', () => {
    for (const value of ['6d', '100h', '1']) {
      expect(problems({ RETENTION_EVENT_LEDGER: value })).toEqual([
        expect.stringMatching(
          /^RETENTION_EVENT_LEDGER: expected 0 \(keep forever\) or at least 7d: .*redelivery of that event is no longer recognized as a duplicate/,
        ),
      ]);
    }
    expect(parseConfig({ RETENTION_EVENT_LEDGER: '7d' }).retention.eventLedgerSeconds).toBe(7 * DAY);
    expect(parseConfig({ RETENTION_EVENT_LEDGER: '168h' }).retention.eventLedgerSeconds).toBe(7 * DAY);
  });

  it('refuses other periods below their minimum, and what is not a period', () => {
    expect(problems({ RETENTION_SYNC_RUNS: '1d' })).toEqual([
      expect.stringMatching(
        /^RETENTION_SYNC_RUNS: expected 0 \(keep forever\) or at least 2d: a run stopped by the deprovision guard waits/,
      ),
    ]);
    expect(problems({ RETENTION_EVENT_PAYLOADS: '30m' })).toEqual(['RETENTION_EVENT_PAYLOADS: expected 0 (keep forever) or at least 1h']);
    expect(problems({ RETENTION_DEACTIVATED_USERS: '12h' })).toEqual([
      'RETENTION_DEACTIVATED_USERS: expected 0 (keep their personal fields) or at least 1d',
    ]);
    for (const value of ['forever', '-1d', '30 days', '1.5d', '2w']) {
      expect(problems({ RETENTION_EVENT_PAYLOADS: value })).toEqual([
        'RETENTION_EVENT_PAYLOADS: expected a period such as 30d, 12h or 90 (days), or 0 to keep forever',
      ]);
    }
    expect(problems({ RETENTION_INTERVAL: '0h' })).toEqual(['RETENTION_INTERVAL: expected a duration such as 1h, 30m or 1d']);
    expect(problems({ RETENTION_INTERVAL: 'hourly' })).toEqual(['RETENTION_INTERVAL: expected a duration such as 1h, 30m or 1d']);
  });

  it('lists every bad period at once', () => {
    expect(problems({ RETENTION_EVENT_LEDGER: '1d', RETENTION_SYNC_RUNS: 'x', RETENTION_EVENT_PAYLOADS: '90d' })).toHaveLength(2);
  });

  it('are shown as operators write them', () => {
    expect([0, 30 * DAY, 36 * 3_600, 90 * 60, 45].map(describePeriod)).toEqual(['keep forever', '30d', '36h', '90m', '45s']);
    expect(parsePeriod('0')).toBe(0);
    expect(parsePeriod('')).toBeUndefined();
  });
});
