/**
 * Postgres errors, translated in one place. A constraint violation is a property of the data
 * (quarantine the record); anything else (connection lost, timeout, server restarting) is
 * transient and should fail the activity so Temporal retries it.
 */

const CONSTRAINT_CODES: Record<string, string> = {
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
};

interface PgError {
  code?: string;
  constraint?: string;
  detail?: string;
}

/**
 * A description if the error is about the data (SQLSTATE classes 22 "data exception" and 23
 * "integrity constraint violation", and 54000 "program limit exceeded", e.g. an index row too
 * large), undefined if it is transient (connection lost, timeout, server restarting).
 */
export function describeConstraintViolation(err: unknown): string | undefined {
  const e = err as PgError;
  if (!e || typeof e.code !== 'string') return undefined;
  const dataError = e.code.startsWith('22') || e.code.startsWith('23') || e.code === '54000';
  if (!dataError) return undefined;
  const what = CONSTRAINT_CODES[e.code] ?? (e.code === '54000' ? 'value too large to index' : 'invalid data');
  const parts = [`${what} (${e.code})`];
  if (e.constraint) parts.push(`constraint ${e.constraint}`);
  if (e.detail) parts.push(e.detail);
  return parts.join(': ');
}
