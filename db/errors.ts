/**
 * Database errors, classified in one place. A transient error (the connection went away, the
 * server is restarting or overloaded, a serialization failure or deadlock) says nothing about the
 * data: the work is retried with backoff. Any other error PostgreSQL reports is permanent for the
 * data that caused it: retrying the same statement fails the same way, so the caller isolates the
 * record and quarantines it.
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
]);
const PERMANENT_IN_TRANSIENT_CLASS = new Set(['08P01', '54000', '54001', '54011', '54023']);

/** Node's own codes for a connection that failed or broke. */
const NETWORK_CODES = /^(E(CONN(REFUSED|RESET|ABORTED)|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NETDOWN|AI_AGAIN|NOTFOUND|ADDRNOTAVAIL)|ERR_SOCKET_.*|ERR_STREAM_DESTROYED)$/;
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

export type ErrorClass = 'transient' | 'permanent';

/**
 * Whether retrying can help. Errors PostgreSQL reports are classified by SQLSTATE; a connection
 * that failed (Node's network codes, the driver's and the pool's messages) is transient. Of
 * JavaScript's own errors, a RangeError (stack or string size exceeded by a record) is permanent;
 * anything else unrecognised is treated as transient, so an unforeseen outage never quarantines
 * events that would have applied a minute later.
 */
export function classifyError(err: unknown): ErrorClass {
  const e = err as PgError | null;
  if (!e || typeof e !== 'object') return 'transient';
  if (isSqlState(e.code)) {
    if (PERMANENT_IN_TRANSIENT_CLASS.has(e.code)) return 'permanent';
    if (TRANSIENT_CODES.has(e.code) || TRANSIENT_CLASSES.has(e.code.slice(0, 2))) return 'transient';
    return 'permanent';
  }
  if (typeof e.code === 'string' && NETWORK_CODES.test(e.code)) return 'transient';
  if (e.name === 'KnexTimeoutError') return 'transient';
  if (err instanceof RangeError) return 'permanent';
  if (err instanceof Error && CONNECTION_MESSAGES.test(err.message)) return 'transient';
  return 'transient';
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
 * A description for the event ledger when the error is permanent for the data (the record is
 * quarantined with it), undefined when it is transient. It may add PostgreSQL's detail (which
 * names the conflicting key): the ledger belongs to the same database as the data.
 */
export function describePermanentError(err: unknown): string | undefined {
  if (classifyError(err) !== 'permanent') return undefined;
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
