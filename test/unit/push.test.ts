import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { pushHeaders, signPush } from '../../activities/push';
import { classifyPushStatus, pushWebhookId } from '../../domain/push';

describe('classifyPushStatus', () => {
  it('2xx delivers', () => {
    for (const s of [200, 201, 202, 204, 299]) expect(classifyPushStatus(s)).toBe('delivered');
  });

  it('5xx, 408 and 429 are tried again', () => {
    for (const s of [500, 502, 503, 504, 599, 408, 429]) expect(classifyPushStatus(s)).toBe('retry');
  });

  it('any other answer refuses the batch for good', () => {
    for (const s of [422, 400, 401, 403, 404, 409, 410, 413, 301, 302, 100]) expect(classifyPushStatus(s)).toBe('rejected');
  });
});

describe('signing', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;

  it('signs what the standardwebhooks package verifies', () => {
    const body = JSON.stringify({ organizationId: 'org_1', records: [{ id: '1', sequence: 1 }] });
    const ts = Math.floor(Date.now() / 1000);
    const headers = pushHeaders(secret, 'org_1:1-1', ts, body);
    expect(headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': 'org_1:1-1', 'webhook-timestamp': String(ts) });
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('a signature is for its id, time, body and key only', () => {
    const ts = Math.floor(Date.now() / 1000);
    const sig = signPush(secret, 'a', ts, '{}');
    expect(sig).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(signPush(secret, 'b', ts, '{}')).not.toBe(sig);
    expect(signPush(secret, 'a', ts + 1, '{}')).not.toBe(sig);
    expect(signPush(secret, 'a', ts, '{ }')).not.toBe(sig);
    expect(signPush(`whsec_${randomBytes(32).toString('base64')}`, 'a', ts, '{}')).not.toBe(sig);
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(() => new Webhook(other).verify('{}', pushHeaders(secret, 'a', ts, '{}'))).toThrow();
  });

  it('the webhook-id names the organization and the batch', () => {
    expect(pushWebhookId('org_1', 4, 6)).toBe('org_1:4-6');
  });
});
