import { isIP } from 'node:net';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import type { Logger } from '../../observability/logger';
import { requireOperatorToken } from '../auth';
import { ApiError } from '../errors';
import { MAX_INFLATED_BYTES } from '../../temporal/codec';
import { readJson } from '../request';

/**
 * A codec endpoint for the Temporal UI and `temporal --codec-endpoint`: it decompresses and decrypts payloads so
 * operators can read workflow histories. On the API's public port it answers the operator token
 * only. For the Temporal UI (a browser, which cannot send that token) the API also serves it on a
 * separate listener (CODEC_LISTEN) that operators reach and the internet does not; there, the
 * origins in CODEC_ALLOWED_ORIGINS get CORS headers. An Origin header is never a credential.
 * That listener answers only requests naming it by IP address, localhost or its CODEC_LISTEN host
 * (a page that rebinds its own domain name to the listener's address names that domain), and only
 * JSON bodies, which a page of another origin cannot send without a CORS preflight.
 */

export interface CodecDeps {
  codec: PayloadCodec | undefined;
  /** 'token': the public port (operator token required); 'internal': the CODEC_LISTEN listener. */
  access: 'token' | 'internal';
  origins: readonly string[];
  operatorApiToken: string | undefined;
  logger: Logger;
  /** On the codec listener: the host it listens on (CODEC_LISTEN), a name its Host header may carry. */
  listenHost?: string;
}

/** The host name of a Host header, without the port (and without the brackets of an IPv6 address). */
function hostName(header: string): string {
  const m = /^\[([^\]]*)\](?::\d*)?$/.exec(header) ?? /^([^:]*)(?::\d*)?$/.exec(header);
  return (m?.[1] ?? header).toLowerCase();
}

/** Whether a Host header names this listener rather than a domain that was made to point at it. */
export function listenerHost(header: string, listenHost: string | undefined): boolean {
  const name = hostName(header);
  return name === 'localhost' || isIP(name) !== 0 || (listenHost !== undefined && name === listenHost.toLowerCase());
}

const body = z.object({
  payloads: z
    .array(z.object({ metadata: z.record(z.string(), z.string()).nullish(), data: z.string().nullish() }), {
      message: 'expected { "payloads": [ { "metadata": {…}, "data": "…" } ] }',
    })
    .max(10_000, { message: 'at most 10,000 payloads at a time' }),
});

export function codecRouter(deps: CodecDeps): Router {
  const router = new Router({ prefix: '/codec' });
  const token = requireOperatorToken(deps.operatorApiToken);

  async function guard(ctx: Context, next: Next): Promise<void> {
    if (!deps.codec) {
      throw new ApiError(404, 'not_found', 'this API has no payload codec: nothing to decode');
    }
    if (deps.access === 'internal') {
      if (!listenerHost(ctx.get('host'), deps.listenHost)) {
        throw new ApiError(
          403,
          'forbidden',
          'reach the codec listener by IP address, localhost or the host in CODEC_LISTEN: it does not answer other names (DNS rebinding)',
        );
      }
      const origin = ctx.get('origin');
      if (origin && deps.origins.includes(origin)) {
        ctx.set('Access-Control-Allow-Origin', origin);
        ctx.set('Vary', 'Origin');
        ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
        ctx.set('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
        ctx.set('Access-Control-Allow-Credentials', 'true');
        ctx.set('Access-Control-Max-Age', '600');
      }
      if (ctx.method === 'OPTIONS') {
        ctx.status = 204;
        return;
      }
      await next();
      return;
    }
    if (ctx.method === 'OPTIONS')
      throw new ApiError(403, 'forbidden', 'the Temporal UI decodes through the codec listener (CODEC_LISTEN), not the public port');
    await token(ctx, next);
  }

  const handle = (direction: 'encode' | 'decode') => async (ctx: Context) => {
    // text/plain and form bodies are what another site's page may POST without asking (no preflight).
    if (!ctx.is('application/json'))
      throw new ApiError(415, 'unsupported_media_type', 'send the payloads as JSON (Content-Type: application/json)');
    const r = body.safeParse(await readJson(ctx, 4 * 1024 * 1024));
    if (!r.success) throw new ApiError(400, 'invalid_request', r.error.issues[0]?.message ?? 'invalid request');
    let payloads: Payload[];
    try {
      payloads = r.data.payloads.map((p) => JSONToPayload(p as JSONPayload));
    } catch {
      throw new ApiError(400, 'invalid_request', 'payload metadata and data must be base64');
    }
    const codec = deps.codec as PayloadCodec;
    let out: Payload[];
    if (direction === 'encode') out = await codec.encode(payloads);
    else {
      // One payload that does not decode (a retired key) must not hide the rest of a history. What
      // they expand to is bounded as a whole, not only each one (a body of small zlib bombs).
      out = [];
      let expanded = 0;
      for (const p of payloads) {
        let decoded: Payload;
        try {
          decoded = (await codec.decode([p]))[0] as Payload;
        } catch (err) {
          deps.logger.warn('a payload sent to /codec/decode does not decode; returned as it is', { error: (err as Error).message });
          decoded = p;
        }
        expanded += decoded.data?.length ?? 0;
        if (expanded > MAX_INFLATED_BYTES) {
          throw new ApiError(
            413,
            'payload_too_large',
            `these payloads expand beyond ${MAX_INFLATED_BYTES / 1024 / 1024} MiB together: send fewer at a time`,
          );
        }
        out.push(decoded);
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { payloads: out.map((p) => payloadToJSON(p)) };
  };

  router.options('/decode', guard);
  router.options('/encode', guard);
  router.post('/decode', guard, handle('decode'));
  router.post('/encode', guard, handle('encode'));
  return router;
}
