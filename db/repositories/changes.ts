import type { Knex } from 'knex';
import type { ChangeRecord } from '../../domain/changes';

/**
 * Reading the change stream (records are written by the mirror's writer: db/mirror/changes.ts).
 *
 * - One organization's records are read by `sequence`: the writer numbers them under the
 *   organization's lock, which it holds until the commit, so what a reader sees is always every
 *   record up to some number, in commit order.
 * - The stream of every organization is read by (txid, id), taking only records of transactions
 *   older than every one still running (`pg_snapshot_xmin`): a transaction that took its ids early
 *   and commits late is waited for, never passed over. The cursor is `<txid>-<id>` of the last
 *   record read. (A transaction left open in this database holds this stream back until it
 *   ends, one in another database of the cluster does not; one organization's stream waits for
 *   neither.)
 */

type Db = Knex | Knex.Transaction;

export const MAX_CHANGES_LIMIT = 1_000;

/** A cursor that is not one (400), or one whose next records retention removed (410). */
export class ChangeCursorError extends Error {
  constructor(
    readonly status: 400 | 410,
    message: string,
  ) {
    super(message);
  }
}

export interface ChangePage {
  records: ChangeRecord[];
  /** The cursor to pass as `after` for the next page (the same one when nothing came). */
  next: string;
  /** More records are there to read now. */
  more: boolean;
}

export interface ReadChangesOptions {
  /** Where the last read ended: `<txid>-<id>` for every organization's stream, a sequence for one's; absent: from the oldest kept. */
  after?: string | null;
  /** One organization's stream. */
  organizationId?: string;
  limit: number;
}

const GLOBAL_CURSOR = /^(\d{1,20})-(\d{1,19})$/;
const SEQUENCE_CURSOR = /^\d{1,15}$/;

/** A cursor of the stream of every organization, or why it is not one. */
export function parseGlobalCursor(after: string): { txid: string; id: string } {
  const m = GLOBAL_CURSOR.exec(after);
  if (!m)
    throw new ChangeCursorError(400, `"${after.slice(0, 60)}" is not a cursor of the change stream: pass the "next" of a previous answer`);
  return { txid: m[1]!, id: m[2]! };
}

export function parseSequenceCursor(after: string): number {
  if (!SEQUENCE_CURSOR.test(after)) {
    throw new ChangeCursorError(
      400,
      `"${after.slice(0, 60)}" is not a cursor of the organization's change stream: pass a sequence number (0 for the start)`,
    );
  }
  return Number(after);
}

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v));

function toRecord(r: Record<string, unknown>): ChangeRecord {
  return {
    id: String(r.id),
    organizationId: r.organization_id as string,
    sequence: Number(r.sequence),
    kind: r.kind,
    subject: { type: r.subject_type, id: r.subject_id },
    view: r.view,
    changes: r.changes,
    cause: r.cause,
    occurredAt: iso(r.occurred_at),
    committedAt: iso(r.committed_at)!,
  } as ChangeRecord;
}

/**
 * The first transaction id whose records may not all be visible yet: the oldest transaction
 * still running when the statement's snapshot was taken, leaving out those that run in another
 * database of the cluster (they cannot write here). A transaction is left out only when
 * pg_stat_activity, read after the snapshot, shows it in another database; one that ended
 * meanwhile, or whose database is not shown, still counts, so the bound errs on waiting.
 */
const VISIBLE_BOUND = `
  SELECT coalesce(
           (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
             WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                WHERE a.backend_xid IS NOT NULL AND a.datid IS NOT NULL
                                  AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
                                  AND a.backend_xid::text::bigint = x::text::bigint % 4294967296)),
           pg_snapshot_xmax(snap.s))
    FROM (SELECT pg_current_snapshot() AS s) snap`;

const COLUMNS = `id, organization_id, sequence, kind, subject_type, subject_id, view, changes, cause, occurred_at, committed_at, txid::text AS txid`;

