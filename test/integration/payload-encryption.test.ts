import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { describe, expect, inject, it } from 'vitest';
import { organizationWorkflowId } from '../../workflows/messages';
import { useEmulatorStack } from '../support/emulator-stack';
import { reconcileAndWait } from '../support/reconcile';
import { startStack } from '../support/stack';

/**
 * With PAYLOAD_ENCRYPTION_KEYS, what scimflow stores in Temporal (events with people's names and
 * e-mails, activity inputs and results, workflow state) is ciphertext; the API's /codec endpoint
 * decrypts it for the Temporal UI's origin or the operator token, and for nobody else.
 */

const UI = 'http://127.0.0.1:8233';
const env = useEmulatorStack({ webhooks: true, stack: { payloadKeys: [{ id: 'test-key', key: randomBytes(32) }], codecOrigins: [UI] } });

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
    const person = env.emulator.createUser(org.id, { email: 'grace.hopper.unique@example.com', givenName: 'Gracewashere', familyName: 'Hopper' });
    await env.emulator.settled(30_000);
    expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
    const row = await env.stack.database.db('directory_users').where({ organization_id: org.id, id: person.id }).first('email', 'given_name');
    expect(row).toEqual({ email: 'grace.hopper.unique@example.com', given_name: 'Gracewashere' });
    expect((await env.stack.workflows.status(org.id))?.applied).toBe(1);

    const history = await rawHistory(organizationWorkflowId(org.id));
    const decoded = Buffer.from(history).toString('utf8');
    // Payload data is base64 in the JSON: look for the plain text in every payload's decoded bytes too.
    const payloadTexts = [...history.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1] as string, 'base64').toString('utf8'));
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
      const res = await fetch(`${keyless.baseUrl}/api/organizations/${org.id}/sync`, { headers: { authorization: `Bearer ${keyless.operatorToken}` } });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'misconfigured', message: expect.stringMatching(/encrypted, and this process has no key: set PAYLOAD_ENCRYPTION_KEYS/) });
    } finally {
      await keyless.stop();
    }
  });
});

describe('/codec for the Temporal UI', () => {
  const codecCall = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${env.stack.baseUrl}/codec/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('encodes and decodes for the UI origin and the operator token only', async () => {
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"email":"ada@example.com"}').toString('base64') };
    const encoded = await codecCall('encode', { payloads: [plain] }, { authorization: `Bearer ${env.stack.operatorToken}` });
    expect(encoded.status).toBe(200);
    const sealed = ((await encoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    expect(Buffer.from(sealed[0]!.data, 'base64').toString()).not.toContain('ada@example.com');

    const viaUi = await codecCall('decode', { payloads: sealed }, { origin: UI });
    expect(viaUi.status).toBe(200);
    expect(viaUi.headers.get('access-control-allow-origin')).toBe(UI);
    expect(viaUi.headers.get('cache-control')).toBe('no-store');
    expect(await viaUi.json()).toEqual({ payloads: [plain] });

    const preflight = await fetch(`${env.stack.baseUrl}/codec/decode`, { method: 'OPTIONS', headers: { origin: UI, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');

    const strangers: Record<string, string>[] = [{}, { origin: 'https://evil.example' }, { authorization: 'Bearer wrong-token-0123456789' }];
    for (const headers of strangers) {
      const refused = await codecCall('decode', { payloads: sealed }, headers);
      expect(refused.status).toBe(403);
      expect(await refused.text()).not.toContain('ada@example.com');
    }
    const evilPreflight = await fetch(`${env.stack.baseUrl}/codec/decode`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(evilPreflight.status).toBe(403);
    expect(evilPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers bad input with the reason', async () => {
    const auth = { authorization: `Bearer ${env.stack.operatorToken}` };
    const bad = async (body: unknown, status: number, message: RegExp) => {
      const res = await fetch(`${env.stack.baseUrl}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      expect(res.status).toBe(status);
      expect(((await res.json()) as { message: string }).message).toMatch(message);
    };
    await bad('{"payloads": [', 400, /not valid JSON/);
    await bad({ items: [] }, 400, /expected \{ "payloads"/);
    const forged = { metadata: { encoding: Buffer.from('binary/encrypted').toString('base64'), 'encryption-key-id': Buffer.from('test-key').toString('base64') }, data: randomBytes(64).toString('base64') };
    await bad({ payloads: [forged] }, 422, /does not decrypt/);
    const otherKey = { ...forged, metadata: { ...forged.metadata, 'encryption-key-id': Buffer.from('gone').toString('base64') } };
    await bad({ payloads: [otherKey] }, 422, /key "gone", which is not among PAYLOAD_ENCRYPTION_KEYS/);
  });

  it('is not there when payloads are not encrypted', async () => {
    const plainStack = await startStack({ startWorker: false });
    try {
      const res = await fetch(`${plainStack.baseUrl}/codec/decode`, { method: 'POST', headers: { authorization: `Bearer ${plainStack.operatorToken}` }, body: '{"payloads":[]}' });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { message: string }).message).toMatch(/PAYLOAD_ENCRYPTION_KEYS is not set/);
    } finally {
      await plainStack.stop();
    }
  });
});
