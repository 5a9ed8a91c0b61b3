import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deliveryStatus } from '../../db/repositories/deliveries';
import { recordedThrough } from '../support/changes';
import { startAcme, type Acme } from '../support/acme';
import { eventually, expectActivityFailures, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * scimflow's signed HTTP push into Acme's own handler (`POST /scimflow/changes`, which verifies the
 * Standard Webhooks signature with APP_WEBHOOK_SECRET and applies each record once): a person's
 * provisioning, roles and deactivation take effect in Acme, once, even when a batch Acme committed
 * is answered 5xx (delivered again) and when the push channel is rewound (everything again).
 * Between them a pass-through proxy that can lose Acme's answer. Real Temporal, real Postgres, the
 * real Acme server.
 */

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Call {
  organizationId: string;
  webhookId: string;
  acmeStatus: number;
  acmeBody: { applied?: number; alreadyApplied?: number };
  answered: number;
}

/** Forwards each push to Acme as it came; for an organization in `loseAnswers`, answers 503 whatever Acme said. */
class Proxy {
  readonly calls: Call[] = [];
  readonly loseAnswers = new Map<string, number>();
  server!: Server;
  url = '';

  constructor(private readonly target: () => string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) {
          const v = req.headers[name];
          if (typeof v === 'string') headers[name] = v;
        }
        const upstream = await fetch(`${this.target()}${req.url ?? '/'}`, { method: req.method, headers, body });
        const text = await upstream.text();
        const organizationId = (JSON.parse(body.toString('utf8')) as { organizationId: string }).organizationId;
        const lose = this.loseAnswers.get(organizationId) ?? 0;
        if (lose > 0) this.loseAnswers.set(organizationId, lose - 1);
        const answered = lose > 0 ? 503 : upstream.status;
        this.calls.push({
          organizationId,
          webhookId: headers['webhook-id'] ?? '',
          acmeStatus: upstream.status,
          acmeBody: text ? (JSON.parse(text) as Call['acmeBody']) : {},
          answered,
        });
        res.writeHead(answered, { 'content-type': 'application/json' }).end(lose > 0 ? '{"error":"lost"}' : text);
      })().catch(() => res.writeHead(502).end());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/scimflow/changes`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  callsOf(org: string): Call[] {
    return this.calls.filter((c) => c.organizationId === org);
  }
}

let acme: Acme;
let stack: Stack;
const proxy = new Proxy(() => acme.baseUrl);

// The proxy answers 5xx on purpose.
expectActivityFailures('pushDirectoryChanges');

beforeAll(async () => {
  acme = await startAcme({ webhookSecrets: [SECRET], devLogin: true });
  await proxy.start();
  stack = await startStack({
    push: { url: proxy.url, secret: SECRET, settings: { batch: 50, maxAttempts: 5, maxRetryInterval: '1 second', idleCheck: '3 seconds' } },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await proxy.stop();
  await acme?.stop();
});

let clock = 0;
async function send(type: string, org: string, data: Record<string, unknown>): Promise<void> {
  expect((await stack.deliver(envelope(type, org, data, nanoTime(++clock)))).status).toBe(202);
}

const pushed = (org: string) => deliveryStatus(stack.database.db, org, 'webhook');

it('provisions, changes the roles of and deactivates a person in Acme through its push handler, once, though batches come twice', async () => {
  const org = `org_${randomBytes(6).toString('hex')}`;
  const eng = { id: `dirgroup_eng_${randomBytes(3).toString('hex')}`, name: 'Engineering' };
  const admins = { id: `dirgroup_adm_${randomBytes(3).toString('hex')}`, name: 'Administrators' };
  const person = {
    id: `diruser_${randomBytes(4).toString('hex')}`,
    email: `ada.${org}@example.com`,
    given_name: 'Ada',
    family_name: 'Lovelace',
  };

  // Held back until all is recorded, so the first push is one batch.
  await stack.pushDeliveries.pause(org, 'one batch');
  await send(T.groupCreated, org, { id: eng.id, display_name: eng.name });
  await send(T.groupCreated, org, { id: admins.id, display_name: admins.name });
  await eventually(async () => (await recordedThrough(stack.database.db, org)) >= 2);
  for (const [group, role] of [
    [eng, 'engineer'],
    [admins, 'admin'],
  ] as const) {
    await stack.workflows.changeRoles(org, {
      change: { action: 'map', groupId: group.id, role, precedence: role === 'admin' ? 10 : 20 },
      dryRun: false,
    });
  }
  await send(T.userCreated, org, { ...person, active: true, groups: [eng, admins] });
  await eventually(
    async () => (await stack.database.db('directory_users').where({ organization_id: org, id: person.id }).first()) !== undefined,
  );
  const firstBatch = await recordedThrough(stack.database.db, org);

  // Acme commits the batch, but its answer is lost: scimflow delivers it again; Acme applies nothing twice.
  proxy.loseAnswers.set(org, 1);
  await stack.pushDeliveries.resume(org);
  await eventually(async () => (await pushed(org)).deliveredSequence === firstBatch);
  const [lost, again, ...more] = proxy.callsOf(org);
  expect(more).toEqual([]);
  expect(lost).toMatchObject({ webhookId: `${org}:1-${firstBatch}`, acmeStatus: 200, answered: 503 });
  expect(lost!.acmeBody.applied).toBeGreaterThan(0);
  expect(again).toMatchObject({
    webhookId: lost!.webhookId,
    acmeStatus: 200,
    answered: 200,
    acmeBody: { applied: 0, alreadyApplied: (lost!.acmeBody.applied ?? 0) + (lost!.acmeBody.alreadyApplied ?? 0) },
  });
  expect(await acme.db('users').where({ organization_id: org }).count<{ count: string }[]>('* as count')).toEqual([{ count: '1' }]);

  const token = await acme.tokenFor(org, person.id);
  const me = await acme.call('GET', '/me', token);
  expect(me).toMatchObject({ status: 200, body: { email: person.email, organizationId: org } });
  // Of the mapped groups, the lowest precedence wins: Administrators.
  expect(me.body.roles).toEqual(['admin']);
  expect((await acme.call('GET', '/billing', token)).status).toBe(200);

  // Out of Administrators: Engineering's role, Acme's member.
  await send(T.userUpdated, org, { ...person, active: true, groups: [eng] });
  await eventually(async () => ((await acme.call('GET', '/billing', token)).status === 403 ? true : undefined));
  expect((await acme.call('GET', '/me', token)).body.roles).toEqual(['member']);

  // Deleted in the directory: deactivated in Acme, its token revoked.
  await send(T.userDeleted, org, { id: person.id, email: person.email });
  await eventually(async () => ((await acme.call('GET', '/me', token)).status === 401 ? true : undefined));
  const through = await recordedThrough(stack.database.db, org);
  await eventually(async () => (await pushed(org)).deliveredSequence === through);
  const before = await acme.db('users').where({ organization_id: org }).select('*');
  expect(before).toMatchObject([{ active: false }]);

  // The push channel rewound to its start: every record again, none applied twice.
  const callsBefore = proxy.callsOf(org).length;
  expect(await stack.pushDeliveries.rewind(org, { toSequence: 1, dryRun: false })).toMatchObject({ fromSequence: 1, records: through });
  await eventually(async () => {
    const replayed = proxy.callsOf(org).slice(callsBefore);
    return replayed.reduce((n, c) => n + (c.acmeBody.applied ?? 0) + (c.acmeBody.alreadyApplied ?? 0), 0) === through;
  });
  const replayed = proxy.callsOf(org).slice(callsBefore);
  expect(replayed.every((c) => c.acmeStatus === 200 && c.acmeBody.applied === 0)).toBe(true);
  await eventually(async () => (await pushed(org)).deliveredSequence === through);
  expect(await acme.db('users').where({ organization_id: org }).select('*')).toEqual(before);
  expect((await acme.call('GET', '/me', token)).status).toBe(401);
  expect(await acme.call('POST', '/dev/tokens', undefined, { email: person.email })).toMatchObject({ status: 404 });
}, 180_000);
