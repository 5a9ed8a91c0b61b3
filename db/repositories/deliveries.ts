import type { Knex } from 'knex';
import type { ChangeRecord } from '../../domain/changes';
import { deliveryState, type DeliveryState, type DeliveryStop } from '../../domain/delivery';
import { ChangeCursorError, readChanges } from './changes';

/**
 * Where each organization's delivery of the change stream stands (`change_deliveries`), and the
 * records an operator skipped (`change_delivery_skips`). The delivery workflow writes them; status
 * reads them (with the stream's newest sequence) without asking the workflow.
 */

type Db = Knex | Knex.Transaction;

/** 'temporal': the application's activity on APP_TASK_QUEUE; 'webhook': signed HTTP push to APP_WEBHOOK_URL. */
export type DeliveryChannel = 'temporal' | 'webhook';

export const DELIVERY_CHANNELS: readonly DeliveryChannel[] = ['temporal', 'webhook'];

/** What the delivery workflow persists of itself. */
export interface DeliverySnapshot {
  deliveredSequence: number;
  paused: { since: string; note: string | null } | null;
  stop: DeliveryStop | null;
}

export interface DeliveryRow extends DeliverySnapshot {
  state: DeliveryState;
  deliveredAt: string | null;
}

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v));

function toRow(r: Record<string, unknown>): DeliveryRow {
  const stop: DeliveryStop | null =
    r.state === 'stopped'
      ? {
          kind: (r.stop_kind as DeliveryStop['kind'] | null) ?? 'rejected',
          reason: (r.stop_reason as string | null) ?? '',
          recordId: (r.stopped_record_id as string | null) ?? null,
          sequence: Number(r.stopped_sequence ?? 0),
          at: iso(r.stopped_at) ?? '',
        }
      : null;
  return {
    state: r.state as DeliveryState,
    deliveredSequence: Number(r.delivered_sequence),
    deliveredAt: iso(r.delivered_at),
    paused: r.paused_at ? { since: iso(r.paused_at)!, note: (r.pause_note as string | null) ?? null } : null,
    stop,
  };
}

export async function loadDelivery(db: Db, organizationId: string, channel: DeliveryChannel): Promise<DeliveryRow | null> {
  const row = (await db('change_deliveries').where({ organization_id: organizationId, channel }).first()) as
    Record<string, unknown> | undefined;
  return row ? toRow(row) : null;
}

/** Writes the whole snapshot (state, cursor, pause, stop). */
export async function saveDelivery(db: Db, organizationId: string, channel: DeliveryChannel, s: DeliverySnapshot): Promise<void> {
  await db.raw(
    `INSERT INTO change_deliveries AS d (organization_id, channel, delivered_sequence, state, paused_at, pause_note,
            stop_kind, stop_reason, stopped_at, stopped_sequence, stopped_record_id, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())
     ON CONFLICT (organization_id, channel) DO UPDATE SET
       delivered_sequence = EXCLUDED.delivered_sequence, state = EXCLUDED.state,
       paused_at = EXCLUDED.paused_at, pause_note = EXCLUDED.pause_note,
       stop_kind = EXCLUDED.stop_kind, stop_reason = EXCLUDED.stop_reason, stopped_at = EXCLUDED.stopped_at,
       stopped_sequence = EXCLUDED.stopped_sequence, stopped_record_id = EXCLUDED.stopped_record_id,
       updated_at = now()`,
    [
      organizationId,
      channel,
      s.deliveredSequence,
      deliveryState(s.stop, s.paused),
      s.paused?.since ?? null,
      s.paused?.note ?? null,
      s.stop?.kind ?? null,
      s.stop?.reason ?? null,
      s.stop?.at ?? null,
      s.stop?.sequence ?? null,
      s.stop?.recordId ?? null,
    ],
  );
}

/** Records that the application acknowledged every record up to `sequence`. */
/** A record the application has just committed: how long since its directory change and since its commit in the mirror. */
export interface DeliveredRecord {
  kind: string;
  /** Null when the record's directory change time is not known. */
  secondsSinceOccurred: number | null;
  secondsSinceCommitted: number;
}

/**
 * The records after the channel's cursor up to `sequence`: what a delivery that reached
 * `sequence` has just delivered (none when the cursor is there already: a retried save).
 */