/** Reads records after the cursor, in order (see the module's comment). */
export async function readChanges(db: Db, o: ReadChangesOptions): Promise<ChangePage> {
  const limit = Math.max(1, Math.min(MAX_CHANGES_LIMIT, Math.floor(o.limit)));
  const after = o.after ?? null;
  if (o.organizationId !== undefined) {
    const from = after === null ? null : parseSequenceCursor(after);
    const org = (await db('organizations').where('id', o.organizationId).first('changes_pruned_through')) as
      { changes_pruned_through: string } | undefined;
    const pruned = Number(org?.changes_pruned_through ?? 0);
    if (from !== null && from < pruned) {
      throw new ChangeCursorError(
        410,
        `records after ${from} of ${o.organizationId} are gone (retention kept those after ${pruned}): read again from the start (no cursor) and reconcile your copy`,
      );
    }
    const { rows } = await db.raw(
      `SELECT ${COLUMNS} FROM change_records WHERE organization_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`,
      [o.organizationId, from ?? 0, limit + 1],
    );
    const list = rows as Record<string, unknown>[];
    const records = list.slice(0, limit).map(toRecord);
    const last = records[records.length - 1];
    return { records, next: String(last ? last.sequence : (from ?? 0)), more: list.length > limit };
  }

  const from = after === null ? { txid: '0', id: '0' } : parseGlobalCursor(after);
  if (after !== null) {
    const { rows: gone } = await db.raw(
      `SELECT pruned_txid::text AS txid, pruned_id::text AS id FROM change_feed
        WHERE id = 1 AND pruned_txid IS NOT NULL AND (pruned_txid, pruned_id) > (?::xid8, ?::bigint)`,
      [from.txid, from.id],
    );
    const g = (gone as { txid: string; id: string }[])[0];
    if (g) {
      throw new ChangeCursorError(
        410,
        `records after ${after} are gone (retention removed records up to ${g.txid}-${g.id}): read again from the start (no cursor) and reconcile your copy`,
      );
    }
  }
  const { rows } = await db.raw(
    `SELECT ${COLUMNS} FROM change_records
      WHERE (txid, id) > (?::xid8, ?::bigint) AND txid < (${VISIBLE_BOUND})
      ORDER BY txid, id LIMIT ?`,
    [from.txid, from.id, limit + 1],
  );
  const list = rows as Record<string, unknown>[];
  const page = list.slice(0, limit);
  const last = page[page.length - 1];
  return {
    records: page.map(toRecord),
    next: last ? `${String(last.txid)}-${String(last.id)}` : `${from.txid}-${from.id}`,
    more: list.length > limit,
  };
}

/**
 * The organization's newest records after sequence `after`, at most `limit`, in order, and whether
 * there are more of them than that (those left out are the older ones). One indexed read; what a
 * wake-up carries.
 */
export async function newestChanges(
  db: Db,
  organizationId: string,
  after: number,
  limit: number,
): Promise<{ records: ChangeRecord[]; more: boolean }> {
  const { rows } = await db.raw(
    `SELECT ${COLUMNS} FROM change_records WHERE organization_id = ? AND sequence > ? ORDER BY sequence DESC LIMIT ?`,
    [organizationId, after, limit + 1],
  );
  const list = rows as Record<string, unknown>[];
  return { records: list.slice(0, limit).reverse().map(toRecord), more: list.length > limit };
}

/**
 * Deletes records committed longer ago than `seconds`, at most `limit`, and remembers the newest
 * position removed (per organization and for the whole stream), so a cursor before it is told it
 * is gone rather than silently skipping records. Returns the records deleted.
 */
export async function pruneChangeRecords(db: Knex, seconds: number, limit: number): Promise<number> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw(
      `DELETE FROM change_records c
        USING (SELECT id FROM change_records WHERE committed_at < now() - ? * interval '1 second'
                ORDER BY committed_at LIMIT ? FOR UPDATE SKIP LOCKED) v
        WHERE c.id = v.id
        RETURNING c.organization_id, c.sequence, c.txid::text AS txid, c.id`,
      [seconds, limit],
    );
    const deleted = rows as { organization_id: string; sequence: string; txid: string; id: string }[];
    if (deleted.length === 0) return 0;
    await trx.raw(
      `UPDATE organizations o SET changes_pruned_through = greatest(o.changes_pruned_through, v.seq)
         FROM (SELECT org, max(seq) AS seq FROM unnest(?::text[], ?::bigint[]) AS d(org, seq) GROUP BY org) v
        WHERE o.id = v.org`,
      [deleted.map((d) => d.organization_id), deleted.map((d) => d.sequence)],
    );
    await trx.raw(
      `UPDATE change_feed f SET pruned_txid = v.txid, pruned_id = v.id
         FROM (SELECT txid, id FROM unnest(?::xid8[], ?::bigint[]) AS d(txid, id) ORDER BY txid DESC, id DESC LIMIT 1) v
        WHERE f.id = 1 AND (f.pruned_txid IS NULL OR (v.txid, v.id) > (f.pruned_txid, f.pruned_id))`,
      [deleted.map((d) => d.txid), deleted.map((d) => d.id)],
    );
    return deleted.length;
  });
}
