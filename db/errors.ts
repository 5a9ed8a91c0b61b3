/**
 * Database errors, classified in one place, by what a retry can do:
 *
 * - transient: the connection went away, the server is restarting or overloaded, a serialization
 *   failure or deadlock. Says nothing about the data; retried with backoff.
 * - environment: the database is not what scimflow expects (a table or column missing because
 *   the migrations have not run, a privilege revoked, a read-only server, wrong credentials).
 *   Says nothing about the data either: retried, and reported as such, never quarantined.
 * - data: PostgreSQL refused the statement because of what it carries (a constraint, a value too
 *   large, a trigger of the application). The same statement fails the same way: the caller
 *   isolates the record and quarantines it.
 * - unknown: an error that is not PostgreSQL's and not a recognised connection failure. The
 *   caller decides with a probe: if the database still answers, the record caused it (data);
 *   otherwise it is an outage (transient). See `isolationReason`.
 *
 * Descriptions never carry SQL text or values (knex prefixes its error messages with the whole
 * statement, bindings included): only the SQLSTATE, its meaning and the names of the constraint,
 * table and column. `detail` (which can quote values) is offered separately, for the ledger only.
 */

import { storableText } from '../domain/storable';

/** SQLSTATEs (or classes, by their first two characters) that clear by themselves. */
const TRANSIENT_CLASSES = new Set([
  '08', // connection exception (but 08P01, a protocol violation, is the statement's fault)
  '53', // insufficient resources: too many connections, out of memory, disk full
  '57', // operator intervention: admin or crash shutdown, cannot connect now, query canceled
  '58', // system error: I/O error
]);
const TRANSIENT_CODES = new Set([
  '40001', // serialization failure
  '40P01', // deadlock detected
  '55P03', // lock not available
  '55006', // object in use
  '25P03', // idle-in-transaction session timeout
  '25006', // read-only transaction: a failover left us on a standby for a moment
]);
const DATA_IN_TRANSIENT_CLASS = new Set(['08P01']);
/** The database is not as scimflow expects: fix the deployment, not the record. */
const ENVIRONMENT_CLASSES = new Set([
  '25', // invalid transaction state
  '28', // invalid authorization
  '3D', // invalid catalog (database) name
  '3F', // invalid schema name
  'F0', // configuration file error
]);
const ENVIRONMENT_CODES = new Set([
  '42501', // insufficient privilege
  '42P01', // undefined table: migrations not run
  '42703', // undefined column: migrations not run
  '42883', // undefined function
  '42704', // undefined object
  '0A000', // feature not supported by this server
]);
/** Reported by a server in trouble as often as by a record: decided by the probe. */
const UNKNOWN_CLASSES = new Set(['XX']);

/** Node's own codes for a connection that failed or broke. */
const NETWORK_CODES =
  /^(E(CONN(REFUSED|RESET|ABORTED)|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NETDOWN|AI_AGAIN|NOTFOUND|ADDRNOTAVAIL)|ERR_SOCKET_.*|ERR_STREAM_DESTROYED)$/;
/** Messages of the pg driver and knex when the connection or the pool is gone. */
const CONNECTION_MESSAGES =
  /Connection terminated|connection error|not queryable|Client was closed|Unable to acquire a connection|Timeout acquiring a connection|pool is (probably full|destroyed)|aborted|ECONNRESET|socket hang up/i;

const MEANINGS: Record<string, string> = {
  '23505': 'unique constraint violated',
  '23503': 'foreign key constraint violated',
  '23502': 'required value missing',
  '23514': 'check constraint violated',
  '22001': 'value too long',
  '22P02': 'invalid value',
  '22003': 'number out of range',
  '22007': 'invalid date or time',
  '22008': 'date or time out of range',
  '22021': 'invalid character encoding',
  '22P05': 'unsupported Unicode escape sequence',
  '2202E': 'array subscript error',
  '08P01': 'statement refused by the server (protocol violation, such as too many parameters)',
  '54000': 'value too large (program limit exceeded)',
  '54001': 'statement too complex',
  '54011': 'too many columns',
  '54023': 'too many arguments',
  P0001: 'refused by a database trigger or function',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '53300': 'too many connections',
  '57P01': 'the server is shutting down',
  '57P03': 'the server is starting up',
  '57014': 'statement canceled',
  '25006': 'the server is read-only',
  '42P01': 'a table is missing (have the migrations run?)',
  '42703': 'a column is missing (have the migrations run?)',
  '42501': 'permission denied',
  '3D000': 'the database does not exist',
  '28P01': 'password authentication failed',
  '28000': 'authorization refused',
};

interface PgError {
  code?: unknown;
  constraint?: unknown;
  table?: unknown;
  column?: unknown;
  detail?: unknown;
  name?: unknown;
}

const isSqlState = (code: unknown): code is string => typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);

