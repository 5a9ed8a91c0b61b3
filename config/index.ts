import { existsSync } from 'node:fs';
import { z } from 'zod';
import { PAYLOAD_COMPRESSIONS, type PayloadCompression } from '../temporal/codec';
import { MAX_CHANGES_LIMIT } from '../db/repositories/changes';
import { DEFAULT_DELIVERY_ATTEMPTS, DEFAULT_DELIVERY_BATCH } from '../domain/delivery';
import {
  DEFAULT_RETENTION,
  MIN_CHANGE_RECORD_SECONDS,
  MIN_DEACTIVATED_USER_SECONDS,
  MIN_EVENT_LEDGER_SECONDS,
  MIN_EVENT_PAYLOAD_SECONDS,
  MIN_SYNC_RUN_SECONDS,
  parsePeriod,
  type RetentionSettings,
} from '../domain/retention';

/**
 * The one place that reads the environment. Everything else receives plain values.
 * A missing or malformed variable stops start-up with its name and what it expects.
 */

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** An empty value (a blank `PORT=` line in .env) counts as unset. */
const blankAsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

/** A worker's concurrent activities: a whole number from `min` to 1000. */
const slots = (fallback: number, min: number) =>
  z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^\d{1,4}$/, { message: `expected a whole number of activities from ${min} to 1000` })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(min, `expected a whole number of activities from ${min} to 1000`)
          .max(1000, `expected a whole number of activities from ${min} to 1000`),
      )
      .default(fallback),
  );

/** A whole number from `min` to `max` (of `what`). */
const wholeNumber = (fallback: number, min: number, max: number, what: string) => {
  const message = `expected a whole number of ${what} from ${min} to ${max}`;
  return z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^\d{1,7}$/, { message })
      .transform(Number)
      .pipe(z.number().min(min, message).max(max, message))
      .default(fallback),
  );
};

const port = (fallback: number) =>
  z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^\d{1,5}$/, { message: 'expected a port between 1 and 65535' })
      .transform(Number)
      .pipe(z.number().min(1, 'expected a port between 1 and 65535').max(65535, 'expected a port between 1 and 65535'))
      .default(fallback),
  );

/** A comma-separated list: entries trimmed, empty ones skipped, each checked by `item`. */
const commaList = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    )
    .pipe(z.array(item));

/** The Standard Webhooks specification asks for secrets of 24 to 64 bytes; Scalekit's have 32. */
export const MIN_WEBHOOK_SECRET_BYTES = 24;
const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/=]+$/;

/** One `whsec_<base64>` secret of at least MIN_WEBHOOK_SECRET_BYTES bytes. */
const webhookSecret = z
  .string()
  .trim()
  .regex(WEBHOOK_SECRET, { message: 'expected a secret of the form whsec_<base64>' })
  .refine((s) => !WEBHOOK_SECRET.test(s) || Buffer.from(s.slice('whsec_'.length), 'base64').length >= MIN_WEBHOOK_SECRET_BYTES, {
    message: `expected a secret of at least ${MIN_WEBHOOK_SECRET_BYTES} bytes after base64 decoding (the Standard Webhooks minimum), such as whsec_ followed by \`openssl rand -base64 32\``,
  });

const webhookSecrets = commaList(
  z
    .string()
    .regex(WEBHOOK_SECRET, {
      message: 'expected one or more secrets of the form whsec_<base64>, separated by commas',
    })
    // A short key makes signatures guessable; it is also what a secret cut off when pasted looks like.
    // (A malformed one is the regex's to report.)
    .refine((s) => !WEBHOOK_SECRET.test(s) || Buffer.from(s.slice('whsec_'.length), 'base64').length >= MIN_WEBHOOK_SECRET_BYTES, {
      message: `expected secrets of at least ${MIN_WEBHOOK_SECRET_BYTES} bytes after base64 decoding (the Standard Webhooks minimum; Scalekit's have 32): copy the whole secret from Scalekit > Webhooks`,
    }),
);

