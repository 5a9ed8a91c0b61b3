import type { Context } from 'koa';
import { ApiError } from './errors';

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

/** The error code of a request whose client went away before its body arrived in full. */
export const CLIENT_ABORTED = 'client_aborted';

/**
 * Reads the request body as raw bytes, refusing (413) anything over the limit without buffering
 * it. Signatures are checked over exactly these bytes. A client that closes the connection before
 * its body is complete gets a 400 `client_aborted` (which it never reads): its failure, not ours.
 */
export async function readRawBody(ctx: Context, limit = MAX_WEBHOOK_BYTES): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || NaN);
  if (Number.isFinite(declared) && declared > limit) {
    ctx.req.resume();
    throw new ApiError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, { Connection: 'close' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > limit) {
        ctx.req.resume();
        throw new ApiError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, { Connection: 'close' });
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // The only way reading a request fails: its connection closed or broke mid-body.
    throw new ApiError(400, CLIENT_ABORTED, 'the connection closed before the request body was complete');
  }
  return Buffer.concat(chunks, size);
}