export type ErrorClass = 'transient' | 'environment' | 'data' | 'unknown';

/** What a retry can do about `err` (see the top of this file). */
export function classifyError(err: unknown): ErrorClass {
  const e = err as PgError | null;
  if (!e || typeof e !== 'object') return 'unknown';
  if (isSqlState(e.code)) {
    const cls = e.code.slice(0, 2);
    if (DATA_IN_TRANSIENT_CLASS.has(e.code)) return 'data';
    if (TRANSIENT_CODES.has(e.code) || TRANSIENT_CLASSES.has(cls)) return 'transient';
    if (ENVIRONMENT_CODES.has(e.code) || ENVIRONMENT_CLASSES.has(cls)) return 'environment';
    if (UNKNOWN_CLASSES.has(cls)) return 'unknown';
    return 'data';
  }
  if (typeof e.code === 'string' && NETWORK_CODES.test(e.code)) return 'transient';
  if (e.name === 'KnexTimeoutError') return 'transient';
  if (err instanceof Error && CONNECTION_MESSAGES.test(err.message)) return 'transient';
  // A record too large for JavaScript itself (stack or string size).
  if (err instanceof RangeError) return 'data';
  return 'unknown';
}

/**
 * The reason to isolate and quarantine the record whose write failed with `err`, or undefined
 * when the failure is not the record's (retry the whole batch instead). An unknown error counts
 * as the record's only if the database still answers `probe` (a `SELECT 1` on the same
 * transaction or pool): then the connection is fine and the same write would fail again.
 */
export async function isolationReason(err: unknown, probe: () => Promise<unknown>): Promise<string | undefined> {
  const kind = classifyError(err);
  if (kind === 'data') return describePermanentError(err);
  if (kind !== 'unknown') return undefined;
  try {
    await probe();
  } catch {
    return undefined;
  }
  return storableText(describeError(err), 1_000);
}

/**
 * The error in words for logs and Temporal: SQLSTATE, its meaning, constraint, table and column;
 * never the statement, its values, or PostgreSQL's message (which can quote a value). Errors that
 * are not PostgreSQL's keep their name and the first line of their message, bounded.
 */
export function describeError(err: unknown, maxLength = 300): string {
  const e = err as PgError | null;
  if (e && typeof e === 'object' && isSqlState(e.code)) return safeErrorMessage(err, maxLength);
  if (err instanceof Error) {
    const code = typeof (err as PgError).code === 'string' ? ` ${String((err as PgError).code)}` : '';
    return bound(`${err.name}${code}: ${safeErrorMessage(err, maxLength)}`, maxLength);
  }
  return safeErrorMessage(err, maxLength);
}

/** The message part of describeError: what a log line may say about an error. */
export function safeErrorMessage(err: unknown, maxLength = 300): string {
  const e = err as PgError | null;
  if (e && typeof e === 'object' && isSqlState(e.code)) {
    const parts = [`${MEANINGS[e.code] ?? sqlStateClass(e.code)} (${e.code})`];
    if (typeof e.constraint === 'string' && e.constraint) parts.push(`constraint ${e.constraint}`);
    if (typeof e.table === 'string' && e.table) parts.push(`table ${e.table}`);
    if (typeof e.column === 'string' && e.column) parts.push(`column ${e.column}`);
    return bound(parts.join(': '), maxLength);
  }
  // knex puts "<statement with values> - " before the driver's message: keep only what follows.
  if (err instanceof Error) return bound(stripStatement(err.message).split('\n', 1)[0] ?? '', maxLength);
  return bound(String(err), maxLength);
}

/**
 * A description for the event ledger when PostgreSQL refused the data (the record is quarantined
 * with it), undefined for any other error. It may add PostgreSQL's detail (which names the
 * conflicting key): the ledger belongs to the same database as the data.
 */
export function describePermanentError(err: unknown): string | undefined {
  if (classifyError(err) !== 'data') return undefined;
  const base = describeError(err);
  const detail = (err as PgError).detail;
  return storableText(typeof detail === 'string' && detail ? `${base}: ${detail}` : base, 1_000);
}

function sqlStateClass(code: string): string {
  switch (code.slice(0, 2)) {
    case '22':
      return 'invalid data';
    case '23':
      return 'integrity constraint violated';
    case '42':
      return 'statement refused (syntax or access rule)';
    case 'P0':
      return 'refused by a database trigger or function';
    default:
      return 'database error';
  }
}

function stripStatement(message: string): string {
  // knex: `${sql with values} - ${driver message}`.
  if (!/^\s*(insert|update|delete|select|with|begin|commit|rollback|savepoint|release|set|analyze|lock)\b/i.test(message)) return message;
  const at = message.lastIndexOf(' - ');
  return at < 0 ? '(statement not shown)' : message.slice(at + 3);
}

function bound(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
