import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { freePort, portInUse } from '../../scripts/lib/ports';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { startDev, type DevProcess } from '../support/dev-process';
import { eventually } from '../support/stack';

/**
 * From the directory to the application, as the `npm run dev` banner walks through it: a person added
 * in the emulator's demo organization becomes an Acme user with the permissions of their groups,
 * Acme's endpoints allow what their level allows, leaving Administrators takes the admin endpoints
 * away, and deleting them in the directory revokes their token. Payloads are encrypted, so Acme's
 * worker reads its batches through scimflow's payload codec.
 */

let dev: DevProcess;
let database: TestDatabase;
const ports: Record<string, number> = {};
let acme: string;

beforeAll(async () => {
  database = await createTestDatabase();
  for (const name of ['PORT', 'TEMPORAL_DEV_PORT', 'TEMPORAL_UI_PORT', 'EMULATOR_PORT', 'ACME_PORT']) ports[name] = await freePort();
  acme = `http://127.0.0.1:${ports.ACME_PORT}`;
  dev = startDev(
    {
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      DATABASE_URL: database.url,
      // A developer's own .env must not point this test at a real Scalekit, Temporal or application.
      SCALEKIT_ENVIRONMENT_URL: '',
      SCALEKIT_CLIENT_ID: '',
      SCALEKIT_CLIENT_SECRET: '',
      SCALEKIT_WEBHOOK_SECRET: '',
      OPERATOR_API_TOKEN: '',
      TEMPORAL_ADDRESS: '',
      APP_TASK_QUEUE: '',
      ACME_DATABASE_URL: '',
      SCIMFLOW_DEV_APP: '',
      PAYLOAD_ENCRYPTION_KEYS: `dev-test:${randomBytes(32).toString('base64')}`,
    },
    mkdtempSync(join(inject('tmpRoot'), 'dev-app-')),
  );
  await dev.waitFor('Ctrl-C stops everything.', 180_000);
}, 240_000);

afterAll(async () => {
  await dev?.interrupt();
  await database?.drop();
});

async function call(
  method: string,
  url: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Each Acme endpoint and the status it answers this token. */
async function access(token: string): Promise<Record<string, number>> {
  return {
    me: (await call('GET', `${acme}/me`, token)).status,
    projects: (await call('GET', `${acme}/projects`, token)).status,
    members: (await call('GET', `${acme}/members`, token)).status,
    invite: (await call('POST', `${acme}/members/invite`, token, { email: 'someone.else@acme.example' })).status,
    billing: (await call('GET', `${acme}/billing`, token)).status,
  };
}

const WAIT = { timeoutMs: 120_000 };

it('prints the way through the chain, with quoted URLs', async () => {
  // Acme's worker reads the encrypted batches with scimflow's payload codec. It may start polling
  // after the banner on a busy machine: deliveries wait for it either way.
  await dev.waitFor(/\[acme-worker\] .*"message":"polling".*"taskQueue":"acme-app","payloadCodec":"on"/, 100_000);
  const out = dev.output();
  expect(out).toContain(`Application     Acme (examples/acme-app) at ${acme}, changes delivered to task queue acme-app`);
  expect(out).toContain(`ACME_TOKEN=$(curl -s -X POST '${acme}/dev/tokens'`);
  expect(out).toContain(`curl -s '${acme}/billing' -H "Authorization: Bearer $ACME_TOKEN"`);
  expect(out).toMatch(/curl -s -X DELETE 'http:\/\/127\.0\.0\.1:\d+\/_emulator\/organizations\/org_\w+\/users\/<diruser_…>'/);
}, 120_000);

it('a person added in the directory becomes an Acme user with the permissions of their groups, loses admin with the group, and their token with their deletion', async () => {
  const out = dev.output();
  // The banner's first command: the person, in Engineering and Administrators.
  const add =
    /curl -s -X POST '(http:\/\/127\.0\.0\.1:\d+\/_emulator\/organizations\/(org_\w+)\/users)' -H 'content-type: application\/json' \\\n\s+-d '([^']+)'/.exec(
      out,
    );
  expect(add).not.toBeNull();
  const [, usersUrl, org, body] = add as unknown as [string, string, string, string];
  const person = JSON.parse(body) as { email: string; groupIds: string[] };
  const [engineering] = person.groupIds;
  expect(person.groupIds).toHaveLength(2);
  expect(person.groupIds.every((id) => id.startsWith('dirgroup_'))).toBe(true);

  const created = await call('POST', usersUrl, undefined, person);
  expect(created.status).toBe(201);
  const userId = created.body.id as string;

  // Acme learns of them through scimflow's delivery: a token once it has them.
  const token = await eventually(async () => {
    const r = await call('POST', `${acme}/dev/tokens`, undefined, { email: person.email, organizationId: org });
    return r.status === 201 ? (r.body.token as string) : undefined;
  }, WAIT);
  const me = await call('GET', `${acme}/me`, token);
  expect(me.status).toBe(200);
  expect(me.body).toMatchObject({ email: person.email, organizationId: org });
  expect(me.body.roles).toEqual(['member', 'admin']);
  expect(await access(token)).toEqual({ me: 200, projects: 200, members: 200, invite: 201, billing: 200 });

  // Out of Administrators: Engineering alone is Acme's member level.
  const moved = await call('PUT', `${usersUrl}/${userId}/groups`, undefined, { groupIds: [engineering] });
  expect(moved.status).toBe(200);
  await eventually(async () => ((await call('GET', `${acme}/billing`, token)).status === 403 ? true : undefined), WAIT);
  expect((await call('GET', `${acme}/me`, token)).body.roles).toEqual(['member']);
  expect(await access(token)).toEqual({ me: 200, projects: 200, members: 200, invite: 403, billing: 403 });

  // Deleted in the directory: deactivated in Acme, the token revoked.
  const deleted = await call('DELETE', `${usersUrl}/${userId}`);
  expect(deleted.status).toBeLessThan(300);
  await eventually(async () => ((await call('GET', `${acme}/me`, token)).status === 401 ? true : undefined), WAIT);
  expect(await access(token)).toEqual({ me: 401, projects: 401, members: 401, invite: 401, billing: 401 });
  expect((await call('POST', `${acme}/dev/tokens`, undefined, { email: person.email, organizationId: org })).status).toBe(404);
}, 400_000);

it('stops Acme with everything else on Ctrl-C', async () => {
  await dev.interrupt();
  expect(dev.output()).toContain('[dev] stopped');
  expect(dev.output()).not.toMatch(/exited \(/);
  for (const p of Object.values(ports)) expect(await portInUse(p)).toBe(false);
}, 120_000);
