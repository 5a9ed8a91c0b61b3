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
