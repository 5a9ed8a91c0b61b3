import { createHmac, randomBytes } from 'node:crypto';
import { ScalekitClient, WebhookVerificationError } from '@scalekit-sdk/node';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { decodeSecret, SIGNATURE_TOLERANCE_SECONDS, WebhookVerifier } from '../../scalekit/webhook';
import type { VerificationResult } from '../../scalekit/webhook';

// Signatures come from `standardwebhooks`, an implementation independent of the code under test.

const secret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z, injected as "now"

const BODY = JSON.stringify({
  spec_version: '1',
  id: 'evt_53891546994442316',
  type: 'organization.directory.user_created',
  occurred_at: '2025-01-06T18:44:25.153954Z',
  organization_id: 'org_53879494091473415',
  data: { id: 'diruser_53891546960887884', email: 'flavio@example.com', given_name: 'Zoë' },
});

function sign(key: string, body: string | Buffer, options: { id?: string; ts?: number } = {}): Record<string, string> {
  const id = options.id ?? 'msg_2aV0yBq6vK2k9Qn1';
  const ts = options.ts ?? NOW;
  return {
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': new Webhook(key).sign(id, new Date(ts * 1000), body),
  };
}

function verify(
  secrets: string[],
  headers: Record<string, string | string[] | undefined>,
  body: string | Buffer,
  now = NOW,
): VerificationResult {
  return new WebhookVerifier(secrets).verify(headers, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), now);
}

function failure(result: VerificationResult): string {
  if (result.ok) throw new Error('expected verification to fail');
  return result.reason;
}