export async function recordsDeliveredThrough(
  db: Db,
  organizationId: string,
  channel: DeliveryChannel,
  sequence: number,
): Promise<DeliveredRecord[]> {
  const { rows } = (await db.raw(
    `SELECT r.kind,
            extract(epoch FROM clock_timestamp() - r.occurred_at)::float8 AS occurred,
            extract(epoch FROM clock_timestamp() - r.committed_at)::float8 AS committed
       FROM change_records r
      WHERE r.organization_id = ?
        AND r.sequence > coalesce((SELECT d.delivered_sequence FROM change_deliveries d WHERE d.organization_id = ? AND d.channel = ?), 0)
        AND r.sequence <= ?`,
    [organizationId, organizationId, channel, sequence],
  )) as { rows: { kind: string; occurred: number | null; committed: number }[] };
  return rows.map((r) => ({
    kind: r.kind,
    secondsSinceOccurred: r.occurred === null ? null : Math.max(0, Number(r.occurred)),
    secondsSinceCommitted: Math.max(0, Number(r.committed)),
  }));
}

export async function saveDelivered(db: Db, organizationId: string, channel: DeliveryChannel, sequence: number): Promise<void> {
  await db.raw(
    `INSERT INTO change_deliveries AS d (organization_id, channel, delivered_sequence, delivered_at, updated_at)
     VALUES (?, ?, ?, now(), now())
     ON CONFLICT (organization_id, channel) DO UPDATE SET
       delivered_sequence = EXCLUDED.delivered_sequence, delivered_at = now(), updated_at = now()`,
    [organizationId, channel, sequence],
  );
}

export type DeliveryPage = { records: ChangeRecord[]; more: boolean } | { gone: string };

/**
 * The most a batch's records may weigh, as JSON. A batch travels through Temporal twice (the read's
 * result, the application's activity input): Temporal refuses a payload over 2 MB (a batch of users
 * in many groups would stop the delivery for good) and warns over 512 KiB. 500 ordinary records
 * weigh about 350 KiB. One record always goes.
 */
export const MAX_BATCH_BYTES = 384 * 1024;

/** The organization's next records after `after`, or why they cannot be read any more (retention). */
export async function readDeliveryBatch(
  db: Db,
  organizationId: string,
  after: number,
  limit: number,
  maxBytes = MAX_BATCH_BYTES,
): Promise<DeliveryPage> {
  try {
    // From the start: the oldest records kept (retention may have removed older ones before delivery was turned on).
    const page = await readChanges(db, { organizationId, after: after === 0 ? null : String(after), limit });
    let bytes = 0;
    const fits = page.records.findIndex((r, i) => (bytes += Buffer.byteLength(JSON.stringify(r))) > maxBytes && i > 0);
    if (fits !== -1) return { records: page.records.slice(0, fits), more: true };
    return { records: page.records, more: page.more };
  } catch (err) {
    if (err instanceof ChangeCursorError && err.status === 410) return { gone: err.message };
    throw err;
  }
}

/** The sequence of the organization's first record committed at or after `time`, or null. */
export async function firstSequenceAt(db: Db, organizationId: string, time: string): Promise<number | null> {
  const row = (await db('change_records')
    .where('organization_id', organizationId)
    .andWhere('committed_at', '>=', time)
    .min('sequence as first')
    .first()) as { first: string | number | null } | undefined;
  return row?.first === null || row?.first === undefined ? null : Number(row.first);
}

/**
 * Passes over the record at `sequence` (it must be the organization's record `recordId`) with the
 * reason: recorded, and the cursor moved past it, together.
 */
export async function recordSkip(
  db: Knex,
  organizationId: string,
  channel: DeliveryChannel,
  skip: { recordId: string; sequence: number; reason: string },
): Promise<boolean> {
  return db.transaction(async (trx) => {
    const found = (await trx('change_records').where({ organization_id: organizationId, sequence: skip.sequence }).first('id')) as
      { id: string | number } | undefined;
    if (!found || String(found.id) !== skip.recordId) return false;
    await trx('change_delivery_skips').insert({
      organization_id: organizationId,
      channel,
      record_id: skip.recordId,
      sequence: skip.sequence,
      reason: skip.reason,
    });
    return true;
  });
}

export interface DeliverySkip {
  recordId: string;
  sequence: number;
  reason: string;
  skippedAt: string;
}

export async function listSkips(db: Db, organizationId: string, channel: DeliveryChannel, limit = 20): Promise<DeliverySkip[]> {
  const rows = (await db('change_delivery_skips')
    .where({ organization_id: organizationId, channel })
    .orderBy('id', 'desc')
    .limit(limit)
    .select('record_id', 'sequence', 'reason', 'skipped_at')) as Record<string, unknown>[];
  return rows.map((r) => ({
    recordId: String(r.record_id),
    sequence: Number(r.sequence),
    reason: String(r.reason),
    skippedAt: iso(r.skipped_at)!,
  }));
}

