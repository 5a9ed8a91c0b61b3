import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import type { Knex } from 'knex';
import { WebhookVerifier } from '../../scalekit/webhook';
import { applyDirectoryChanges, RecordRejected, type ChangeLogger } from './directory-changes';
import { can, permissionsOf, type Permission } from './permissions';
import { authenticate, issueToken } from './tokens';
import type { User } from './users';

/**
 * Acme's HTTP API: every product endpoint authenticated by bearer token and guarded by one
 * permission of the role matrix (permissions.ts), plus scimflow's signed push of directory
 * changes and, in development only, a way to get a token.
 */

export interface AcmeAppOptions {
  db: Knex;
  logger: ChangeLogger & { error(message: string, meta?: Record<string, unknown>): void };
  /** Standard Webhooks secret(s) of scimflow's push (APP_WEBHOOK_SECRET); unset: no push endpoint. */
  webhookSecrets?: readonly string[];
  /** POST /dev/tokens hands out tokens by e-mail (ACME_DEV_LOGIN=1): never in production. */
  devLogin?: boolean;
}

type State = { user: User };

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A directory change batch can be large (an import): up to 32 MiB. */
const MAX_PUSH_BYTES = 32 * 1024 * 1024;
const MAX_JSON_BYTES = 64 * 1024;

async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'payload_too_large', `the body exceeds ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

async function readJson(ctx: Context): Promise<Record<string, unknown>> {
  const raw = await readBody(ctx, MAX_JSON_BYTES);
  try {
    const body: unknown = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new HttpError(400, 'bad_request', 'expected a JSON object');
}

function requiredString(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, 'bad_request', `expected "${key}", a non-empty string`);
  return value.trim();
}

export function createAcmeApp(options: AcmeAppOptions): Koa<State> {
  const { db, logger } = options;
  const app = new Koa<State>();

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError) {
        ctx.status = err.status;
        if (err.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="acme"');
        ctx.body = { error: err.code, message: err.message, ...err.extra };
        return;
      }
      logger.error('request failed', { path: ctx.path, error: err instanceof Error ? err.message : String(err) });
      ctx.status = 500;
      ctx.body = { error: 'internal_error', message: 'internal error' };
    }
  });

  /** A bearer token of an active user, not revoked: otherwise 401. */
  async function authenticated(ctx: Context, next: Next): Promise<void> {
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    if (!match) throw new HttpError(401, 'unauthenticated', 'expected Authorization: Bearer <token>');
    const user = await authenticate(db, match[1]!);
    if (!user) throw new HttpError(401, 'unauthenticated', 'the token is unknown, revoked, or its user is deactivated');
    ctx.state.user = user;
    await next();
  }

  /** The user's roles hold `permission`: otherwise 403. */
  const requires =
    (permission: Permission) =>
    async (ctx: Context, next: Next): Promise<void> => {
      const user = (ctx.state as State).user;
      if (!can(user.roles, permission)) {
        throw new HttpError(403, 'forbidden', `requires the permission ${permission}`, { permission, roles: user.roles });
      }
      await next();
    };

  const router = new Router<State>();

  router.get('/health', async (ctx) => {
    await db.raw('SELECT 1');
    ctx.body = { ok: true };
  });

  router.get('/me', authenticated, async (ctx) => {
    const { user } = ctx.state;
    ctx.body = { ...user, permissions: [...permissionsOf(user.roles)].sort() };
  });

  router.get('/projects', authenticated, requires('projects:read'), async (ctx) => {
    ctx.body = {
      projects: await db('projects')
        .where({ organization_id: ctx.state.user.organizationId })
        .orderBy('created_at')
        .select('id', 'name', 'created_at'),
    };
  });

  router.post('/projects', authenticated, requires('projects:write'), async (ctx) => {
    const name = requiredString(await readJson(ctx), 'name');
    const [project] = await db('projects')
      .insert({ organization_id: ctx.state.user.organizationId, name, created_by: ctx.state.user.id })
      .returning(['id', 'name', 'created_at']);
    ctx.status = 201;
    ctx.body = project;
  });

  router.get('/members', authenticated, requires('members:read'), async (ctx) => {
    const users = await db('users as u')
      .leftJoin('user_roles as r', 'r.user_id', 'u.id')
      .where('u.organization_id', ctx.state.user.organizationId)
      .groupBy('u.id')
      .orderBy('u.email')
      .select(
        'u.id',
        'u.email',
        'u.name',
        'u.active',
        db.raw(`coalesce(array_agg(r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles`),
      );
    ctx.body = { members: users };
  });

  router.post('/members/invite', authenticated, requires('members:invite'), async (ctx) => {
    const email = requiredString(await readJson(ctx), 'email');
    const [invitation] = await db('invitations')
      .insert({ organization_id: ctx.state.user.organizationId, email, invited_by: ctx.state.user.id })
      .returning(['id', 'email', 'created_at']);
    ctx.status = 201;
    ctx.body = invitation;
  });

  router.get('/billing', authenticated, requires('billing:manage'), async (ctx) => {
    const [{ count }] = (await db('users')
      .where({ organization_id: ctx.state.user.organizationId, active: true })
      .count({ count: '*' })) as [{ count: string }];
    ctx.body = { plan: 'business', seats: Number(count) };
  });

  if (options.webhookSecrets && options.webhookSecrets.length > 0) {
    const verifier = new WebhookVerifier(options.webhookSecrets);
    /**
     * scimflow's signed push: a ChangeBatch, verified over the raw body. 200 with the result;
     * 422 for a batch Acme can never apply (scimflow stops that organization's delivery); 401 for a
     * bad signature; anything else (5xx) is retried.
     */
    router.post('/scimflow/changes', async (ctx) => {
      const raw = await readBody(ctx, MAX_PUSH_BYTES);
      const verified = verifier.verify(ctx.headers, raw);
      if (!verified.ok) throw new HttpError(401, 'invalid_signature', verified.message);
      let batch: unknown;
      try {
        batch = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(422, 'record_rejected', 'the body is not JSON', { recordId: null });
      }
      try {
        ctx.body = await applyDirectoryChanges(db, batch, logger);
      } catch (err) {
        if (err instanceof RecordRejected) throw new HttpError(422, 'record_rejected', err.message, { recordId: err.recordId });
        throw err;
      }
    });
  }

  if (options.devLogin) {
    /** Development only: a token for an active user, by e-mail (and organization, when several have it). */
    router.post('/dev/tokens', async (ctx) => {
      const body = await readJson(ctx);
      const email = requiredString(body, 'email');
      const query = db('users').whereRaw('lower(email) = lower(?)', [email]).where({ active: true });
      if (typeof body.organizationId === 'string') query.where({ organization_id: body.organizationId });
      const users = (await query.select('id', 'organization_id')) as { id: string; organization_id: string }[];
      if (users.length === 0) throw new HttpError(404, 'not_found', `no active user with the e-mail ${email}`);
      if (users.length > 1) {
        throw new HttpError(409, 'ambiguous', 'several organizations have this e-mail: give organizationId', {
          organizationIds: users.map((u) => u.organization_id),
        });
      }
      ctx.status = 201;
      ctx.body = { token: await issueToken(db, users[0]!.id), userId: users[0]!.id, organizationId: users[0]!.organization_id };
    });
  }

  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', message: `no route ${ctx.method} ${ctx.path}` };
  });
  return app;
}
