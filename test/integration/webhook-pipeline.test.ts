import { randomBytes } from 'node:crypto';
import type { GroupView, UserView } from '../../db/repositories/directory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationWorkflows } from '../../temporal/client';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, signedHeaders, T } from '../support/webhooks';

/**
 * The whole path through real parts: signed HTTP delivery → Koa → signalWithStart on the real
 * Temporal dev server → the organization workflow → the apply activity → real Postgres → the
 * operator API.
 */

/** The operator API's user and group shapes. */
type UserOut = UserView;
type GroupOut = GroupView;
interface EventOut {
  id: string;
  type: string | null;
  outcome: string;
  detail: string | null;
  duplicateDeliveries: number;
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

const newOrg = () => `org_${randomBytes(6).toString('hex')}`;

async function send(body: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await stack.deliver(body);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const users = (org: string) => stack.api<{ users: UserOut[] }>(`/api/organizations/${org}/users`).then((b) => b.users);
const groups = (org: string) => stack.api<{ groups: GroupOut[] }>(`/api/organizations/${org}/groups`).then((b) => b.groups);
const ledger = (org: string, q = '') => stack.api<{ events: EventOut[] }>(`/api/organizations/${org}/events${q}`).then((b) => b.events);

/** Waits until the organization's ledger has `n` settled (non-pending) entries. */
async function settled(org: string, n: number): Promise<EventOut[]> {
  return eventually(async () => {
    const events = await ledger(org, '?limit=500');
    return events.length >= n && events.every((e) => e.outcome !== 'pending') ? events : undefined;
  });
}

async function workflowCount(org: string): Promise<number> {
  let n = 0;
  for await (const _ of stack.client.workflow.list({ query: `WorkflowId = "scim-org:${org}"` })) n += 1;
  return n;
}

async function rowCount(table: string, org: string): Promise<number> {
  const [row] = await stack.database.db(table).where('organization_id', org).count<{ count: string }[]>('* as count');
  return Number(row?.count ?? 0);
}

describe('every event type, end to end', () => {
  it('applies users, groups, memberships, roles and directory state', async () => {
    const org = newOrg();
    const eng = { id: 'dirgroup_eng', name: 'Engineering' };
    const ops = { id: 'dirgroup_ops', name: 'Operations' };
    const deliveries = [
      envelope(T.directoryEnabled, org, { id: 'dir_1', directory_type: 'SCIM', provider: 'OKTA', enabled: true }, nanoTime(0)),
      envelope(T.groupCreated, org, { id: eng.id, display_name: eng.name, directory_id: 'dir_1' }, nanoTime(1)),
      envelope(T.groupCreated, org, { id: ops.id, display_name: 'Ops', directory_id: 'dir_1' }, nanoTime(2)),
      envelope(T.groupUpdated, org, { id: ops.id, display_name: ops.name, directory_id: 'dir_1' }, nanoTime(3)),
      envelope(
        T.userCreated,
        org,
        {
          id: 'diruser_ada',
          email: 'ada@example.com',
          given_name: 'Ada',
          family_name: 'Lovelace',
          active: true,
          groups: [eng, ops],
          roles: [{ role_name: 'admin' }, { role_name: 'engineer' }],
          department: 'R&D',
        },
        nanoTime(4),
      ),
      envelope(
        T.userCreated,
        org,
        { id: 'diruser_bob', email: 'bob@example.com', given_name: 'Bob', active: true, groups: [ops] },
        nanoTime(5),
      ),
      envelope(
        T.userUpdated,
        org,
        { id: 'diruser_bob', email: 'bob@example.com', given_name: 'Robert', active: true, groups: [eng] },
        nanoTime(6),
      ),
      envelope(T.userDeleted, org, { id: 'diruser_bob', email: 'bob@example.com' }, nanoTime(7)),
      envelope(T.groupDeleted, org, { id: ops.id, display_name: ops.name }, nanoTime(8)),
      envelope(T.directoryDisabled, org, { id: 'dir_1', directory_type: 'SCIM', provider: 'OKTA', enabled: false }, nanoTime(9)),
    ];
    for (const d of deliveries) {
      const r = await send(d);
      expect(r.status).toBe(202);
      expect(r.json).toEqual({ status: 'accepted', eventId: d.id });
    }
    const events = await settled(org, deliveries.length);
    expect(events.map((e) => e.outcome)).toEqual(deliveries.map(() => 'applied'));

    const u = await users(org);
    const ada = u.find((x) => x.id === 'diruser_ada');
    const bob = u.find((x) => x.id === 'diruser_bob');
    expect(ada).toMatchObject({
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      active: true,
      groups: [eng.id],
      roles: ['admin', 'engineer'],
    });
    expect(bob).toMatchObject({ givenName: 'Robert', active: false, groups: [] });

    const g = await groups(org);
    expect(g).toEqual([
      { id: eng.id, displayName: 'Engineering', directoryId: 'dir_1', deleted: false, memberCount: 1 },
      { id: ops.id, displayName: 'Operations', directoryId: 'dir_1', deleted: true, memberCount: 0 },
    ]);
    // The organization's one directory: its state, and every user of it.
    expect(await stack.database.db('organization_directories').where('organization_id', org).select('id', 'provider', 'enabled')).toEqual([
      { id: 'dir_1', provider: 'OKTA', enabled: false },
    ]);
    expect(u.map((x) => x.directoryId)).toEqual(u.map(() => 'dir_1'));

    const status = await stack.api<{ applied: number; queued: number; lastAppliedEventAt: string }>(`/api/organizations/${org}/sync`);
    expect(status).toMatchObject({ applied: deliveries.length, queued: 0, lastAppliedEventAt: nanoTime(9) });
  });
});

describe('delivery faults', () => {
  it('applies a duplicate delivery once', async () => {
    const org = newOrg();
    const e = envelope(T.userCreated, org, { id: 'diruser_1', email: 'one@example.com', given_name: 'One' }, nanoTime(0));
    const body = JSON.stringify(e);
    // Same event id, as Scalekit would redeliver it: a fresh webhook timestamp and signature each time.
    for (let i = 0; i < 3; i++) expect((await stack.deliver(body)).status).toBe(202);
    await eventually(async () => (await stack.api<{ received: number }>(`/api/organizations/${org}/sync`)).received === 3);
    const events = await settled(org, 1);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: e.id, outcome: 'applied' });
    expect(await rowCount('directory_users', org)).toBe(1);
    const status = await stack.api<{ applied: number; duplicates: number }>(`/api/organizations/${org}/sync`);
    expect(status).toMatchObject({ applied: 1, duplicates: 2 });
  });

  it('keeps a user inactive when a stale user_updated arrives after user_deleted', async () => {
    const org = newOrg();
    await send(envelope(T.userCreated, org, { id: 'diruser_1', email: 'x@example.com', given_name: 'X' }, nanoTime(0)));
    await send(envelope(T.userDeleted, org, { id: 'diruser_1', email: 'x@example.com' }, nanoTime(20)));
    const late = envelope(T.userUpdated, org, { id: 'diruser_1', email: 'x@example.com', given_name: 'Late', active: true }, nanoTime(10));
    await send(late);
    const events = await settled(org, 3);
    expect(events.find((e) => e.id === late.id)).toMatchObject({ outcome: 'stale' });
    const [user] = await users(org);
    expect(user).toMatchObject({ active: false, givenName: 'X' });
  });

  it('reactivates a deleted user on a newer user_created', async () => {
    const org = newOrg();
    await send(envelope(T.userCreated, org, { id: 'diruser_1', email: 'r@example.com', given_name: 'R' }, nanoTime(0)));
    await send(envelope(T.userDeleted, org, { id: 'diruser_1', email: 'r@example.com' }, nanoTime(10)));
    await send(envelope(T.userCreated, org, { id: 'diruser_1', email: 'r@example.com', given_name: 'R2', active: true }, nanoTime(20)));
    await settled(org, 3);
    const [user] = await users(org);
    expect(user).toMatchObject({ active: true, givenName: 'R2' });
    const row = await stack.database.db('directory_users').where({ organization_id: org, id: 'diruser_1' }).first();
    expect(row.deactivated_at).toBeNull();
  });

  it('keeps one user row when user_updated changes the email', async () => {
    const org = newOrg();
    await send(envelope(T.userCreated, org, { id: 'diruser_1', email: 'old@example.com', given_name: 'E' }, nanoTime(0)));
    await send(envelope(T.userUpdated, org, { id: 'diruser_1', email: 'new@example.com', given_name: 'E' }, nanoTime(10)));
    await settled(org, 2);
    const u = await users(org);
    expect(u).toHaveLength(1);
    expect(u[0]).toMatchObject({ id: 'diruser_1', email: 'new@example.com' });
  });

  it('drops every membership of a deleted group', async () => {
    const org = newOrg();
    const g = { id: 'dirgroup_x', name: 'X' };
    await send(envelope(T.groupCreated, org, { id: g.id, display_name: g.name }, nanoTime(0)));
    for (let i = 1; i <= 3; i++) {
      await send(envelope(T.userCreated, org, { id: `diruser_${i}`, email: `${i}@example.com`, groups: [g] }, nanoTime(i)));
    }
    await settled(org, 4);
    expect((await groups(org))[0]).toMatchObject({ memberCount: 3 });
    await send(envelope(T.groupDeleted, org, { id: g.id, display_name: g.name }, nanoTime(10)));
    await settled(org, 5);
    expect((await groups(org))[0]).toMatchObject({ deleted: true, memberCount: 0 });
    for (const u of await users(org)) expect(u.groups).toEqual([]);
    expect(await rowCount('group_memberships', org)).toBe(0);
  });

  it('quarantines the record that breaks a constraint and applies the rest of the batch', async () => {
    const org = newOrg();
    // Two active users with one email: the second violates the unique index.
    const a = envelope(T.userCreated, org, { id: 'diruser_a', email: 'same@example.com' }, nanoTime(0));
    const b = envelope(T.userCreated, org, { id: 'diruser_b', email: 'SAME@example.com' }, nanoTime(1));
    const c = envelope(T.userCreated, org, { id: 'diruser_c', email: 'c@example.com' }, nanoTime(2));
    await Promise.all([a, b, c].map((e) => send(e)));
    const events = await settled(org, 3);
    const byId = new Map(events.map((e) => [e.id, e]));
    const outcomes = [a, b, c].map((e) => byId.get(e.id as string)?.outcome).sort();
    expect(outcomes).toEqual(['applied', 'applied', 'quarantined']);
    const quarantined = events.find((e) => e.outcome === 'quarantined');
    expect(quarantined?.detail).toMatch(/unique/);
    expect((await users(org)).map((u) => u.id).sort()).toContain('diruser_c');
    expect(await rowCount('directory_users', org)).toBe(2);
    const q = await ledger(org, '?outcome=quarantined');
    expect(q.map((e) => e.id)).toEqual([quarantined?.id]);
  });
});

