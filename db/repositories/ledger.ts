import type { Knex } from 'knex';
import { isNormalizedEvent, type DirectoryEvent } from '../../domain/events';
import { storableJson, storableText } from '../../domain/storable';
import { chunkRows } from '../batch';
import { describePermanentError } from '../errors';

export type LedgerOutcome = 'pending' | 'deferred' | 'applied' | 'duplicate' | 'stale' | 'ignored' | 'quarantined';
/** Outcomes operators filter by; `deferred` events wait for the organization's sync to resume. */
export const LEDGER_OUTCOMES: readonly LedgerOutcome[] = ['applied', 'deferred', 'duplicate', 'stale', 'ignored', 'quarantined'];

export interface LedgerEntry {
  id: string;
  organizationId: string | null;
  type: string | null;
  source: string;
  occurredAt: string | null;
  receivedAt: string;
  appliedAt: string | null;
  outcome: LedgerOutcome;
  detail: string | null;
  duplicateCount: number;
}

/**
 * Inserts a pending ledger row per event; returns the ids that were new. An id already present
 * (a redelivery that got past the workflow's in-memory dedupe) is not inserted, and its row's
 * duplicate counter goes up. The primary key makes this safe even against a concurrent retry of
 * the same activity: the second transaction waits for the first and then finds the row.
 * A row `deferred` while the organization's sync was paused becomes pending: its event is new.
 */
export async function recordPending(
  db: Knex.Transaction,
  events: readonly DirectoryEvent[],
): Promise<{ fresh: Set<string>; unrecordable: Map<string, string> }> {
  return recordEvents(db, events, 'pending');
}

/**
 * Keeps events that arrive while the organization's sync is paused: ledger rows `deferred`, with
 * their payload, in arrival order. Nothing is applied; `loadDeferred` hands them back on resume.
 */
export async function recordDeferred(
  db: Knex.Transaction,
  events: readonly DirectoryEvent[],
): Promise<{ fresh: Set<string>; unrecordable: Map<string, string> }> {
  return recordEvents(db, events, 'deferred');
}

async function recordEvents(
  db: Knex.Transaction,
  events: readonly DirectoryEvent[],
  outcome: 'pending' | 'deferred',
): Promise<{ fresh: Set<string>; unrecordable: Map<string, string> }> {
  const unrecordable = new Map<string, string>();
  if (events.length === 0) return { fresh: new Set(), unrecordable };
  const row = (e: DirectoryEvent) => ({
    id: e.id,
    organization_id: e.organizationId,
    type: e.type,
    source: 'webhook',
    occurred_at: e.occurredAt,
    occurred_at_ns: e.occurredAtNs,
    received_at: e.receivedAt,
    outcome,
    webhook_id: e.webhookId,
    payload: JSON.stringify(e),
  });
  const insert = async (trx: Knex.Transaction, rows: ReturnType<typeof row>[]) => {
    const query = trx('directory_events').insert(rows).onConflict('id');
    const returned =
      outcome === 'pending'
        ? await query.merge(['outcome']).where('directory_events.outcome', 'deferred').returning('id')
        : await query.ignore().returning('id');
    return (returned as { id: string }[]).map((r) => r.id);
  };
  const inserted: string[] = [];
  for (const part of chunkRows(events.map(row))) {
    try {
      inserted.push(...(await db.transaction((sp) => insert(sp, part))));
    } catch (err) {
      if (!describePermanentError(err)) throw err;
      // One event the ledger cannot hold must not hold up the others: record them one by one,
      // and the unstorable ones as quarantined without their payload.
      for (const r of part) {
        try {
          inserted.push(...(await db.transaction((sp) => insert(sp, [r]))));
        } catch (inner) {
          const reason = describePermanentError(inner);
          if (!reason) throw inner;
          unrecordable.set(r.id, reason);
          await db.transaction((sp) =>
            sp('directory_events')
              .insert({
                ...r,
                payload: null,
                occurred_at: null,
                occurred_at_ns: null,
                outcome: 'quarantined',
                detail: `could not be recorded: ${reason}`,
              })
              .onConflict('id')
              .ignore(),
          );
        }
      }
    }
  }
  const fresh = new Set(inserted);
  const duplicates = events.filter((e) => !fresh.has(e.id) && !unrecordable.has(e.id)).map((e) => e.id);
  if (duplicates.length > 0) {
    await db.raw(`UPDATE directory_events SET duplicate_count = duplicate_count + 1 WHERE id = ANY(?::text[])`, [duplicates]);
  }
  return { fresh, unrecordable };
}

