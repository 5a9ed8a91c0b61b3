import { describe, expect, it } from 'vitest';
import type { ChangeRecord } from '../../domain/changes';
import { OfferedRecords } from '../../domain/offered-records';

/** Group records (the smallest kind) numbered `from`..`to`, with a name of `pad` characters. */
function records(from: number, to: number, pad = 10): ChangeRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => {
    const sequence = from + i;
    return {
      id: String(1000 + sequence),
      organizationId: 'org_a',
      sequence,
      kind: 'group.created',
      subject: { type: 'group', id: `dirgroup_${sequence}` },
      view: { id: `dirgroup_${sequence}`, name: 'g'.repeat(pad), directoryId: 'dir_1' },
      changes: {},
      cause: { type: 'event', eventId: `evt_${sequence}` },
      occurredAt: null,
      committedAt: '2026-12-02T00:00:00.000Z',
    } as unknown as ChangeRecord;
  });
}

const sequences = (list: ChangeRecord[]) => list.map((r) => r.sequence);

describe('records carried by wake-ups', () => {
  it('hands over the records right after the cursor, at most the limit', () => {
    const offered = new OfferedRecords();
    offered.add(records(4, 9));
    expect(offered.startsAt(4)).toBe(true);
    expect(sequences(offered.take(3, 4))).toEqual([4, 5, 6, 7]);
    expect(offered.last).toBe(9);
    // Delivered through 7: the rest starts at 8.
    expect(offered.startsAt(8)).toBe(true);
    expect(sequences(offered.take(7, 10))).toEqual([8, 9]);
  });

  it('does not start at a cursor it lacks the record after (the delivery reads instead)', () => {
    const offered = new OfferedRecords();
    offered.add(records(5, 6));
    expect(offered.startsAt(3)).toBe(false);
    // Past what it holds: nothing left.
    expect(offered.startsAt(7)).toBe(false);
    expect(offered.last).toBe(0);
  });

  it('joins wake-ups that continue or overlap one another', () => {
    const offered = new OfferedRecords();
    offered.add(records(1, 3));
    offered.add(records(4, 5));
    offered.add(records(5, 7));
    expect(sequences(offered.take(0, 100))).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('after a gap keeps only the newer records, and ignores an older wake-up that arrives late', () => {
    const offered = new OfferedRecords();
    offered.add(records(1, 3));
    offered.add(records(6, 8));
    expect(offered.startsAt(1)).toBe(false);
    expect(sequences(offered.take(5, 100))).toEqual([6, 7, 8]);
    offered.add(records(2, 4));
    expect(sequences(offered.take(5, 100))).toEqual([6, 7, 8]);
  });

  it('ignores a wake-up whose records have a gap', () => {
    const offered = new OfferedRecords();
    offered.add([...records(1, 2), ...records(4, 4)]);
    expect(offered.last).toBe(0);
  });

  it('keeps the newest records within its weight', () => {
    const one = JSON.stringify(records(1, 1, 100)[0]).length;
    const offered = new OfferedRecords(one * 3);
    offered.add(records(1, 2, 100));
    offered.add(records(3, 5, 100));
    expect(offered.startsAt(1)).toBe(false);
    expect(sequences(offered.take(2, 100))).toEqual([3, 4, 5]);
    // One record heavier than the whole weight: nothing is kept.
    const light = new OfferedRecords(one - 1);
    light.add(records(1, 1, 100));
    expect(light.last).toBe(0);
  });
});
