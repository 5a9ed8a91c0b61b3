import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../../config/index';
import { batchesFor, deliverySettings, deliveryState, invalidRewind, rewoundCursor, stopReason } from '../../domain/delivery';

describe('delivery settings', () => {
  it('defaults to 500 records a call and 10 tries', () => {
    expect(deliverySettings('acme-app')).toEqual({
      appTaskQueue: 'acme-app',
      batch: 500,
      maxAttempts: 10,
      maxRetryInterval: '1 minute',
      idleCheck: '5 minutes',
    });
    expect(deliverySettings('acme-app', { batch: 50 }).batch).toBe(50);
  });

  it('APP_DELIVERY_BATCH and APP_DELIVERY_ATTEMPTS are bounded whole numbers', () => {
    expect(parseConfig({ APP_TASK_QUEUE: ' acme ' }).delivery).toEqual({ appTaskQueue: 'acme', batch: 500, maxAttempts: 10 });
    expect(parseConfig({ APP_TASK_QUEUE: '' }).delivery.appTaskQueue).toBeUndefined();
    for (const bad of [
      { APP_DELIVERY_BATCH: '0' },
      { APP_DELIVERY_BATCH: '1001' },
      { APP_DELIVERY_BATCH: '2.5' },
      { APP_DELIVERY_ATTEMPTS: '0' },
    ]) {
      expect(() => parseConfig(bad)).toThrow(ConfigError);
    }
    expect(() => parseConfig({ APP_DELIVERY_BATCH: 'many' })).toThrow(
      /APP_DELIVERY_BATCH: expected a whole number of records per call from 1 to 1000/,
    );
  });
});

describe('rewind', () => {
  it('takes a sequence or a time, not both, not neither', () => {
    expect(invalidRewind({ toSequence: 3, dryRun: true })).toBeNull();
    expect(invalidRewind({ toTime: '2026-12-01T09:00:00Z', dryRun: false })).toBeNull();
    expect(invalidRewind({ dryRun: true })).toMatch(/either a sequence or a time/);
    expect(invalidRewind({ toSequence: 3, toTime: '2026-12-01T09:00:00Z', dryRun: true })).toMatch(/either/);
    expect(invalidRewind({ toSequence: 0, dryRun: true })).toMatch(/whole number from 1/);
    expect(invalidRewind({ toSequence: 1.5, dryRun: true })).toMatch(/whole number/);
    expect(invalidRewind({ toTime: 'yesterday', dryRun: true })).toMatch(/not a time/);
  });

  it('moves the cursor back to before the first record to deliver again, never forward', () => {
    expect(rewoundCursor(10, 4)).toBe(3);
    expect(rewoundCursor(10, 1)).toBe(0);
    expect(rewoundCursor(10, 11)).toBe(10);
    expect(rewoundCursor(10, 50)).toBe(10);
    expect(rewoundCursor(10, null)).toBe(10);
  });
});

describe('delivery state', () => {
  it('a stop outranks a pause', () => {
    const stop = { kind: 'rejected' as const, reason: 'no', recordId: '1', sequence: 1, at: '2026-12-01T00:00:00Z' };
    expect(deliveryState(null, null)).toBe('running');
    expect(deliveryState(null, { since: 'x' })).toBe('paused');
    expect(deliveryState(stop, { since: 'x' })).toBe('stopped');
  });

  it('N records take ceil(N / batch) calls', () => {
    expect(batchesFor(0, 500)).toBe(0);
    expect(batchesFor(1, 500)).toBe(1);
    expect(batchesFor(10_000, 500)).toBe(20);
    expect(batchesFor(7, 3)).toBe(3);
  });
});

describe('stop reason', () => {
  it("says what to do when the application's worker cannot read scimflow's payloads", () => {
    expect(stopReason('Unknown encoding: binary/zlib')).toMatch(
      /^Unknown encoding: binary\/zlib \(the application's worker reads scimflow's payloads without scimflow's payload codec: give its worker dataConverter\(\).*then: delivery retry\)$/,
    );
    expect(stopReason('Unknown encoding: binary/encrypted')).toMatch(/without scimflow's payload codec/);
    // Any other failure is the application's own words.
    expect(stopReason('record 12 belongs to another organization')).toBe('record 12 belongs to another organization');
  });
});