describe('conflicts that clear', () => {
  it('applies a quarantined user once the email it collided with changes hands', async () => {
    const org = newOrg();
    await send(envelope(T.userCreated, org, { id: 'diruser_old', email: 'desk@example.com' }, nanoTime(0)));
    await settled(org, 1);
    // Reordered delivery: the new owner's creation arrives before the old owner's deletion.
    const newcomer = envelope(T.userCreated, org, { id: 'diruser_new', email: 'desk@example.com' }, nanoTime(20));
    await send(newcomer);
    await eventually(async () => (await ledger(org, '?outcome=quarantined')).length === 1);
    await send(envelope(T.userDeleted, org, { id: 'diruser_old', email: 'desk@example.com' }, nanoTime(10)));
    const events = await settled(org, 3);
    expect(events.find((e) => e.id === newcomer.id)).toMatchObject({ outcome: 'applied', detail: expect.stringMatching(/on retry/) });
    const u = await users(org);
    expect(u.find((x) => x.id === 'diruser_new')).toMatchObject({ active: true, email: 'desk@example.com' });
    expect(u.find((x) => x.id === 'diruser_old')).toMatchObject({ active: false });
    const status = await stack.api<{ quarantined: number; applied: number }>(`/api/organizations/${org}/sync`);
    expect(status).toMatchObject({ quarantined: 0, applied: 3 });
  });
});

