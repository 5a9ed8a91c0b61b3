import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks verification (what Scalekit signs with), over the exact raw bytes received.
 * Several secrets may be configured during a rotation: any one verifying is enough. Every
 * `v1,` entry of the signature header is tried, whatever its length.
 */

export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type VerificationFailure = 'missing_headers' | 'invalid_timestamp' | 'timestamp_too_old' | 'timestamp_too_new' | 'invalid_signature';

export type VerificationResult =
  { ok: true; webhookId: string; timestamp: number } | { ok: false; reason: VerificationFailure; message: string };

/** Lower-case header names, as Node presents them. */
export type WebhookHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Decodes `whsec_<base64>` into the HMAC key. Throws on a malformed secret (a configuration error). */
export function decodeSecret(secret: string): Buffer {
  const underscore = secret.indexOf('_');
  const encoded = secret.startsWith('whsec_') ? secret.slice(underscore + 1) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('webhook secret is empty after base64 decoding');
  return key;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export class WebhookVerifier {
  private readonly keys: Buffer[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('at least one webhook secret is required');
    this.keys = secrets.map(decodeSecret);
  }

  verify(headers: WebhookHeaders, rawBody: Buffer, nowSeconds = Math.floor(Date.now() / 1000)): VerificationResult {
    const id = single(headers['webhook-id']);
    const ts = single(headers['webhook-timestamp']);
    const sig = single(headers['webhook-signature']);
    if (!id || !ts || !sig) {
      const missing = [!id && 'webhook-id', !ts && 'webhook-timestamp', !sig && 'webhook-signature'].filter(Boolean);
      return { ok: false, reason: 'missing_headers', message: `missing required header(s): ${missing.join(', ')}` };
    }
    if (!/^\d{1,12}$/.test(ts)) {
      return { ok: false, reason: 'invalid_timestamp', message: 'webhook-timestamp must be Unix seconds' };
    }
    const timestamp = Number(ts);
    if (nowSeconds - timestamp > SIGNATURE_TOLERANCE_SECONDS) {
      return {
        ok: false,
        reason: 'timestamp_too_old',
        message: `webhook-timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s in the past`,
      };
    }
    if (timestamp - nowSeconds > SIGNATURE_TOLERANCE_SECONDS) {
      return {
        ok: false,
        reason: 'timestamp_too_new',
        message: `webhook-timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s in the future`,
      };
    }
    const candidates: Buffer[] = [];
    for (const entry of sig.split(' ')) {
      const comma = entry.indexOf(',');
      if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
      candidates.push(Buffer.from(entry.slice(comma + 1), 'base64'));
    }
    const prefix = Buffer.from(`${id}.${ts}.`, 'utf8');
    for (const key of this.keys) {
      const expected = createHmac('sha256', key).update(prefix).update(rawBody).digest();
      for (const candidate of candidates) {
        if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
          return { ok: true, webhookId: id, timestamp };
        }
      }
    }
    return { ok: false, reason: 'invalid_signature', message: 'no webhook-signature entry matches a configured secret' };
  }
}
