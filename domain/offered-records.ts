import type { ChangeRecord } from './changes';

/**
 * The most weight (JSON characters) of records a delivery keeps from wake-ups: two full wake-ups,
 * enough for the records that arrive while a batch is with the application, and little memory for
 * a delivery that is paused or stopped (it reads when it goes on).
 */
export const OFFERED_MAX_CHARS = 128 * 1024;

/**
 * The records wake-ups carried and not yet delivered: in order without a gap, the newest kept when
 * they weigh more than `maxChars`. Records never change once committed, so records of two
 * wake-ups that overlap are the same records.
 */
export class OfferedRecords {
  private records: { record: ChangeRecord; chars: number }[] = [];

  constructor(private readonly maxChars = OFFERED_MAX_CHARS) {}

  get last(): number {
    return this.records[this.records.length - 1]?.record.sequence ?? 0;
  }

  add(records: ChangeRecord[]): void {
    const incoming = records.map((record) => ({ record, chars: JSON.stringify(record).length }));
    if (!incoming.every((r, i) => i === 0 || r.record.sequence === incoming[i - 1]!.record.sequence + 1)) return;
    const first = incoming[0]!.record.sequence;
    const last = incoming[incoming.length - 1]!.record.sequence;
    if (last <= this.last) return;
    // Continuing (or overlapping) what is kept: together; after a gap: the newest alone.
    const kept = first <= this.last + 1 ? this.records.filter((r) => r.record.sequence < first) : [];
    let merged = [...kept, ...incoming];
    let chars = merged.reduce((sum, r) => sum + r.chars, 0);
    while (merged.length > 0 && chars > this.maxChars) {
      chars -= merged[0]!.chars;
      merged = merged.slice(1);
    }
    this.records = merged;
  }

  /** Whether the kept records start at `sequence` (those before it are dropped). */
  startsAt(sequence: number): boolean {
    this.drop(sequence - 1);
    return this.records[0]?.record.sequence === sequence;
  }

  /** Up to `limit` of the kept records after `after`. */
  take(after: number, limit: number): ChangeRecord[] {
    this.drop(after);
    return this.records.slice(0, limit).map((r) => r.record);
  }

  private drop(through: number): void {
    const keep = this.records.findIndex((r) => r.record.sequence > through);
    this.records = keep === -1 ? [] : this.records.slice(keep);
  }
}
