import { classifyError, describeError } from '../db/errors';

/**
 * Exit codes and the errors commands throw. A command never calls process.exit itself: it
 * throws a CliError (message says what went wrong and what to do next) and main.ts maps it.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** The shell's code for "stopped by Ctrl-C" (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Removes the password from a connection URL before it is shown. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Postgres (and socket) failures that mean "no usable database", as opposed to a bug. */
export function databaseProblem(err: unknown, url: string): CliError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '42P01' || code === '42703') {
    return new CliError(
      `the database at ${redactUrl(url)} lacks scimflow's tables or columns: run \`npm run migrate\` (or \`npm run dev\`, which migrates)`,
    );
  }
  const kind = classifyError(err);
  if (kind !== 'transient' && kind !== 'environment') return null;
  return new CliError(
    `cannot use the database at ${redactUrl(url)} (${describeError(err)}): is \`npm run dev\` running (it starts PostgreSQL)? ` +
      `Otherwise set DATABASE_URL to scimflow's database.`,
  );
}

/** True for gRPC failures meaning the Temporal frontend could not be reached. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    // 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED (the connect timeout surfaces as one)
    if (code === 14 || code === 4) return true;
    const name = (e as { name?: unknown }).name;
    if (name === 'TransportError') return true;
    if (/Failed to connect|connect ECONNREFUSED|UNAVAILABLE/i.test(String((e as { message?: unknown }).message ?? ''))) return true;
  }
  return false;
}

export function temporalUnavailable(address: string, namespace: string): CliError {
  return new CliError(
    `cannot reach Temporal at ${address} (namespace ${namespace}): is \`npm run dev\` running? ` +
      `Otherwise set TEMPORAL_ADDRESS (host:port of the Temporal frontend) and TEMPORAL_NAMESPACE.`,
  );
}

/** The organization workflow (or Scalekit) said no; the message says why and what to do. */
export class RefusedError extends CliError {
  constructor(reason: string) {
    super(`refused: ${reason}`, EXIT_FAILURE);
    this.name = 'RefusedError';
  }
}

/** The gRPC status code of a Temporal call's failure (searching its causes), if any. */
export function grpcCode(err: unknown): number | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return null;
}
