import type { Context } from 'koa';
import { ApiError } from './errors';

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

/**
 * Reads the request body as raw bytes, refusing (413) anything over the limit without buffering
 * it. Signatures are checked over exactly these bytes.
 */
export async function readRawBody(ctx: Context, limit = MAX_WEBHOOK_BYTES): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || NaN);
  if (Number.isFinite(declared) && declared > limit) {
    ctx.req.resume();
    throw new ApiError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, { Connection: 'close' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      ctx.req.resume();
      throw new ApiError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, { Connection: 'close' });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}