/** An organization's delivery as operators see it. */
export interface DeliveryStatus {
  organizationId: string;
  channel: DeliveryChannel;
  /** 'idle': nothing was delivered or recorded yet. */
  state: DeliveryState | 'idle';
  deliveredSequence: number;
  deliveredAt: string | null;
  /** The organization's newest record. */
  latestSequence: number;
  /** Records committed and not delivered yet. */
  waiting: number;
  /** Seconds since the oldest waiting record was committed (null: none waits). */
  oldestWaitingSeconds: number | null;
  paused: { since: string; note: string | null } | null;
  stop: DeliveryStop | null;
  skips: DeliverySkip[];
}

export async function deliveryStatus(db: Db, organizationId: string, channel: DeliveryChannel): Promise<DeliveryStatus> {
  const row = await loadDelivery(db, organizationId, channel);
  const delivered = row?.deliveredSequence ?? 0;
  const { rows } = (await db.raw(
    `SELECT (SELECT coalesce(max(sequence), 0) FROM change_records WHERE organization_id = ?) AS latest,
            (SELECT extract(epoch FROM now() - min(committed_at)) FROM change_records WHERE organization_id = ? AND sequence > ?) AS oldest`,
    [organizationId, organizationId, delivered],
  )) as { rows: { latest: string | number; oldest: string | number | null }[] };
  const latest = Math.max(Number(rows[0]?.latest ?? 0), delivered);
  const oldest = rows[0]?.oldest;
  return {
    organizationId,
    channel,
    state: row ? row.state : latest > 0 ? 'running' : 'idle',
    deliveredSequence: delivered,
    deliveredAt: row?.deliveredAt ?? null,
    latestSequence: latest,
    waiting: latest - delivered,
    oldestWaitingSeconds: oldest === null || oldest === undefined ? null : Math.max(0, Math.round(Number(oldest))),
    paused: row?.paused ?? null,
    stop: row?.stop ?? null,
    skips: await listSkips(db, organizationId, channel, 10),
  };
}

/** Deliveries as /metrics reports them: what waits for an operator, and how far behind the application is. */
export interface DeliveryGauges {
  stoppedDeliveries: number;
  pausedDeliveries: number;
  /** Records committed and not delivered yet, over every organization whose delivery has started. */
  recordsWaiting: number;
  /** Seconds since the oldest of them was committed (null: none waits). */
  oldestWaitingSeconds: number | null;
}

export async function readDeliveryGauges(db: Db, channel: DeliveryChannel): Promise<DeliveryGauges> {
  const { rows } = (await db.raw(
    `SELECT count(*) FILTER (WHERE d.state = 'stopped')::int AS stopped,
            count(*) FILTER (WHERE d.state = 'paused')::int AS paused,
            coalesce(sum(greatest(o.change_sequence - d.delivered_sequence, 0)), 0)::float8 AS waiting,
            extract(epoch FROM now() - min(w.committed_at))::float8 AS oldest
       FROM change_deliveries d
       JOIN organizations o ON o.id = d.organization_id
       LEFT JOIN LATERAL (SELECT c.committed_at FROM change_records c
                           WHERE c.organization_id = d.organization_id AND c.sequence > d.delivered_sequence
                           ORDER BY c.sequence LIMIT 1) w ON true
      WHERE d.channel = ?`,
    [channel],
  )) as { rows: { stopped: number; paused: number; waiting: number; oldest: number | null }[] };
  const r = rows[0];
  return {
    stoppedDeliveries: Number(r?.stopped ?? 0),
    pausedDeliveries: Number(r?.paused ?? 0),
    recordsWaiting: Number(r?.waiting ?? 0),
    oldestWaitingSeconds: r?.oldest === null || r?.oldest === undefined ? null : Math.max(0, Math.round(Number(r.oldest))),
  };
}

/** Organizations whose newest record is past what was delivered (or that never delivered one). */
export async function organizationsWithUndelivered(db: Db, channel: DeliveryChannel): Promise<string[]> {
  const { rows } = (await db.raw(
    `SELECT o.id FROM organizations o
       LEFT JOIN change_deliveries d ON d.organization_id = o.id AND d.channel = ?
      WHERE o.change_sequence > coalesce(d.delivered_sequence, 0)
      ORDER BY o.id`,
    [channel],
  )) as { rows: { id: string }[] };
  return rows.map((r) => r.id);
}