const payloadKeys = commaList(
  z
    .string()
    .regex(/^([A-Za-z0-9_.-]{1,40}:[A-Za-z0-9+/]{43}=|none)$/, {
      message:
        'expected keys of the form <key id>:<32 random bytes in base64>, separated by commas (generate one with: openssl rand -base64 32); "none" first to decrypt only',
    })
    .transform((entry) => {
      if (entry === 'none') return { id: 'none', key: Buffer.alloc(0) };
      const [id, key] = entry.split(':') as [string, string];
      return { id, key: Buffer.from(key, 'base64') };
    }),
);

/** Who may embed the settings page in a frame: origins, or `self`; none by default. */
const frameAncestors = commaList(
  z
    .string()
    .transform((o) => o.replace(/\/+$/, ''))
    .pipe(
      z
        .string()
        .regex(/^('self'|self|https?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?)$/, {
          message: "expected origins such as https://app.example.com (or 'self'), separated by commas",
        })
        .transform((o) => (o === 'self' || o === "'self'" ? "'self'" : new URL(o).origin)),
    ),
);

const origins = commaList(
  z
    .string()
    .transform((o) => o.replace(/\/+$/, ''))
    .pipe(
      z
        .string()
        .regex(/^https?:\/\/[^/?#\s@]+$/, { message: 'expected origins such as https://temporal-ui.example.com, separated by commas' })
        // As browsers send it: lower-case host, no default port.
        .transform((o) => new URL(o).origin),
    ),
);

/** A retention period (30d, 12h, a bare number of days) in seconds; 0 keeps forever. */
const retentionPeriod = (fallback: number, minimum: number, why: string) =>
  z.preprocess(
    blankAsUnset,
    z
      .string()
      .transform((v, ctx) => {
        const seconds = parsePeriod(v);
        if (seconds === undefined) {
          ctx.addIssue({ code: 'custom', message: 'expected a period such as 30d, 12h or 90 (days), or 0 to keep forever' });
          return z.NEVER;
        }
        if (seconds !== 0 && seconds < minimum) {
          ctx.addIssue({ code: 'custom', message: why });
          return z.NEVER;
        }
        return seconds;
      })
      .default(fallback),
  );

/** An http(s) URL of an OTLP/HTTP collector (`what` says which one is expected). */
const otlpUrl = (what: string) =>
  z.string().refine(
    (u) => {
      try {
        return ['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected ${what} (OTLP over HTTP: an http:// or https:// URL)` },
  );

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/scimflow';

const schema = z
  .object({
    SCALEKIT_ENVIRONMENT_URL: optionalString.pipe(
      z.string().url({ message: 'expected a URL such as https://your-env.scalekit.com' }).optional(),
    ),
    SCALEKIT_CLIENT_ID: optionalString,
    SCALEKIT_CLIENT_SECRET: optionalString,
    SCALEKIT_WEBHOOK_SECRET: webhookSecrets,
    DATABASE_URL: optionalString.pipe(
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// connection URL' })
        .optional(),
    ),
    TEMPORAL_ADDRESS: optionalString.pipe(
      z
        .string()
        .regex(/^[^\s:/]+:\d+$/, { message: 'expected host:port, for example 127.0.0.1:7233' })
        .optional(),
    ),
    TEMPORAL_NAMESPACE: z.preprocess(blankAsUnset, z.string().trim().min(1).default('default')),
    TEMPORAL_TASK_QUEUE: z.preprocess(blankAsUnset, z.string().trim().min(1).default('scimflow')),
    APP_TASK_QUEUE: optionalString,
    APP_DELIVERY_BATCH: wholeNumber(DEFAULT_DELIVERY_BATCH, 1, MAX_CHANGES_LIMIT, 'records per call'),
    APP_WEBHOOK_URL: optionalString.pipe(
      z
        .string()
        .url({ message: "expected the URL of the application's push handler, such as https://app.example.com/scimflow/changes" })
        .refine((u) => /^https?:\/\//i.test(u), { message: 'expected an http:// or https:// URL' })
        .optional(),
    ),
    APP_WEBHOOK_SECRET: optionalString.pipe(webhookSecret.optional()),
    APP_DELIVERY_ATTEMPTS: wholeNumber(DEFAULT_DELIVERY_ATTEMPTS, 1, 100, 'tries'),
    WORKER_ACTIVITY_SLOTS: slots(20, 1),
    WORKER_SCALEKIT_SLOTS: slots(10, 0),
    WORKER_RECONCILE_SLOTS: slots(4, 0),
    WORKER_METRICS_HOST: z.preprocess(
      blankAsUnset,
      z
        .string()
        .regex(/^[^\s:/]+$/, { message: 'expected a host or IP address to listen on, such as 0.0.0.0 or 127.0.0.1' })
        .default('0.0.0.0'),
    ),
    WORKER_METRICS_PORT: port(9464),
    WORKER_TEMPORAL_METRICS_PORT: port(9465),
    PORT: port(3000),
    API_HOST: z.preprocess(
      blankAsUnset,
      z
        .string()
        .regex(/^[^\s/]+$/, { message: 'expected a host or IP address to listen on, such as 127.0.0.1 (unset: every interface)' })
        .optional(),
    ),
    PUBLIC_BASE_URL: optionalString.pipe(
      z
        .string()
        .regex(/^https?:\/\/[^/?#\s@]+\/?$/, {
          message: 'expected the URL people reach the API at, scheme and host only, such as https://scim.example.com',
        })
        .optional(),
    ),
    TRUST_PROXY: z.preprocess(blankAsUnset, z.enum(['true', 'false', '1', '0'], { message: 'expected true or false' }).default('false')),
    SETTINGS_FRAME_ANCESTORS: frameAncestors,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
    PAYLOAD_COMPRESSION: z.preprocess(
      blankAsUnset,
      z.enum(PAYLOAD_COMPRESSIONS, { message: 'expected zlib (compress payloads, the default) or off' }).default('zlib'),
    ),
    CODEC_ALLOWED_ORIGINS: origins,
    CODEC_LISTEN: optionalString.pipe(
      z
        .string()
        .regex(/^[^\s:/]+:\d{1,5}$/, {
          message: 'expected host:port for the codec listener, such as 10.0.0.5:8234 (reachable by operators, not the internet)',
        })
        .optional(),
    ),
    OPERATOR_API_TOKEN: optionalString.pipe(z.string().min(16, { message: 'expected at least 16 characters' }).optional()),
    APP_READ_TOKEN: optionalString.pipe(z.string().min(16, { message: 'expected at least 16 characters' }).optional()),
    RECONCILE_FULL_INTERVAL: z.preprocess(
      blankAsUnset,
      z
        .string()
        .regex(/^\d+\s*(s|m|h|d)$/, { message: 'expected a duration such as 6h, 30m or 1d' })
        .default('6h'),
    ),
    RECONCILE_DELTA_INTERVAL: z.preprocess(
      blankAsUnset,
      z
        .string()
        .regex(/^\d+\s*(s|m|h|d)$/, { message: 'expected a duration such as 1h or 15m' })
        .default('1h'),
    ),
    DEPROVISION_GUARD_SHARE: z.preprocess(
      blankAsUnset,
      z.coerce
        .number({ message: 'expected a share between 0 and 1, such as 0.2' })
        .min(0, 'expected a share between 0 and 1, such as 0.2')
        .max(1, 'expected a share between 0 and 1, such as 0.2')
        .default(0.2),
    ),
    DEPROVISION_GUARD_MIN: z.preprocess(
      blankAsUnset,
      z.coerce
        .number({ message: 'expected a whole number of users, such as 10' })
        .int('expected a whole number of users, such as 10')
        .min(0, 'expected a whole number of users, such as 10')
        .default(10),
    ),
    RETENTION_EVENT_PAYLOADS: retentionPeriod(
      DEFAULT_RETENTION.eventPayloadSeconds,
      MIN_EVENT_PAYLOAD_SECONDS,
      'expected 0 (keep forever) or at least 1h',
    ),
    RETENTION_EVENT_LEDGER: retentionPeriod(
      DEFAULT_RETENTION.eventLedgerSeconds,
      MIN_EVENT_LEDGER_SECONDS,
      "expected 0 (keep forever) or at least 7d: once an event's ledger row is deleted, a redelivery of that event is no longer recognized as a duplicate (Scalekit retries a delivery for about a day and a half)",
    ),
    RETENTION_SYNC_RUNS: retentionPeriod(
      DEFAULT_RETENTION.syncRunSeconds,
      MIN_SYNC_RUN_SECONDS,
      'expected 0 (keep forever) or at least 2d: a run stopped by the deprovision guard waits up to 24 hours for approval',
    ),
    RETENTION_DEACTIVATED_USERS: retentionPeriod(
      DEFAULT_RETENTION.deactivatedUserSeconds,
      MIN_DEACTIVATED_USER_SECONDS,
      'expected 0 (keep their personal fields) or at least 1d',
    ),
    RETENTION_CHANGE_RECORDS: retentionPeriod(
      DEFAULT_RETENTION.changeRecordSeconds,
      MIN_CHANGE_RECORD_SECONDS,
      'expected 0 (keep forever) or at least 1d: an application that was down longer than this must read its directory again from the start',
    ),
    RETENTION_INTERVAL: z.preprocess(
      blankAsUnset,
      z
        .string()
        .regex(/^[1-9]\d*\s*(m|h|d)$/, { message: 'expected a duration such as 1h, 30m or 1d' })
        .default(DEFAULT_RETENTION.interval),
    ),
    // OpenTelemetry tracing (observability/tracing.ts): off unless an OTLP endpoint is set. The
    // standard variables: the traces URL as it is, or the collector's base URL (+ /v1/traces).
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString.pipe(
      otlpUrl('the traces URL of an OTLP/HTTP collector, such as http://collector:4318/v1/traces').optional(),
    ),
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(
      otlpUrl('the base URL of an OTLP/HTTP collector, such as http://collector:4318').optional(),
    ),
    OTEL_SERVICE_NAME: optionalString,
    LOG_LEVEL: z.preprocess(blankAsUnset, z.enum(['debug', 'info', 'warn', 'error']).default('info')),
    // Local tooling (npm run dev, npm test): where state lives and which Temporal CLI to run.
    SCIMFLOW_DATA_DIR: z.preprocess(blankAsUnset, z.string().trim().min(1).default('.data')),
    TEMPORAL_CLI: optionalString,
    TEMPORAL_DEV_PORT: port(7233),
    TEMPORAL_UI_PORT: port(8233),
    EMULATOR_PORT: port(8280),
    SCIMFLOW_EXIT_WITH_PARENT: z.enum(['0', '1', 'true', 'false']).optional(),
  })
  .superRefine((env, ctx) => {
    const ids = env.PAYLOAD_ENCRYPTION_KEYS.map((k) => k.id);
    if (ids.indexOf('none') > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['PAYLOAD_ENCRYPTION_KEYS'],
        message: '"none" (decrypt only) goes first, before the keys that still decrypt',
      });
    }
    if (new Set(ids).size !== ids.length) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_ENCRYPTION_KEYS'], message: 'expected each key id once' });
    }
    if ((env.APP_WEBHOOK_URL === undefined) !== (env.APP_WEBHOOK_SECRET === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.APP_WEBHOOK_URL === undefined ? 'APP_WEBHOOK_URL' : 'APP_WEBHOOK_SECRET'],
        message: 'expected to be set together with the other of APP_WEBHOOK_URL and APP_WEBHOOK_SECRET (both or neither)',
      });
    }
    if (env.APP_WEBHOOK_SECRET && env.SCALEKIT_WEBHOOK_SECRET.includes(env.APP_WEBHOOK_SECRET)) {
      ctx.addIssue({
        code: 'custom',
        path: ['APP_WEBHOOK_SECRET'],
        message: "expected a secret of its own, not one of SCALEKIT_WEBHOOK_SECRET's",
      });
    }
    if (env.APP_READ_TOKEN && env.APP_READ_TOKEN === env.OPERATOR_API_TOKEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['APP_READ_TOKEN'],
        message: 'expected a token of its own, not OPERATOR_API_TOKEN (it may read only the change stream)',
      });
    }
    if (env.CODEC_ALLOWED_ORIGINS.length > 0 && !env.CODEC_LISTEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['CODEC_ALLOWED_ORIGINS'],
        message: 'expected only with CODEC_LISTEN (the listener the Temporal UI decodes through)',
      });
    }
    const creds = [env.SCALEKIT_ENVIRONMENT_URL, env.SCALEKIT_CLIENT_ID, env.SCALEKIT_CLIENT_SECRET];
    const set = creds.filter((v) => v !== undefined).length;
    if (set !== 0 && set !== 3) {
      for (const key of ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET'] as const) {
        if (env[key] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: 'expected to be set together with the other SCALEKIT_* credentials (all three or none)',
          });
        }
      }
    }
  });

