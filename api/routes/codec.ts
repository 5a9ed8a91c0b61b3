import { timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils';
import { z } from 'zod';
import type { EncryptionCodec } from '../../temporal/codec';
import { PayloadDecryptionError } from '../../temporal/codec';
import { ApiError } from '../errors';
import { readRawBody } from '../raw-body';

/**
 * A codec endpoint for the Temporal UI (and `temporal --codec-endpoint`): it decrypts payloads so
 * operators can read workflow histories. Only for the Temporal UI origins configured in
 * CODEC_ALLOWED_ORIGINS (browsers), or with the operator token (`--codec-auth "Bearer …"`).
 * It decrypts whatever it is sent: expose it only where operators work.
 */

export interface CodecDeps {
  codec: EncryptionCodec | undefined;
  origins: readonly string[];
  operatorApiToken: string | undefined;
}

const body = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), z.string()).nullish(),
      data: z.string().nullish(),
    }),
    { message: 'expected { "payloads": [ { "metadata": {…}, "data": "…" } ] }' },
  ).max(10_000),
});

function bearerMatches(header: string | undefined, token: string | undefined): boolean {
  if (!token || !header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function codecRouter(deps: CodecDeps): Router {
  const router = new Router({ prefix: '/codec' });

  async function guard(ctx: Context, next: Next): Promise<void> {
    if (!deps.codec) throw new ApiError(404, 'not_found', 'payloads are not encrypted here (PAYLOAD_ENCRYPTION_KEYS is not set)');
    const origin = ctx.get('origin');
    const allowedOrigin = origin !== '' && deps.origins.includes(origin);
    if (allowedOrigin) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Vary', 'Origin');
      ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
    }
    if (ctx.method === 'OPTIONS') {
      if (!allowedOrigin) throw new ApiError(403, 'forbidden', 'this origin may not use the codec endpoint (CODEC_ALLOWED_ORIGINS)');
      ctx.status = 204;
      return;
    }
    if (!allowedOrigin && !bearerMatches(ctx.get('authorization'), deps.operatorApiToken)) {
      throw new ApiError(403, 'forbidden', 'the codec endpoint answers the Temporal UI origins in CODEC_ALLOWED_ORIGINS, or the operator token');
    }
    await next();
  }

  const handle = (direction: 'encode' | 'decode') => async (ctx: Context) => {
    const raw = await readRawBody(ctx, 4 * 1024 * 1024);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ApiError(400, 'invalid_request', 'the request body is not valid JSON');
    }
    const r = body.safeParse(parsed);
    if (!r.success) throw new ApiError(400, 'invalid_request', r.error.issues[0]?.message ?? 'invalid request');
    const codec = deps.codec as EncryptionCodec;
    const payloads = r.data.payloads.map((p) => JSONToPayload(p as JSONPayload));
    try {
      const out = direction === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { payloads: out.map((p) => payloadToJSON(p)) };
    } catch (err) {
      if (err instanceof PayloadDecryptionError) throw new ApiError(422, 'undecryptable', err.message);
      throw err;
    }
  };

  router.options('/decode', guard);
  router.options('/encode', guard);
  router.post('/decode', guard, handle('decode'));
  router.post('/encode', guard, handle('encode'));
  return router;
}