/**
 * Keeps an event that could not be applied as quarantined with the reason: a new row, or the row
 * of an event that was waiting (deferred while paused). Its payload goes with it when PostgreSQL
 * can hold it, otherwise the row alone. 'duplicate' when the event already has a final outcome.
 */
export async function recordQuarantined(db: Knex.Transaction, event: DirectoryEvent, reason: string): Promise<'quarantined' | 'duplicate'> {
  const attempt = async (row: Record<string, unknown>) =>
    db.transaction(async (sp) => {
      const returned = (await sp('directory_events')
        .insert(row)
        .onConflict('id')
        .merge(['outcome', 'detail', 'applied_at'])
        .whereIn('directory_events.outcome', ['pending', 'deferred'])
        .returning('id')) as { id: string }[];
      return returned.length > 0 ? ('quarantined' as const) : ('duplicate' as const);
    });
  const base = {
    id: event.id,
    organization_id: event.organizationId,
    type: event.type,
    source: 'webhook',
    received_at: event.receivedAt,
    outcome: 'quarantined',
    webhook_id: event.webhookId,
    applied_at: db.raw('now()'),
    detail: storableText(reason, 2_000),
  };
  try {
    return await attempt({ ...base, occurred_at: event.occurredAt, occurred_at_ns: event.occurredAtNs, payload: JSON.stringify(event) });
  } catch (err) {
    const why = describePermanentError(err);
    if (!why) throw err;
    return attempt({ ...base, detail: storableText(`${reason}; kept without its payload (${why})`, 2_000) });
  }
}

export interface OutcomeUpdate {
  id: string;
  outcome: Exclude<LedgerOutcome, 'pending'>;
  detail: string | null;
}

export async function setOutcomes(db: Knex.Transaction, updates: readonly OutcomeUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await db.raw(
    `UPDATE directory_events e
        SET outcome = v.outcome, detail = v.detail, applied_at = now()
       FROM unnest(?::text[], ?::text[], ?::text[]) AS v(id, outcome, detail)
      WHERE e.id = v.id`,
    [
      updates.map((u) => u.id),
      updates.map((u) => u.outcome),
      updates.map((u) => (u.detail === null ? null : storableText(u.detail, 2_000))) as string[],
    ],
  );
}

export interface TerminalRecord {
  id: string;
  organizationId: string | null;
  type: string | null;
  occurredAt?: string | null;
  occurredAtNs?: string | null;
  outcome: 'ignored' | 'quarantined';
  detail: string;
  webhookId: string | null;
  payload?: unknown;
  rawBody?: string;
}

/**
 * Records an event that never reaches the organization workflow: an unknown type (ignored) or a
 * signed delivery we cannot understand (quarantined, raw body kept). A redelivery bumps the counter.
 *
 * Everything in it may come from an untrusted body, so every value is made storable first (NUL
 * characters and lone surrogates replaced, lengths capped, the payload kept only if it is nested
 * at most 64 deep). Should Postgres still refuse the row's data, it is recorded with less (without
 * the parsed payload, then without the raw body, with the reason in the detail): a signed delivery
 * is always recorded unless the database is unavailable, which is the only error this throws.
 */
export async function recordTerminal(db: Knex, rec: TerminalRecord): Promise<'recorded' | 'duplicate'> {
  const shapes: ((problem: string | undefined) => TerminalRow)[] = [
    () => terminalRow(rec, { payload: true, rawBody: true }),
    () => terminalRow(rec, { payload: false, rawBody: true }),
    (problem) =>
      terminalRow(
        { ...rec, detail: `${rec.detail} (kept without its body: ${problem ?? 'it could not be stored'})` },
        { payload: false, rawBody: false },
      ),
  ];
  let problem: string | undefined;
  for (const [i, shape] of shapes.entries()) {
    let row: TerminalRow;
    try {
      row = shape(problem);
    } catch (err) {
      // Computing on the body failed (it cannot, by design; should it still): record with less.
      problem = `could not be prepared: ${(err as Error).message}`;
      continue;
    }
    try {
      return await insertTerminal(db, row);
    } catch (err) {
      const refused = describePermanentError(err);
      // Anything but a refusal of the data means the database is unavailable: the caller retries.
      if (!refused || i === shapes.length - 1) throw err;
      problem = refused;
    }
  }
  throw new Error(`event ${rec.id} could not be recorded: ${problem ?? 'unknown problem'}`);
}

/** Longest detail kept; ids and types are capped by what created them, and capped again here. */
const MAX_DETAIL_CHARS = 2_000;
const MAX_KEY_CHARS = 256;