describe('WebhookVerifier', () => {
  it('accepts a valid signature and reports the webhook id and timestamp', () => {
    const s = secret();
    const result = verify([s], sign(s, BODY, { id: 'msg_abc' }), BODY);
    expect(result).toEqual({ ok: true, webhookId: 'msg_abc', timestamp: NOW });
  });

  it('rejects a signature made with another secret', () => {
    const result = verify([secret()], sign(secret(), BODY), BODY);
    expect(failure(result)).toBe('invalid_signature');
  });

  it('accepts any one of several configured secrets (rotation)', () => {
    const oldSecret = secret();
    const newSecret = secret();
    const other = secret();
    expect(verify([oldSecret, newSecret], sign(oldSecret, BODY), BODY).ok).toBe(true);
    expect(verify([oldSecret, newSecret], sign(newSecret, BODY), BODY).ok).toBe(true);
    expect(failure(verify([oldSecret, newSecret], sign(other, BODY), BODY))).toBe('invalid_signature');
  });

  it('tries every v1 entry: the valid one second, after one of a different length', () => {
    const s = secret();
    const headers = sign(s, BODY);
    const shortSig = `v1,${randomBytes(16).toString('base64')}`;
    headers['webhook-signature'] = `${shortSig} ${headers['webhook-signature']}`;
    expect(verify([s], headers, BODY).ok).toBe(true);
  });

  it('tries every v1 entry: the valid one after a wrong one of the same length', () => {
    const s = secret();
    const headers = sign(s, BODY);
    headers['webhook-signature'] = `v1,${randomBytes(32).toString('base64')} ${headers['webhook-signature']}`;
    expect(verify([s], headers, BODY).ok).toBe(true);
  });

  it('ignores entries that are not v1, even if their bytes are the valid signature', () => {
    const s = secret();
    const headers = sign(s, BODY);
    const v1 = headers['webhook-signature'] ?? '';
    headers['webhook-signature'] = v1.replace(/^v1,/, 'v2,');
    expect(failure(verify([s], headers, BODY))).toBe('invalid_signature');
    // And a v2 entry before a valid v1 entry does not get in the way.
    headers['webhook-signature'] = `v2,${randomBytes(7).toString('base64')} ${v1}`;
    expect(verify([s], headers, BODY).ok).toBe(true);
  });

  it('rejects a signature header without any v1 entry', () => {
    const s = secret();
    const headers = sign(s, BODY);
    headers['webhook-signature'] = (headers['webhook-signature'] ?? '').replace(/^v1,/, '');
    expect(failure(verify([s], headers, BODY))).toBe('invalid_signature');
  });

  it('rejects a tampered body', () => {
    const s = secret();
    const headers = sign(s, BODY);
    const tampered = BODY.replace('flavio@example.com', 'mallory@example.com');
    expect(failure(verify([s], headers, tampered))).toBe('invalid_signature');
  });

  it('rejects a tampered webhook-id (it is part of the signed content)', () => {
    const s = secret();
    const headers = sign(s, BODY, { id: 'msg_1' });
    headers['webhook-id'] = 'msg_2';
    expect(failure(verify([s], headers, BODY))).toBe('invalid_signature');
  });

  it('rejects a shifted timestamp (it is part of the signed content)', () => {
    const s = secret();
    const headers = sign(s, BODY, { ts: NOW });
    headers['webhook-timestamp'] = String(NOW + 1);
    expect(failure(verify([s], headers, BODY))).toBe('invalid_signature');
  });

  it('verifies the exact bytes: a re-serialized body fails, the original bytes pass', () => {
    const s = secret();
    const sent = JSON.stringify(JSON.parse(BODY), null, 2); // what the sender put on the wire
    const headers = sign(s, sent);
    const reserialized = JSON.stringify(JSON.parse(sent)); // same JSON value, other bytes
    expect(reserialized).not.toBe(sent);
    expect(failure(verify([s], headers, reserialized))).toBe('invalid_signature');
    expect(verify([s], headers, sent).ok).toBe(true);
    expect(verify([s], headers, Buffer.from(sent, 'utf8')).ok).toBe(true);
  });

  it('verifies raw bytes that are not valid UTF-8 without decoding them', () => {
    // standardwebhooks decodes a Buffer as UTF-8 before signing, so sign these bytes by hand.
    const s = secret();
    const key = Buffer.from(s.slice('whsec_'.length), 'base64');
    const raw = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]); // "{", two invalid bytes, "}"
    const mac = createHmac('sha256', key)
      .update(Buffer.from(`msg_raw.${NOW}.`))
      .update(raw)
      .digest('base64');
    const headers = { 'webhook-id': 'msg_raw', 'webhook-timestamp': String(NOW), 'webhook-signature': `v1,${mac}` };
    expect(verify([s], headers, raw).ok).toBe(true);
    // Decoding to a string and back replaces the invalid bytes and must not verify.
    expect(failure(verify([s], headers, Buffer.from(raw.toString('utf8'), 'utf8')))).toBe('invalid_signature');
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('reports a missing %s by name', (name) => {
    const s = secret();
    const headers: Record<string, string | undefined> = sign(s, BODY);
    delete headers[name];
    const result = verify([s], headers, BODY);
    expect(failure(result)).toBe('missing_headers');
    expect(!result.ok && result.message).toContain(name);
  });

  it('treats empty header values as missing', () => {
    const s = secret();
    const headers = sign(s, BODY);
    headers['webhook-signature'] = '';
    expect(failure(verify([s], headers, BODY))).toBe('missing_headers');
  });

  it('reads lower-case header names only (as Node presents them)', () => {
    const s = secret();
    const h = sign(s, BODY);
    const upper = {
      'Webhook-Id': h['webhook-id'],
      'Webhook-Timestamp': h['webhook-timestamp'],
      'Webhook-Signature': h['webhook-signature'],
    };
    expect(failure(verify([s], upper, BODY))).toBe('missing_headers');
  });

  it('uses the first value of a repeated header', () => {
    const s = secret();
    const h = sign(s, BODY);
    const headers = { ...h, 'webhook-signature': [h['webhook-signature'] ?? '', 'v1,bogus'] };
    expect(verify([s], headers, BODY).ok).toBe(true);
  });

  it('has a 300 s tolerance', () => {
    expect(SIGNATURE_TOLERANCE_SECONDS).toBe(300);
  });

  it.each([
    ['301 s old', -301, 'timestamp_too_old'],
    ['301 s in the future', 301, 'timestamp_too_new'],
    ['a day old', -86_400, 'timestamp_too_old'],
  ])('rejects a timestamp %s', (_label, offset, reason) => {
    const s = secret();
    const headers = sign(s, BODY, { ts: NOW + offset });
    expect(failure(verify([s], headers, BODY, NOW))).toBe(reason);
  });

  it.each([
    ['299 s old', -299],
    ['299 s in the future', 299],
    ['exactly 300 s old', -300],
    ['exactly 300 s in the future', 300],
  ])('accepts a timestamp %s', (_label, offset) => {
    const s = secret();
    const headers = sign(s, BODY, { ts: NOW + offset });
    expect(verify([s], headers, BODY, NOW).ok).toBe(true);
  });

  it('checks freshness before the signature (a stale replay of a valid delivery is refused)', () => {
    const s = secret();
    const headers = sign(s, BODY, { ts: NOW });
    expect(verify([s], headers, BODY, NOW).ok).toBe(true);
    expect(failure(verify([s], headers, BODY, NOW + 301))).toBe('timestamp_too_old');
  });

  it.each(['abc', '1767225600.5', '-1767225600', '1e9', '', ' 1767225600', '1767225600000000'])(
    'rejects a non-numeric or malformed timestamp %j',
    (ts) => {
      const s = secret();
      const headers = sign(s, BODY);
      headers['webhook-timestamp'] = ts;
      expect(failure(verify([s], headers, BODY))).toBe(ts === '' ? 'missing_headers' : 'invalid_timestamp');
    },
  );

  it('needs at least one secret', () => {
    expect(() => new WebhookVerifier([])).toThrow(/at least one/);
  });
});

