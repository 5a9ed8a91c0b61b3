import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON, JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import { describe, expect, inject, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { request, type Server } from 'node:http';
import { createCodecApp } from '../../api/app';
import { memoryLogger } from '../../observability/logger';
import { CompressionCodec, dataConverter, EncryptionCodec } from '../../temporal/codec';
import { describeSchedules, ensureSchedules } from '../../temporal/schedules';
import { organizationWorkflowId, scheduleId } from '../../workflows/messages';
import { useEmulatorStack } from '../support/emulator-stack';
import { reconcileAndWait } from '../support/reconcile';
import { eventually, startStack } from '../support/stack';
import { deflateSync } from 'node:zlib';
import proto from '@temporalio/proto';

/**
 * With PAYLOAD_ENCRYPTION_KEYS, what scimflow stores in Temporal (events with people's names and
 * e-mails, activity inputs and results, workflow state) is ciphertext; the API's /codec endpoint
 * decrypts it for the Temporal UI's origin or the operator token, and for nobody else.
 */

const UI = 'http://127.0.0.1:8233';
const key = { id: 'test-key', key: randomBytes(32) };
const env = useEmulatorStack({ webhooks: true, stack: { payloadKeys: [key] } });

async function rawHistory(workflowId: string): Promise<string> {
  // A client without the key: what Temporal itself holds.
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  try {
    return historyToJSON(await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory());
  } finally {
    await connection.close();
  }
}

describe('payloads in Temporal', () => {
  it('holds no name or e-mail in Temporal, while scimflow works as usual', async () => {
    const org = env.emulator.createOrganization({ displayName: 'Encrypted Inc' }, { emit: false });
    const person = env.emulator.createUser(org.id, {
      email: 'grace.hopper.unique@example.com',
      givenName: 'Gracewashere',
      familyName: 'Hopper',
    });
    await env.emulator.settled(30_000);
    expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
    const row = await env.stack.database
      .db('directory_users')
      .where({ organization_id: org.id, id: person.id })
      .first('email', 'given_name');
    expect(row).toEqual({ email: 'grace.hopper.unique@example.com', given_name: 'Gracewashere' });
    expect((await env.stack.workflows.status(org.id))?.applied).toBe(1);

    const history = await rawHistory(organizationWorkflowId(org.id));
    const decoded = Buffer.from(history).toString('utf8');
    // Payload data is base64 in the JSON: look for the plain text in every payload's decoded bytes too.
    const payloadTexts = [...history.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) =>
      Buffer.from(m[1] as string, 'base64').toString('utf8'),
    );
    expect(payloadTexts.length).toBeGreaterThan(5);
    for (const t of [decoded, ...payloadTexts]) {
      expect(t).not.toContain('grace.hopper.unique');
      expect(t).not.toContain('Gracewashere');
    }
    expect(history).toContain(Buffer.from('binary/encrypted').toString('base64'));
    // The organization id stays searchable (a search attribute, not a payload).
    expect(history).toContain('ScimOrgId');

    // An API without the key says what is wrong instead of "Temporal did not answer".
    const keyless = await startStack({ startWorker: false });
    try {
      await keyless.database.db('organizations').insert({ id: org.id }).onConflict('id').ignore();
      const res = await fetch(`${keyless.baseUrl}/api/organizations/${org.id}/sync`, {
        headers: { authorization: `Bearer ${keyless.operatorToken}` },
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({
        error: 'misconfigured',
        message: expect.stringMatching(/encrypted, and this process has no key: set PAYLOAD_ENCRYPTION_KEYS/),
      });
    } finally {
      await keyless.stop();
    }
  });
});

describe('key rotation', () => {
  it('re-saving the schedules (scimflow orgs add) re-encrypts them with the new key, so the old one can go', async () => {
    const org = env.emulator.seedDemo();
    expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
    await eventually(async () => (await describeSchedules(env.stack.client, org.id)).every((sc) => sc.exists));
    const next = { id: 'next-key', key: randomBytes(32) };
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const onlyNext = new Client({ connection, dataConverter: dataConverter({ payloadKeys: [next] }) });
      // The schedules' workflow arguments are still sealed with the old key.
      await expect(onlyNext.schedule.getHandle(scheduleId(org.id, 'full')).describe()).rejects.toThrow(
        /key "test-key", which is not among/,
      );
      const both = new Client({ connection, dataConverter: dataConverter({ payloadKeys: [next, key] }) });
      expect(await ensureSchedules(both, org.id, { taskQueue: env.stack.taskQueue, fullInterval: '6h', deltaInterval: '1h' })).toEqual([]);
      for (const kind of ['full', 'delta'] as const) {
        const d = await onlyNext.schedule.getHandle(scheduleId(org.id, kind)).describe();
        expect(d.action.type === 'startWorkflow' ? d.action.args : null).toEqual([{ organizationId: org.id, kind }]);
      }
    } finally {
      await connection.close();
    }
  });
});

describe('/codec', () => {
  const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/codec/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const plain = {
    metadata: { encoding: Buffer.from('json/plain').toString('base64') },
    data: Buffer.from('{"email":"ada@example.com"}').toString('base64'),
  };
  const auth = () => ({ authorization: `Bearer ${env.stack.operatorToken}` });

  it('on the public port: encodes and decodes for the operator token only; an Origin header is no credential', async () => {
    const encoded = await post(env.stack.baseUrl, 'encode', { payloads: [plain] }, auth());
    expect(encoded.status).toBe(200);
    const sealed = ((await encoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    expect(Buffer.from(sealed[0]!.data, 'base64').toString()).not.toContain('ada@example.com');
    const decoded = await post(env.stack.baseUrl, 'decode', { payloads: sealed }, auth());
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('cache-control')).toBe('no-store');
    expect(await decoded.json()).toEqual({ payloads: [plain] });

    const strangers: Record<string, string>[] = [{}, { origin: UI }, { authorization: 'Bearer wrong-token-0123456789' }];
    for (const headers of strangers) {
      const refused = await post(env.stack.baseUrl, 'decode', { payloads: sealed }, headers);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(await refused.text()).not.toContain('ada@example.com');
    }
    const preflight = await fetch(`${env.stack.baseUrl}/codec/decode`, { method: 'OPTIONS', headers: { origin: UI } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('on the codec listener (CODEC_LISTEN): CORS for the Temporal UI origin, for it to decode in the browser', async () => {
    const app = createCodecApp({ codec: new EncryptionCodec([key]), origins: [UI], listenHost: '127.0.0.1', logger: memoryLogger() });
    const server = await new Promise<Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const sealed = ((await (await post(env.stack.baseUrl, 'encode', { payloads: [plain] }, auth())).json()) as { payloads: unknown[] })
        .payloads;
      const preflight = await fetch(`${base}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin: UI, 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
      expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
      const viaUi = await post(base, 'decode', { payloads: sealed }, { origin: UI, 'x-namespace': 'default' });
      expect(viaUi.status).toBe(200);
      expect(viaUi.headers.get('access-control-allow-origin')).toBe(UI);
      expect(await viaUi.json()).toEqual({ payloads: [plain] });
      // Another page's script gets no CORS headers, so the browser keeps the answer from it.
      const other = await post(base, 'decode', { payloads: sealed }, { origin: 'https://evil.example' });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('on the codec listener: only for its own host names (DNS rebinding) and only JSON (no cross-site simple request)', async () => {
    const app = createCodecApp({ codec: new EncryptionCodec([key]), origins: [UI], listenHost: 'codec.internal', logger: memoryLogger() });
    const server = await new Promise<Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    const port = (server.address() as AddressInfo).port;
    const sealed = JSON.stringify({
      payloads: ((await (await post(env.stack.baseUrl, 'encode', { payloads: [plain] }, auth())).json()) as { payloads: unknown[] })
        .payloads,
    });
    /** A request as a browser sends it, Host header included (fetch does not let a script choose it). */
    const send = (host: string, contentType: string, method = 'POST') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/codec/decode', method, headers: { host, 'content-type': contentType, origin: UI } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end(method === 'POST' ? sealed : undefined);
      });
    try {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'codec.internal:8234', `[::1]:${port}`, '10.1.2.3']) {
        const ok = await send(host, 'application/json');
        expect(ok.status, host).toBe(200);
        expect(JSON.parse(ok.body)).toEqual({ payloads: [plain] });
      }
      // A page at evil.example whose name now points at this listener sends its own name.
      for (const host of [`evil.example:${port}`, 'evil.example', 'codec.internal.evil.example']) {
        const rebound = await send(host, 'application/json');
        expect(rebound.status, host).toBe(403);
        expect(rebound.body).not.toContain('ada@example.com');
        expect((await send(host, 'application/json', 'OPTIONS')).status, host).toBe(403);
      }
      // A form or text/plain POST needs no CORS preflight, so any page could send one.
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const simple = await send(`127.0.0.1:${port}`, contentType);
        expect(simple.status, contentType).toBe(415);
        expect(simple.body).not.toContain('ada@example.com');
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('answers bad input with the reason, and returns a payload that does not decrypt as it is', async () => {
    const bad = async (body: unknown, status: number, message: RegExp) => {
      const res = await post(env.stack.baseUrl, 'decode', body, auth());
      expect(res.status).toBe(status);
      expect(((await res.json()) as { message: string }).message).toMatch(message);
    };
    await bad('{"payloads": [', 400, /not valid JSON/);
    await bad({ items: [] }, 400, /expected \{ "payloads"/);
    await bad({ payloads: [{ metadata: { encoding: '%%%' }, data: '!!' }] }, 400, /must be base64/);
    const forged = {
      metadata: {
        encoding: Buffer.from('binary/encrypted').toString('base64'),
        'encryption-key-id': Buffer.from('test-key').toString('base64'),
      },
      data: randomBytes(64).toString('base64'),
    };
    // One payload of a history that does not decrypt (a retired key) does not hide the others.
    const mixed = await post(env.stack.baseUrl, 'decode', { payloads: [forged, plain] }, auth());
    expect(mixed.status).toBe(200);
    expect(await mixed.json()).toEqual({ payloads: [forged, plain] });
  });

  it('refuses payloads that expand beyond 64 MiB together (small zlib bombs), and answers the next request', async () => {
    // Each about 8 KiB compressed, 8 MiB decoded: ten of them are 80 MiB.
    const inner = proto.temporal.api.common.v1.Payload.encode({
      metadata: { encoding: Buffer.from('binary/plain') },
      data: Buffer.alloc(8 * 1024 * 1024),
    }).finish();
    const bomb = { metadata: { encoding: Buffer.from('binary/zlib').toString('base64') }, data: deflateSync(inner).toString('base64') };
    expect(bomb.data.length).toBeLessThan(64 * 1024);
    const refused = await post(env.stack.baseUrl, 'decode', { payloads: Array.from({ length: 10 }, () => bomb) }, auth());
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { message: string }).message).toMatch(/expand beyond 64 MiB together: send fewer at a time/);
    const one = await post(env.stack.baseUrl, 'decode', { payloads: [bomb] }, auth());
    expect(one.status).toBe(200);
    const [decoded] = ((await one.json()) as { payloads: { data: string }[] }).payloads;
    expect(Buffer.from(decoded!.data, 'base64').length).toBe(8 * 1024 * 1024);
  });

  it('with compression turned off, encodes as it is and still decodes what was compressed before', async () => {
    const offStack = await startStack({ startWorker: false, payloadCompression: 'off' });
    try {
      const big = {
        metadata: { encoding: Buffer.from('json/plain').toString('base64') },
        data: Buffer.from(JSON.stringify({ records: Array.from({ length: 500 }, (_, i) => ({ email: `p${i}@example.com` })) })).toString(
          'base64',
        ),
      };
      const headers = { authorization: `Bearer ${offStack.operatorToken}` };
      const encoded = await post(offStack.baseUrl, 'encode', { payloads: [big] }, headers);
      expect(encoded.status).toBe(200);
      expect(await encoded.json()).toEqual({ payloads: [big] });
      const [compressed] = await new CompressionCodec().encode([JSONToPayload(big)]);
      expect(Buffer.from(compressed!.metadata!.encoding!).toString()).toBe('binary/zlib');
      const decoded = await post(offStack.baseUrl, 'decode', { payloads: [payloadToJSON(compressed!)] }, headers);
      expect(decoded.status).toBe(200);
      expect(await decoded.json()).toEqual({ payloads: [big] });
    } finally {
      await offStack.stop();
    }
  });
});
