/**
 * Structured JSON logs, one line each, written by pino. Callers pass fields, never secrets: the
 * redaction below (one place, for every process) is a second line of defence for field names that
 * must never be printed, at any depth, and turns errors into their bounded description.
 * `npm run dev` shows the same lines through pino-pretty on a terminal (scripts/dev.ts).
 */

import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, stdTimeFunctions, type DestinationStream } from 'pino';
import { safeErrorMessage } from '../db/errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const SECRET_FIELD = /secret|token|password|authorization|signature|portal.?link|location/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function redact(value: unknown, depth = 0): unknown {
  // Never a statement with its values, a payload or a stack: what the error is, bounded.
  if (value instanceof Error) return { name: value.name, message: safeErrorMessage(value, 500) };
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_FIELD.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

/** The line's own time, level and message: no field overwrites them. */
const CORE_FIELDS = ['time', 'level', 'msg'];

function fieldsOf(object: Record<string, unknown>): Record<string, unknown> {
  const out = redact(object) as Record<string, unknown>;
  for (const k of CORE_FIELDS) delete out[k];
  return out;
}

/**
 * A line written inside a traced request or activity names its trace (observability/tracing.ts);
 * with tracing off there is never a current span, and nothing is added.
 */
function traceFields(): Record<string, string> {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? { trace_id: context.traceId, span_id: context.spanId } : {};
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (fields) => wrap(p.child(fieldsOf(fields))),
  };
}

export function createLogger(options: { level?: LogLevel; base?: Record<string, unknown>; write?: (line: string) => void } = {}): Logger {
  // Synchronous: a line is out before the next statement runs (and before a crash ends the process).
  const destination: DestinationStream = options.write
    ? { write: (line: string) => options.write!(line.replace(/\n$/, '')) }
    : pino.destination({ dest: 1, sync: true });
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      messageKey: 'msg',
      timestamp: stdTimeFunctions.isoTime,
      mixin: traceFields,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: fieldsOf,
        log: fieldsOf,
      },
    },
    destination,
  );
  return wrap(logger);
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
