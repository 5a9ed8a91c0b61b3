import type { Context, Next } from 'koa';
import { WorkflowRefusedError } from '../temporal/client';
import { encryptionProblem } from '../temporal/codec';

/** An error with an HTTP status and a stable machine-readable code, shown to the caller when < 500. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The one error-mapping middleware: 4xx messages are shown, 5xx are hidden behind a generic
 * message (and logged through app.on('error')).
 */
export async function errorMapper(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (err instanceof ApiError) {
      ctx.status = err.status;
      for (const [k, v] of Object.entries(err.headers)) ctx.set(k, v);
      ctx.body = { error: err.code, message: err.message };
      if (err.status >= 500) ctx.app.emit('error', err, ctx);
      return;
    }
    const e = err as { status?: number; expose?: boolean; message?: string };
    const status = typeof e.status === 'number' ? e.status : 500;
    ctx.status = status;
    if (status < 500 && e.expose) {
      ctx.body = { error: 'bad_request', message: e.message };
    } else {
      ctx.body = { error: 'internal_error', message: 'internal error; see the service logs' };
      ctx.app.emit('error', err, ctx);
    }
  }
}

/** Temporal is unavailable: 503, and when to try again. Every route answers it with this. */
export function temporalUnavailable(message = 'Temporal did not answer; retry later', retryAfterSeconds = 5): ApiError {
  return new ApiError(503, 'temporal_unavailable', message, { 'Retry-After': String(retryAfterSeconds) });
}

/**
 * A Temporal call of the operator API: a workflow's refusal is 409 with its reason, payloads this
 * process cannot decrypt are 500 with what to set, anything else means Temporal is unavailable (503).
 */
export async function callTemporal<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkflowRefusedError) throw new ApiError(409, 'refused', err.message);
    const encryption = encryptionProblem(err);
    if (encryption) throw new ApiError(500, 'misconfigured', encryption);
    throw temporalUnavailable();
  }
}