describe('raw bytes', () => {
  it('verifies a delivery formatted unlike JSON.stringify (whitespace, escaped unicode)', async () => {
    const org = newOrg();
    const id = `evt_${randomBytes(8).toString('hex')}`;
    const body =
      '{\n  "spec_version" : "1",\n  "id" : "' +
      id +
      '",\n  "type" : "organization.directory.user_created",\n  "occurred_at" : "2026-01-01T00:00:00.000000001Z",\n' +
      `  "organization_id" : "${org}",\n  "object" : "DirectoryUser",\n` +
      '  "data" : { "id" : "diruser_u1", "email" : "j\\u00f6rg@example.com", "given_name" : "J\\u00f6rg", "organization_id" : "' +
      org +
      '" }\n}\n';
    expect(JSON.stringify(JSON.parse(body))).not.toBe(body);
    const res = await stack.deliver(body);
    expect(res.status).toBe(202);
    await settled(org, 1);
    expect((await users(org))[0]).toMatchObject({ email: 'jörg@example.com', givenName: 'Jörg' });
  });
});

describe('bad input', () => {
  async function expectNothingReached(org: string): Promise<void> {
    // Give a wrongly accepted event time to arrive before asserting its absence.
    await new Promise((r) => setTimeout(r, 300));
    expect(await workflowCount(org)).toBe(0);
    expect(await rowCount('directory_users', org)).toBe(0);
    expect(await rowCount('directory_events', org)).toBe(0);
  }

  it('400 for a missing signature header, naming it; nothing reaches Temporal or the tables', async () => {
    const org = newOrg();
    const body = JSON.stringify(envelope(T.userCreated, org, { id: 'diruser_1', email: 'a@example.com' }, nanoTime(0)));
    const headers = signedHeaders(stack.secret, body);
    delete headers['webhook-signature'];
    const res = await stack.deliver(body, headers);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'missing_headers', message: expect.stringContaining('webhook-signature') });
    await expectNothingReached(org);
  });

  it('400 for a tampered body', async () => {
    const org = newOrg();
    const body = JSON.stringify(envelope(T.userCreated, org, { id: 'diruser_1', email: 'a@example.com' }, nanoTime(0)));
    const headers = signedHeaders(stack.secret, body);
    const res = await stack.deliver(body.replace('a@example.com', 'b@example.com'), headers);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_signature' });
    await expectNothingReached(org);
  });

  it('400 for a signature made with another secret', async () => {
    const org = newOrg();
    const body = JSON.stringify(envelope(T.userCreated, org, { id: 'diruser_1' }, nanoTime(0)));
    const res = await stack.deliver(body, signedHeaders(`whsec_${randomBytes(32).toString('base64')}`, body));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_signature' });
    await expectNothingReached(org);
  });

  it('400 for a stale and for a future timestamp', async () => {
    const org = newOrg();
    const body = JSON.stringify(envelope(T.userCreated, org, { id: 'diruser_1' }, nanoTime(0)));
    // Ten seconds past the ±300 s tolerance: the header has whole seconds and the request takes time.
    const old = await stack.deliver(body, signedHeaders(stack.secret, body, { timestamp: new Date(Date.now() - 310_000) }));
    expect(old.status).toBe(400);
    expect(await old.json()).toMatchObject({ error: 'timestamp_too_old' });
    const future = await stack.deliver(body, signedHeaders(stack.secret, body, { timestamp: new Date(Date.now() + 310_000) }));
    expect(future.status).toBe(400);
    expect(await future.json()).toMatchObject({ error: 'timestamp_too_new' });
    await expectNothingReached(org);
  });

  it('413 for a body over 1 MiB', async () => {
    const org = newOrg();
    const body = JSON.stringify(
      envelope(T.userCreated, org, { id: 'diruser_1', custom_attributes: { blob: 'x'.repeat(1024 * 1024) } }, nanoTime(0)),
    );
    const res = await stack.deliver(body);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'payload_too_large' });
    await expectNothingReached(org);
  });

  it('202 quarantined for signed JSON that does not parse, with the raw body kept', async () => {
    const body = '{"id": "evt_broken", "type": "organization.directory.user_created", ';
    const headers = signedHeaders(stack.secret, body, { webhookId: `msg_${randomBytes(6).toString('hex')}` });
    const res = await stack.deliver(body, headers);
    expect(res.status).toBe(202);
    const json = (await res.json()) as { status: string; eventId: string };
    expect(json.status).toBe('quarantined');
    expect(json.eventId).toBe(`delivery:${headers['webhook-id']}`);
    const row = await stack.database.db('directory_events').where('id', json.eventId).first();
    expect(row).toMatchObject({ outcome: 'quarantined', raw_body: body });
    expect(row.detail).toMatch(/not valid JSON/);
  });

  it('logs what kind of delivery was quarantined, never what its body said', async () => {
    // V8's JSON error message quotes the body around the fault: the ledger keeps it, logs do not.
    const body = '{"email": jane.doe@example.com, "type": "organization.directory.user_created"}';
    const headers = signedHeaders(stack.secret, body, { webhookId: `msg_${randomBytes(6).toString('hex')}` });
    const res = await stack.deliver(body, headers);
    const json = (await res.json()) as { status: string; eventId: string };
    expect(json.status).toBe('quarantined');
    const row = await stack.database.db('directory_events').where('id', json.eventId).first('detail');
    expect(row.detail).toContain('jane.doe');
    const line = stack.logs.find((l) => l.includes(json.eventId));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ msg: 'webhook quarantined', reason: 'body is not valid JSON' });
    expect(stack.logs.join('\n')).not.toContain('jane.doe');
  });

  it('202 quarantined for a schema violation, kept in the ledger, nothing applied or signaled', async () => {
    const org = newOrg();
    const e = envelope(T.userCreated, org, { id: 'not-a-directory-user', email: 'a@example.com' }, nanoTime(0));
    const res = await send(e);
    expect(res).toEqual({ status: 202, json: { status: 'quarantined', eventId: e.id, reason: expect.stringMatching(/data\.id/) } });
    const q = await ledger(org, '?outcome=quarantined');
    expect(q).toMatchObject([{ id: e.id, outcome: 'quarantined' }]);
    expect(await workflowCount(org)).toBe(0);
    expect(await rowCount('directory_users', org)).toBe(0);
  });

  it('202 ignored for an unknown event type, recorded', async () => {
    const org = newOrg();
    const e = envelope('organization.sso_enabled', org, { id: 'conn_1' }, nanoTime(0));
    const res = await send(e);
    expect(res.json).toMatchObject({ status: 'ignored', eventId: e.id });
    expect(res.status).toBe(202);
    expect(await ledger(org, '?outcome=ignored')).toMatchObject([{ id: e.id, type: 'organization.sso_enabled' }]);
    expect(await workflowCount(org)).toBe(0);
  });
});

