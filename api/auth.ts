import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { ApiError } from './errors';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Bearer-token guard for the operator API. Compares digests in constant time. */
export function requireOperatorToken(token: string | undefined) {
  const expected = token ? digest(token) : undefined;
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!expected) {
      throw new ApiError(401, 'unauthorized', 'the operator API is disabled: set OPERATOR_API_TOKEN to enable it');
    }
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), expected)) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new ApiError(401, 'unauthorized', 'missing or wrong bearer token (Authorization: Bearer <OPERATOR_API_TOKEN>)');
    }
    await next();
  };
}

const bearer = (ctx: Context): string | undefined => /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];
const matches = (presented: string | undefined, expected: Buffer | undefined): boolean =>
  presented !== undefined && expected !== undefined && timingSafeEqual(digest(presented), expected);

/** The paths the application's read-only token may read: the change stream. */
export const CHANGE_STREAM_PATH = /^\/api\/(changes|organizations\/[^/]+\/changes)\/?$/;

/**
 * The application's read-only token (APP_READ_TOKEN) reads the change stream and nothing else:
 * anywhere else it is refused with 403, whatever the route would have answered.
 */
export function confineAppReadToken(token: string | undefined) {
  const expected = token ? digest(token) : undefined;
  return async (ctx: Context, next: Next): Promise<void> => {
    if (expected && !CHANGE_STREAM_PATH.test(ctx.path) && matches(bearer(ctx), expected)) {
      throw new ApiError(
        403,
        'forbidden',
        "the application's read token (APP_READ_TOKEN) reads only the change stream: GET /api/changes and /api/organizations/:orgId/changes",
      );
    }
    await next();
  };
}

/** Bearer-token guard of the change stream: the operator token, or the application's read-only token. */
export function requireChangeReader(operatorToken: string | undefined, appReadToken: string | undefined) {
  const operator = operatorToken ? digest(operatorToken) : undefined;
  const app = appReadToken ? digest(appReadToken) : undefined;
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!operator && !app) {
      throw new ApiError(401, 'unauthorized', 'the change stream is disabled: set OPERATOR_API_TOKEN or APP_READ_TOKEN to enable it');
    }
    const presented = bearer(ctx);
    if (!matches(presented, operator) && !matches(presented, app)) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new ApiError(
        401,
        'unauthorized',
        'missing or wrong bearer token (Authorization: Bearer <OPERATOR_API_TOKEN or APP_READ_TOKEN>)',
      );
    }
    await next();
  };
}