type TerminalRow = [
  string,
  string | null,
  string | null,
  string | null,
  string | null,
  string,
  string,
  string | null,
  string | null,
  string | null,
];

function terminalRow(rec: TerminalRecord, keep: { payload: boolean; rawBody: boolean }): TerminalRow {
  const text = (s: string | null | undefined, max: number) => (s === null || s === undefined ? null : storableText(s, max));
  return [
    storableText(rec.id, MAX_KEY_CHARS),
    text(rec.organizationId, MAX_KEY_CHARS),
    text(rec.type, MAX_KEY_CHARS),
    rec.occurredAt ?? null,
    rec.occurredAtNs ?? null,
    rec.outcome,
    storableText(rec.detail, MAX_DETAIL_CHARS),
    text(rec.webhookId, MAX_KEY_CHARS * 64),
    keep.payload && rec.payload !== undefined ? storableJson(rec.payload) : null,
    // Bounded by the request body limit; what the parser saw, NUL characters replaced.
    keep.rawBody ? text(rec.rawBody, Number.MAX_SAFE_INTEGER) : null,
  ];
}

async function insertTerminal(db: Knex, row: TerminalRow): Promise<'recorded' | 'duplicate'> {
  const result = await db.raw(
    `INSERT INTO directory_events
       (id, organization_id, type, source, occurred_at, occurred_at_ns, outcome, detail, webhook_id, payload, raw_body, applied_at)
     VALUES (?, ?, ?, 'webhook', ?, ?, ?, ?, ?, ?::jsonb, ?, now())
     ON CONFLICT (id) DO UPDATE SET duplicate_count = directory_events.duplicate_count + 1
     RETURNING (xmax = 0) AS inserted`,
    row,
  );
  return (result.rows as { inserted: boolean }[])[0]?.inserted ? 'recorded' : 'duplicate';
}

/** Webhook events of the organization quarantined by a constraint conflict, oldest first. */
export async function listConflictQuarantined(db: Knex.Transaction, organizationId: string, limit: number): Promise<DirectoryEvent[]> {
  const rows = (await db('directory_events')
    .where({ organization_id: organizationId, outcome: 'quarantined', source: 'webhook' })
    .whereNotNull('payload')
    .whereNotNull('occurred_at_ns')
    .andWhere('detail', 'like', 'unique constraint violated%')
    // The most recent first, and only for a day: conflicts that never clear do not starve new ones.
    .andWhere('received_at', '>', db.raw(`now() - interval '1 day'`))
    .orderBy('received_at', 'desc')
    .limit(limit)
    .select('payload', 'occurred_at_ns')) as { payload: unknown; occurred_at_ns: string }[];
  // Retried in the order they happened; a payload an older version wrote differently is left alone.
  return rows
    .sort((a, b) => (BigInt(a.occurred_at_ns) < BigInt(b.occurred_at_ns) ? -1 : 1))
    .map((r) => r.payload)
    .filter(isNormalizedEvent);
}

export interface LedgerQuery {
  organizationId: string;
  outcome?: LedgerOutcome;
  limit: number;
  /** Keyset cursor: the id of the last entry of the previous page. */
  after?: string;
}