describe('decodeSecret', () => {
  it('decodes the base64 after whsec_', () => {
    const key = randomBytes(24);
    expect(decodeSecret(`whsec_${key.toString('base64')}`).equals(key)).toBe(true);
  });

  it('rejects a secret that decodes to nothing', () => {
    expect(() => decodeSecret('whsec_')).toThrow(/empty/);
  });
});

describe('cross-check with the Scalekit Node SDK', () => {
  // Constructing the client fetches nothing; verifyWebhookPayload is synchronous and local.
  const sdk = new ScalekitClient('https://example.scalekit.invalid', 'skc_test', 'test_secret');
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it('the SDK accepts what standardwebhooks signs, and so do we', () => {
    const s = secret();
    const ts = nowSeconds();
    const headers = sign(s, BODY, { ts });
    expect(sdk.verifyWebhookPayload(s, headers, BODY)).toBe(true);
    expect(verify([s], headers, BODY, ts).ok).toBe(true);
  });

  it('the SDK and we both reject a tampered body', () => {
    const s = secret();
    const ts = nowSeconds();
    const headers = sign(s, BODY, { ts });
    const tampered = `${BODY} `;
    expect(() => sdk.verifyWebhookPayload(s, headers, tampered)).toThrow(WebhookVerificationError);
    expect(failure(verify([s], headers, tampered, ts))).toBe('invalid_signature');
  });

  it('the SDK and we both reject a stale timestamp', () => {
    const s = secret();
    const ts = nowSeconds() - 400;
    const headers = sign(s, BODY, { ts });
    expect(() => sdk.verifyWebhookPayload(s, headers, BODY)).toThrow(/too old/);
    expect(failure(verify([s], headers, BODY, ts + 400))).toBe('timestamp_too_old');
  });

  it('where the SDK throws on a shorter candidate first, we still find the valid one', () => {
    const s = secret();
    const ts = nowSeconds();
    const headers = sign(s, BODY, { ts });
    headers['webhook-signature'] = `v1,${randomBytes(16).toString('base64')} ${headers['webhook-signature']}`;
    expect(() => sdk.verifyWebhookPayload(s, headers, BODY)).toThrow(WebhookVerificationError);
    expect(verify([s], headers, BODY, ts).ok).toBe(true);
  });
});
