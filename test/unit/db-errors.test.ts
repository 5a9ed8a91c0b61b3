import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { toFailure } from '../../activities/failures';
import { chunkRows, MAX_BIND_PARAMETERS, rowsPerStatement } from '../../db/batch';
import { classifyError, describeError, describePermanentError, isolationReason } from '../../db/errors';
import { createLogger } from '../../observability/logger';

/** An error as pg reports it, with the message knex gives it (the statement and its values first). */
function pgError(
  code: string,
  fields: Record<string, string> = {},
  statement = 'insert into "directory_users" ("email") values (\'ada@example.com\')',
): Error {
  const err = new Error(`${statement} - driver message quoting 'ada@example.com'`);
  return Object.assign(err, { code, ...fields });
}

describe('classifying database errors', () => {
  it.each([
    ['08006', 'connection failure'],
    ['08003', 'connection does not exist'],
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock'],
    ['53300', 'too many connections'],
    ['53200', 'out of memory'],
    ['57P01', 'admin shutdown'],
    ['57P03', 'cannot connect now'],
    ['55P03', 'lock not available'],
    ['58030', 'I/O error'],
  ])('retries %s (%s)', (code) => {
    expect(classifyError(pgError(code))).toBe('transient');
    expect(describePermanentError(pgError(code))).toBeUndefined();
  });

  it.each([
    ['08P01', 'protocol violation: a statement with too many parameters'],
    ['23505', 'unique violation'],
    ['23514', 'check violation'],
    ['22021', 'bad encoding'],
    ['22P05', 'unsupported escape'],
    ['54000', 'index row too large'],
    ['54001', 'statement too complex'],
    ['P0001', 'raised by a trigger'],
    ['42601', 'a statement the data made invalid'],
  ])('isolates %s (%s) as permanent for the data', (code) => {
    expect(classifyError(pgError(code))).toBe('data');
    expect(describePermanentError(pgError(code))).toMatch(new RegExp(`\\(${code}\\)`));
  });

  it.each([
    ['42P01', 'undefined table: migrations not run'],
    ['42703', 'undefined column: migrations not run'],
    ['42501', 'privilege revoked'],
    ['28P01', 'wrong password'],
    ['3D000', 'database missing'],
    ['25P02', 'transaction already failed'],
  ])('retries %s (%s) as the environment’s, never the data’s', (code) => {
    expect(classifyError(pgError(code))).toBe('environment');
    expect(describePermanentError(pgError(code))).toBeUndefined();
  });

  it('retries a connection that failed without an SQLSTATE', () => {
    expect(classifyError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe('transient');
    expect(classifyError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(classifyError(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(
      classifyError(
        Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }),
      ),
    ).toBe('transient');
  });

  it('treats a record too large for JavaScript itself as the data’s', () => {
    expect(classifyError(new RangeError('Maximum call stack size exceeded'))).toBe('data');
    expect(classifyError(new RangeError('Invalid string length'))).toBe('data');
  });

  it('leaves other errors to a probe: the record’s if the database still answers, an outage if not', async () => {
    const bug = new TypeError("Cannot read properties of null (reading 'id')");
    expect(classifyError(bug)).toBe('unknown');
    expect(classifyError(pgError('XX000'))).toBe('unknown');
    expect(await isolationReason(bug, async () => 1)).toBe("TypeError: Cannot read properties of null (reading 'id')");
    expect(await isolationReason(bug, async () => Promise.reject(new Error('Connection terminated unexpectedly')))).toBeUndefined();
    expect(await isolationReason(pgError('57P01'), async () => 1)).toBeUndefined();
    expect(await isolationReason(pgError('42703'), async () => 1)).toBeUndefined();
    expect(await isolationReason(pgError('23514', { constraint: 'c' }), async () => 1)).toMatch(
      /^check constraint violated \(23514\): constraint c/,
    );
  });
});

describe('describing errors', () => {
  it('says what failed without the statement, its values or the driver message', () => {
    const err = pgError('23505', {
      constraint: 'directory_users_active_email',
      table: 'directory_users',
      detail: 'Key (lower(email))=(ada@example.com) already exists.',
    });
    const text = describeError(err);
    expect(text).toBe('unique constraint violated (23505): constraint directory_users_active_email: table directory_users');
    expect(text).not.toContain('ada@example.com');
    expect(text).not.toMatch(/insert/i);
  });

  it('keeps PostgreSQL’s detail for the ledger only, storable and bounded', () => {
    const err = pgError('23505', { constraint: 'c', detail: `Key (email)=(a\u0000${'b'.repeat(5_000)}) already exists.` });
    const ledger = describePermanentError(err) ?? '';
    expect(ledger.startsWith('unique constraint violated (23505): constraint c: Key (email)=(a\ufffd')).toBe(true);
    expect(ledger.length).toBeLessThanOrEqual(1_000);
    expect(ledger).not.toContain('\u0000');
  });

  it('cuts knex’s statement from errors that have no SQLSTATE', () => {
    const err = new Error('select * from "directory_users" where "email" = \'ada@example.com\' - Connection terminated unexpectedly');
    expect(describeError(err)).toBe('Error: Connection terminated unexpectedly');
  });

  it('bounds what it says', () => {
    expect(describeError(new Error('y'.repeat(10_000)), 300)).toHaveLength(300);
  });
});

describe('what an activity reports to Temporal', () => {
  it('names an error that is not the database’s after itself, retryable', () => {
    const scalekit = Object.assign(new Error('[unavailable] connect ECONNREFUSED'), { name: 'ConnectError', code: 14 });
    expect(toFailure(scalekit, { permanentIsFinal: true })).toMatchObject({ type: 'ConnectError', nonRetryable: false });
    expect(toFailure(pgError('42P01'), { permanentIsFinal: true })).toMatchObject({ type: 'DatabaseMisconfigured', nonRetryable: false });
  });

  it('is a bounded ApplicationFailure typed by whether a retry can help, never the statement', () => {
    const transient = toFailure(pgError('57P01'), { permanentIsFinal: true }) as ApplicationFailure;
    expect(transient).toBeInstanceOf(ApplicationFailure);
    expect(transient).toMatchObject({ message: 'the server is shutting down (57P01)', type: 'DatabaseUnavailable', nonRetryable: false });
    const permanent = toFailure(pgError('P0001'), { permanentIsFinal: true }) as ApplicationFailure;
    expect(permanent).toMatchObject({ type: 'PermanentDataError', nonRetryable: true });
    expect(permanent.message).not.toContain('ada@example.com');
  });

  it('never ends an activity that applies events, whatever escapes it', () => {
    expect(toFailure(pgError('P0001'), { permanentIsFinal: false })).toMatchObject({ type: 'PermanentDataError', nonRetryable: false });
  });

  it('passes the activity’s own refusals through, bounded', () => {
    const refusal = ApplicationFailure.nonRetryable('run 4 does not exist', 'RunNotFound');
    expect(toFailure(refusal, { permanentIsFinal: true })).toBe(refusal);
    const long = toFailure(ApplicationFailure.nonRetryable('z'.repeat(5_000), 'Refused'), { permanentIsFinal: true }) as ApplicationFailure;
    expect(long.message.length).toBeLessThanOrEqual(500);
    expect(long).toMatchObject({ type: 'Refused', nonRetryable: true });
  });
});

describe('log lines', () => {
  it('carry an error’s description, never the statement knex put in its message', () => {
    const lines: string[] = [];
    createLogger({ write: (l) => lines.push(l) }).error('write failed', { error: pgError('23505', { constraint: 'c' }) });
    expect(lines[0]).not.toContain('ada@example.com');
    expect(JSON.parse(lines[0] ?? '{}').error).toEqual({ name: 'Error', message: 'unique constraint violated (23505): constraint c' });
  });
});

describe('multi-row statements', () => {
  it('stay under PostgreSQL’s bind parameter limit, whatever the number of rows', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      a: i,
      b: i,
      c: i,
      d: i,
      e: i,
      f: i,
      g: i,
      h: i,
      i,
      j: i,
      k: i,
      l: i,
      m: i,
      n: i,
    }));
    const chunks = chunkRows(rows);
    expect(chunks.flat()).toEqual(rows);
    for (const c of chunks) expect(c.length * 14).toBeLessThan(MAX_BIND_PARAMETERS);
    expect(chunks.length).toBeGreaterThan(1);
  });

  it('count the columns of all rows together: knex writes each row with every column any row has', () => {
    // Each row has 2 keys, but the statement has 4 columns.
    const rows = Array.from({ length: 1_000 }, (_, i) => (i % 2 === 0 ? { a: i, b: i } : { c: i, d: i }));
    const chunks = chunkRows(rows, 400);
    expect(chunks.flat()).toEqual(rows);
    expect(chunks.map((c) => c.length)).toEqual(Array.from({ length: 10 }, () => 100));
  });

  it('keep small writes in one statement', () => {
    expect(chunkRows([{ a: 1 }, { a: 2 }])).toEqual([[{ a: 1 }, { a: 2 }]]);
    expect(chunkRows([])).toEqual([]);
    expect(rowsPerStatement(10)).toBe(3_000);
  });
});