export async function listLedger(db: Knex, q: LedgerQuery): Promise<LedgerEntry[]> {
  const query = db('directory_events')
    .select('id', 'organization_id', 'type', 'source', 'occurred_at', 'received_at', 'applied_at', 'outcome', 'detail', 'duplicate_count')
    .where('organization_id', q.organizationId)
    .orderBy([
      { column: 'received_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(q.limit);
  if (q.outcome) query.andWhere('outcome', q.outcome);
  if (q.after) {
    query.andWhereRaw('(received_at, id) < ((SELECT received_at FROM directory_events WHERE id = ?), ?)', [q.after, q.after]);
  }
  const rows = (await query) as Record<string, unknown>[];
  return rows.map((r) => ({
    id: r.id as string,
    organizationId: r.organization_id as string | null,
    type: r.type as string | null,
    source: r.source as string,
    occurredAt: r.occurred_at ? (r.occurred_at as Date).toISOString() : null,
    receivedAt: (r.received_at as Date).toISOString(),
    appliedAt: r.applied_at ? (r.applied_at as Date).toISOString() : null,
    outcome: r.outcome as LedgerOutcome,
    detail: r.detail as string | null,
    duplicateCount: r.duplicate_count as number,
  }));
}

/** Events deferred while the organization's sync was paused, in arrival order. */
export async function loadDeferred(db: Knex | Knex.Transaction, organizationId: string, limit: number): Promise<DirectoryEvent[]> {
  const rows = (await db('directory_events')
    .where({ organization_id: organizationId, outcome: 'deferred' })
    .orderBy('seq')
    .limit(limit)
    .select('payload')) as { payload: DirectoryEvent }[];
  return rows.map((r) => r.payload);
}

export async function countDeferred(db: Knex | Knex.Transaction, organizationId: string): Promise<number> {
  return countOutcome(db, organizationId, 'deferred');
}

/** The organization's events in the ledger with this outcome now (the webhook's own quarantines included). */
export async function countOutcome(db: Knex | Knex.Transaction, organizationId: string, outcome: string): Promise<number> {
  const row = (await db('directory_events').where({ organization_id: organizationId, outcome }).count('* as n').first()) as
    { n: string | number } | undefined;
  return Number(row?.n ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Retrying quarantined events

/** A ledger row as a retry of quarantined events reads it. */
export interface RetryCandidateRow {
  id: string;
  organization_id: string | null;
  outcome: string;
  payload: unknown;
  raw_body: string | null;
  webhook_id: string | null;
  received_at: Date;
}

const RETRY_COLUMNS = ['id', 'organization_id', 'outcome', 'payload', 'raw_body', 'webhook_id', 'received_at'];
/** Rows read per round trip. */
const RETRY_PAGE = 500;

/** The ledger rows of these ids, whatever their organization or outcome. */
export async function loadRetryRows(db: Knex.Transaction, eventIds: readonly string[]): Promise<RetryCandidateRow[]> {
  return (await db('directory_events')
    .whereRaw('id = ANY(?::text[])', [eventIds as string[]])
    .select(RETRY_COLUMNS)) as RetryCandidateRow[];
}

/**
 * Up to `limit` of the organization's quarantined events, oldest first, a page at a time, so
 * events that stay quarantined never hide newer ones.
 */
export async function listQuarantinedRows(db: Knex.Transaction, organizationId: string, limit: number): Promise<RetryCandidateRow[]> {
  const rows: RetryCandidateRow[] = [];
  let after: RetryCandidateRow | undefined;
  while (rows.length < limit) {
    const page = (await db('directory_events')
      .where({ organization_id: organizationId, outcome: 'quarantined' })
      .modify((q) => {
        if (after) q.whereRaw('(received_at, id) > (?, ?)', [after.received_at, after.id]);
      })
      .orderBy([{ column: 'received_at' }, { column: 'id' }])
      .limit(Math.min(RETRY_PAGE, limit - rows.length))
      .select(RETRY_COLUMNS)) as RetryCandidateRow[];
    rows.push(...page);
    after = page[page.length - 1];
    if (page.length < RETRY_PAGE) break;
  }
  return rows;
}

const parsedColumns = (organizationId: string, event: DirectoryEvent) => ({
  organization_id: organizationId,
  type: event.type,
  occurred_at: event.occurredAt,
  occurred_at_ns: event.occurredAtNs,
  payload: JSON.stringify(event),
});

/** A delivery read again as `event` (with today's rules): its row gets what was parsed. */
export async function recordParsedEvent(db: Knex.Transaction, organizationId: string, event: DirectoryEvent): Promise<void> {
  await db('directory_events').where('id', event.id).update(parsedColumns(organizationId, event));
}

/**
 * A delivery recorded under its delivery id (no event id could be read then) that reads now as
 * `event`: the event gets its own row, quarantined until it is applied. False when the ledger
 * already has that event.
 */
export async function recordEventOfDelivery(
  db: Knex.Transaction,
  organizationId: string,
  delivery: RetryCandidateRow,
  event: DirectoryEvent,
): Promise<boolean> {
  const created = (await db('directory_events')
    .insert({
      id: event.id,
      source: 'webhook',
      outcome: 'quarantined',
      webhook_id: delivery.webhook_id,
      raw_body: delivery.raw_body,
      received_at: delivery.received_at,
      ...parsedColumns(organizationId, event),
    })
    .onConflict('id')
    .ignore()
    .returning('id')) as { id: string }[];
  return created.length > 0;
}

/** The organization's events still quarantined. */
export async function countQuarantined(db: Knex | Knex.Transaction, organizationId: string): Promise<number> {
  const row = (await db('directory_events').where({ organization_id: organizationId, outcome: 'quarantined' }).count('* as n').first()) as
    { n: string | number } | undefined;
  return Number(row?.n ?? 0);
}