describe('operator API', () => {
  it('401 without a token and with a wrong one', async () => {
    const org = newOrg();
    const none = await fetch(`${stack.baseUrl}/api/organizations/${org}/users`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await fetch(`${stack.baseUrl}/api/organizations/${org}/users`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'unauthorized' });
  });

  it('400 for bad query parameters, naming the parameter', async () => {
    const auth = { authorization: `Bearer ${stack.operatorToken}` };
    // A registered organization (for one never heard of, the answer is 404 first).
    await stack.database.db('organizations').insert({ id: 'org_1' }).onConflict('id').ignore();
    const bad = await fetch(`${stack.baseUrl}/api/organizations/org_1/users?active=yes`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request', message: expect.stringContaining('active') });
    const outcome = await fetch(`${stack.baseUrl}/api/organizations/org_1/events?outcome=lost`, { headers: auth });
    expect(outcome.status).toBe(400);
    expect(((await outcome.json()) as { message: string }).message).toMatch(/outcome.*applied/);
    const org = await fetch(`${stack.baseUrl}/api/organizations/bad%20org/users`, { headers: auth });
    expect(org.status).toBe(400);
  });

  it('checks path parameters after the token: 401 first, then 400 naming what was expected', async () => {
    const auth = { authorization: `Bearer ${stack.operatorToken}` };
    const long = 'x'.repeat(257);
    const cases: [method: string, path: string, message: string][] = [
      ['GET', '/api/organizations/bad%20org/users', 'expected an organization id such as org_123'],
      ['POST', '/api/organizations/bad%20org/pause', 'expected an organization id such as org_123'],
      ['GET', '/api/organizations/org_1/runs/abc', 'expected a run id (a number)'],
      ['POST', '/api/organizations/org_1/runs/1234567890123456789/approve', 'expected a run id (a number)'],
      ['GET', '/api/organizations/bad%20org/roles', 'expected an organization id such as org_123'],
      ['PUT', `/api/organizations/org_1/roles/mappings/${long}`, 'expected a directory group id'],
      ['GET', `/api/organizations/org_1/users/${long}/roles`, 'expected a directory user id'],
      ['POST', '/api/organizations/bad%20org/settings-link', 'expected an organization id such as org_123'],
      ['POST', '/api/organizations/bad%20org/portal-link', 'expected an organization id such as org_123'],
    ];
    for (const [method, path, message] of cases) {
      const anonymous = await fetch(`${stack.baseUrl}${path}`, { method });
      expect(anonymous.status, `${method} ${path} without a token`).toBe(401);
      const res = await fetch(`${stack.baseUrl}${path}`, { method, headers: auth });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_request', message });
    }
  });

  it('filters active users and pages through the ledger newest first', async () => {
    const org = newOrg();
    for (let i = 0; i < 5; i++) {
      await send(envelope(T.userCreated, org, { id: `diruser_${i}`, email: `${i}@example.com` }, nanoTime(i)));
    }
    await send(envelope(T.userDeleted, org, { id: 'diruser_0' }, nanoTime(10)));
    await settled(org, 6);
    const active = await stack.api<{ users: UserOut[] }>(`/api/organizations/${org}/users?active=true`);
    expect(active.users.map((u) => u.id)).toEqual(['diruser_1', 'diruser_2', 'diruser_3', 'diruser_4']);
    expect((await users(org)).length).toBe(5);

    const page1 = await stack.api<{ events: EventOut[]; nextCursor: string }>(`/api/organizations/${org}/events?limit=4`);
    const page2 = await stack.api<{ events: EventOut[]; nextCursor: string | null }>(
      `/api/organizations/${org}/events?limit=4&after=${page1.nextCursor}`,
    );
    expect(page1.events).toHaveLength(4);
    expect(page2.events).toHaveLength(2);
    expect(page2.nextCursor).toBeNull();
    const all = [...page1.events, ...page2.events].map((e) => e.id);
    expect(new Set(all).size).toBe(6);
    expect(page1.events[0]?.type).toBe(T.userDeleted);
  });

  it('404 for the sync status of an organization without a workflow', async () => {
    const res = await fetch(`${stack.baseUrl}/api/organizations/${newOrg()}/sync`, {
      headers: { authorization: `Bearer ${stack.operatorToken}` },
    });
    expect(res.status).toBe(404);
  });

  it('reports readiness and exposes metrics without secrets', async () => {
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    // The stack's worker polls the task queue: a detail of readiness, never a reason for 503.
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { postgres: true, temporal: true },
      worker: { polling: true, lastSeenAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
    });
    // A task queue no worker polls: still ready (webhooks are kept in Temporal), and it says so.
    const unpolled = new OrganizationWorkflows(stack.client, `${stack.taskQueue}-nobody`);
    const alone = await stack.withApi({ workflows: unpolled }, async (base) => {
      const res = await fetch(`${base}/readyz`);
      return { status: res.status, body: (await res.json()) as unknown };
    });
    expect(alone).toEqual({
      status: 200,
      body: { status: 'ready', checks: { postgres: true, temporal: true }, worker: { polling: false, lastSeenAt: null } },
    });
    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/scimflow_webhook_deliveries_total\{result="accepted",status="202"\} \d+/);
    expect(metrics).toMatch(/scimflow_webhook_deliveries_total\{result="rejected",status="400"\} \d+/);
    expect(metrics).not.toContain(stack.secret);
    expect(metrics).not.toContain(stack.operatorToken);
    expect(stack.logs.join('\n')).not.toContain(stack.secret.slice(6));
  });
});