export interface ScalekitCredentials {
  environmentUrl: string;
  clientId: string;
  clientSecret: string;
}

export interface Config {
  scalekit: ScalekitCredentials | undefined;
  webhookSecrets: string[];
  databaseUrl: string;
  /** True when DATABASE_URL was not set and the default applies. */
  databaseUrlIsDefault: boolean;
  temporal: { address: string | undefined; namespace: string; taskQueue: string };
  /**
   * Temporal-native delivery of the change stream: the application's task queue (unset: off),
   * records per call, tries of a call before the organization's delivery stops.
   */
  delivery: { appTaskQueue: string | undefined; batch: number; maxAttempts: number };
  /**
   * Signed HTTP push of the change stream to the application (APP_WEBHOOK_URL, signed with
   * APP_WEBHOOK_SECRET; unset: off), with the batch size and tries of `delivery`.
   */
  push: { url: string; secret: string } | undefined;
  /** Concurrent activities of the worker: the main task queue's, the Scalekit queue's and the reconcile queue's (0: not polled here). */
  worker: { activitySlots: number; scalekitSlots: number; reconcileSlots: number };
  /**
   * The worker's scrape target (`/metrics`, `/healthz`), and the local port of the Temporal
   * runtime's own Prometheus exporter, which that `/metrics` includes.
   */
  workerMetrics: { host: string; port: number; temporalPort: number };
  port: number;
  /** Where the API listens (an address of this machine); undefined: every interface. */
  apiHost: string | undefined;
  /** Keys that encrypt what scimflow stores in Temporal (the first encrypts); none: stored as is. */
  payloadKeys: { id: string; key: Buffer }[];
  /** How payloads are compressed before they are encrypted and stored in Temporal. */
  payloadCompression: PayloadCompression;
  /** Where the codec endpoint for the Temporal UI listens (host:port, operators' network only). */
  codecListen: { host: string; port: number } | undefined;
  /** Browser origins (the Temporal UI) that get CORS headers from that listener. */
  codecOrigins: string[];
  /** Where people reach the API (settings links); unset: the host of the request that asks. */
  publicBaseUrl: string | undefined;
  /** Believe X-Forwarded-Host/-Proto/-For (only behind a proxy that sets them). */
  trustProxy: boolean;
  /** CSP frame-ancestors of the settings page: origins or "'self'"; empty: no one may frame it. */
  settingsFrameAncestors: string[];
  operatorApiToken: string | undefined;
  /** The application's read-only token of the change stream (GET /api/changes); nothing else accepts it. */
  appReadToken: string | undefined;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /**
   * OpenTelemetry tracing: where spans are sent (OTLP over HTTP) and the service name they carry
   * (OTEL_SERVICE_NAME; unset: each process's own, scimflow-api or scimflow-worker). Undefined:
   * tracing is off and nothing of it is loaded.
   */
  tracing: { tracesUrl: string; serviceName: string | undefined } | undefined;
  reconcile: { fullInterval: string; deltaInterval: string; guardShare: number; guardMinimum: number };
  /** How long what is kept about people stays (seconds; 0 keeps forever), and how often that is enforced. */
  retention: RetentionSettings;
  dev: {
    dataDir: string;
    temporalCli: string | undefined;
    temporalPort: number;
    temporalUiPort: number;
    emulatorPort: number;
    /** Set by `npm run dev` for its children: exit when the parent is gone. */
    exitWithParent: boolean;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nSet these in the environment or in a .env file (see README, "Configuration").`,
    );
    this.name = 'ConfigError';
  }
}

/** Parses an environment (process.env by default) into a Config, or throws ConfigError. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  const e = result.data;
  const tracesUrl = otlpTracesUrl(e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, e.OTEL_EXPORTER_OTLP_ENDPOINT);
  return {
    scalekit:
      e.SCALEKIT_ENVIRONMENT_URL && e.SCALEKIT_CLIENT_ID && e.SCALEKIT_CLIENT_SECRET
        ? {
            environmentUrl: e.SCALEKIT_ENVIRONMENT_URL.replace(/\/+$/, ''),
            clientId: e.SCALEKIT_CLIENT_ID,
            clientSecret: e.SCALEKIT_CLIENT_SECRET,
          }
        : undefined,
    webhookSecrets: e.SCALEKIT_WEBHOOK_SECRET,
    databaseUrl: e.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    databaseUrlIsDefault: e.DATABASE_URL === undefined,
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, taskQueue: e.TEMPORAL_TASK_QUEUE },
    delivery: { appTaskQueue: e.APP_TASK_QUEUE, batch: e.APP_DELIVERY_BATCH, maxAttempts: e.APP_DELIVERY_ATTEMPTS },
    push: e.APP_WEBHOOK_URL && e.APP_WEBHOOK_SECRET ? { url: e.APP_WEBHOOK_URL, secret: e.APP_WEBHOOK_SECRET } : undefined,
    worker: { activitySlots: e.WORKER_ACTIVITY_SLOTS, scalekitSlots: e.WORKER_SCALEKIT_SLOTS, reconcileSlots: e.WORKER_RECONCILE_SLOTS },
    workerMetrics: { host: e.WORKER_METRICS_HOST, port: e.WORKER_METRICS_PORT, temporalPort: e.WORKER_TEMPORAL_METRICS_PORT },
    port: e.PORT,
    apiHost: e.API_HOST,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    trustProxy: e.TRUST_PROXY === 'true' || e.TRUST_PROXY === '1',
    settingsFrameAncestors: [...new Set(e.SETTINGS_FRAME_ANCESTORS)],
    payloadKeys: e.PAYLOAD_ENCRYPTION_KEYS,
    payloadCompression: e.PAYLOAD_COMPRESSION,
    codecListen: e.CODEC_LISTEN
      ? {
          host: e.CODEC_LISTEN.slice(0, e.CODEC_LISTEN.lastIndexOf(':')),
          port: Number(e.CODEC_LISTEN.slice(e.CODEC_LISTEN.lastIndexOf(':') + 1)),
        }
      : undefined,
    codecOrigins: e.CODEC_ALLOWED_ORIGINS,
    operatorApiToken: e.OPERATOR_API_TOKEN,
    appReadToken: e.APP_READ_TOKEN,
    logLevel: e.LOG_LEVEL,
    tracing: tracesUrl ? { tracesUrl, serviceName: e.OTEL_SERVICE_NAME } : undefined,
    reconcile: {
      fullInterval: e.RECONCILE_FULL_INTERVAL,
      deltaInterval: e.RECONCILE_DELTA_INTERVAL,
      guardShare: e.DEPROVISION_GUARD_SHARE,
      guardMinimum: e.DEPROVISION_GUARD_MIN,
    },
    retention: {
      eventPayloadSeconds: e.RETENTION_EVENT_PAYLOADS,
      eventLedgerSeconds: e.RETENTION_EVENT_LEDGER,
      syncRunSeconds: e.RETENTION_SYNC_RUNS,
      deactivatedUserSeconds: e.RETENTION_DEACTIVATED_USERS,
      changeRecordSeconds: e.RETENTION_CHANGE_RECORDS,
      interval: e.RETENTION_INTERVAL,
    },
    dev: {
      dataDir: e.SCIMFLOW_DATA_DIR,
      temporalCli: e.TEMPORAL_CLI,
      temporalPort: e.TEMPORAL_DEV_PORT,
      temporalUiPort: e.TEMPORAL_UI_PORT,
      emulatorPort: e.EMULATOR_PORT,
      exitWithParent: e.SCIMFLOW_EXIT_WITH_PARENT === '1' || e.SCIMFLOW_EXIT_WITH_PARENT === 'true',
    },
  };
}

/**
 * Where spans go, as the OpenTelemetry specification reads the two variables: the traces endpoint
 * as it is, else the base endpoint with `/v1/traces` appended.
 */
function otlpTracesUrl(traces: string | undefined, base: string | undefined): string | undefined {
  if (traces) return traces;
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

/** Exits the process when its parent goes away (the parent's Ctrl-C handler never ran). */
export function exitWithParent(stop: () => void): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 2_000).unref();
}

/** Loads `.env` (if present, without overriding what is already set) and parses process.env. */
export function loadConfig(envFile = '.env'): Config {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  return parseConfig(process.env);
}
