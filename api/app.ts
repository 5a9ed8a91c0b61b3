import type Router from '@koa/router';
import type { PayloadCodec } from '@temporalio/common';
import { context, propagation, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import Koa, { type DefaultState } from 'koa';
import type { Knex } from 'knex';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { WebhookVerifier } from '../scalekit/webhook';
import type { OrganizationWorkflows } from '../temporal/client';
import { confineAppReadToken } from './auth';
import { ApiError, errorMapper } from './errors';
import { changesRouter } from './routes/changes';
import { healthRouter } from './routes/health';
import { deliveryRouter, type DeliveryDeps } from './routes/delivery';
import { operatorRouter } from './routes/operator';
import { rolesRouter } from './routes/roles';
import { policyRouter } from './routes/policy';
import { codecRouter } from './routes/codec';
import { settingsLinkRouter, settingsRouter, type SettingsDeps } from './routes/settings';
import { SettingsLinks } from './settings-link';
import type { PortalLinks } from '../scalekit/portal';
import { webhookRouter } from './routes/webhook';

export interface AppDeps {
  db: Knex;
  workflows: Pick<
    OrganizationWorkflows,
    | 'deliver'
    | 'status'
    | 'reachable'
    | 'workerPresence'
    | 'startReconcile'
    | 'approveRun'
    | 'cancelRun'
    | 'changeRoles'
    | 'setEmailPolicy'
    | 'pauseSync'
    | 'resumeSync'
    | 'retryQuarantined'
  >;
  verifier: WebhookVerifier;
  operatorApiToken: string | undefined;
  /** The application's read-only token: reads the change stream, nothing else. */
  appReadToken?: string;
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes?: number;
  /** Where people reach the API, for settings links; unset: the requesting host. */
  publicBaseUrl?: string;
  /** Believe X-Forwarded-* headers (behind a proxy that sets them); false by default. */
  trustProxy?: boolean;
  /** Who may frame the settings page (CSP frame-ancestors): origins or "'self'"; none by default. */
  settingsFrameAncestors?: readonly string[];
  /** Decrypts payloads for operators (/codec, operator token); undefined when payloads are not encrypted. */
  codec?: { codec: PayloadCodec };
  /** Scalekit's admin portal, for the settings page; undefined without Scalekit credentials. */
  portal?: PortalLinks;
  /** Operators' commands to organizations' deliveries to the application; undefined: APP_TASK_QUEUE is not set. */
  deliveries?: DeliveryDeps['deliveries'];
  /** Operators' commands to organizations' signed HTTP push; undefined: APP_WEBHOOK_URL is not set. */
  pushDeliveries?: DeliveryDeps['pushDeliveries'];
  /** Traces each request (a server span) when tracing is on (observability/tracing.ts); undefined: off. */
  tracer?: Tracer;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  // Forwarded headers are anyone's to send: only a proxy that sets them makes them true.
  app.proxy = deps.trustProxy ?? false;

  const tracer = deps.tracer;
  if (tracer) app.use(traceRequest(tracer));
  app.use(async function requestMetrics(ctx, next) {
    try {
      await next();
    } finally {
      const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      deps.metrics.httpRequests.inc({ route: routeLabel(matched), status: String(ctx.status) });
    }
  });
  app.use(errorMapper);
  app.use(confineAppReadToken(deps.appReadToken));

  const settings: SettingsDeps = {
    db: deps.db,
    publicBaseUrl: deps.publicBaseUrl,
    frameAncestors: deps.settingsFrameAncestors ?? [],
    portal: deps.portal,
    links: deps.operatorApiToken ? new SettingsLinks(deps.operatorApiToken) : undefined,
    operatorApiToken: deps.operatorApiToken,
    logger: deps.logger,
  };
  // One by one: each router's context type has the path parameters it checks (api/params.ts).
  const mount = <C>(router: Router<DefaultState, C>): void => {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: false }));
  };
  // The settings routes come first: they share the /api prefix with the operator router.
  mount(webhookRouter(deps));
  mount(settingsLinkRouter(settings));
  mount(settingsRouter(settings));
  mount(changesRouter({ db: deps.db, operatorApiToken: deps.operatorApiToken, appReadToken: deps.appReadToken }));
  mount(operatorRouter(deps));
  mount(deliveryRouter(deps));
  mount(rolesRouter(deps));
  mount(policyRouter(deps));
  mount(healthRouter(deps));
  mount(
    codecRouter({ codec: deps.codec?.codec, access: 'token', origins: [], operatorApiToken: deps.operatorApiToken, logger: deps.logger }),
  );
  app.use(async function notFound(ctx) {
    if (ctx.status === 404 && ctx.body === undefined) {
      throw new ApiError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
    }
  });

  app.on('error', (err: Error, ctx?: Koa.Context) => {
    // A client that hangs up mid-request is the client's failure, not the service's.
    if (isClientDisconnect(err)) {
      deps.logger.debug('client closed the connection before the exchange was complete', {
        method: ctx?.method,
        path: ctx?.path,
        code: (err as { code?: unknown }).code,
      });
      return;
    }
    deps.logger.error('request failed', { method: ctx?.method, path: ctx?.path, error: err });
  });
  app.silent = true;
  return app;
}

const DISCONNECT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Errors of a connection the client closed or broke (Node's HTTP parser reports a body cut short as HPE_…). */
export function isClientDisconnect(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (DISCONNECT_CODES.has(code) || code.startsWith('HPE_'));
}

/**
 * The codec endpoint alone, for the Temporal UI: served on its own listener (CODEC_LISTEN), which
 * operators reach and the internet does not. Browsers from `origins` get CORS headers.
 */
export function createCodecApp(deps: { codec: PayloadCodec; origins: readonly string[]; listenHost: string; logger: Logger }): Koa {
  const app = new Koa();
  app.use(errorMapper);
  const router = codecRouter({
    codec: deps.codec,
    access: 'internal',
    origins: deps.origins,
    listenHost: deps.listenHost,
    operatorApiToken: undefined,
    logger: deps.logger,
  });
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  app.on('error', (err: Error) => deps.logger.error('codec request failed', { error: err }));
  app.silent = true;
  return app;
}

/**
 * The route a request matched, as a metrics label: the route's pattern, or for a request a
 * router's middleware answered (a 401 from the token check) the router's prefix, not the regular
 * expression @koa/router builds from it.
 */
/** Probes and scrapes: frequent, and nothing to follow. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * A server span for each request, named by its method and route (never its path or query: a
 * settings link's path holds a token). A trace context the caller sends (traceparent) is its parent.
 */
function traceRequest(tracer: Tracer): Koa.Middleware {
  return async function traceRequest(ctx, next) {
    if (UNTRACED_PATHS.has(ctx.path)) return next();
    const parent = propagation.extract(context.active(), ctx.headers);
    await tracer.startActiveSpan(
      ctx.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method } },
      parent,
      async (span) => {
        try {
          await next();
        } finally {
          const route = routeLabel((ctx as { _matchedRoute?: string | RegExp })._matchedRoute);
          span.updateName(`${ctx.method} ${route}`);
          span.setAttributes({ 'http.route': route, 'http.response.status_code': ctx.status });
          if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        }
      },
    );
  };
}

export function routeLabel(matched: string | RegExp | undefined): string {
  if (matched === undefined) return 'unmatched';
  return String(matched).replace(/\(\?:.*$/, '') || '/';
}
