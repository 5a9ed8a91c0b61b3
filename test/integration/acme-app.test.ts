import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordRejected } from '../../examples/acme-app/directory-changes';
import type { Permission } from '../../examples/acme-app/permissions';
import { startAcme, type Acme } from '../support/acme';
import { groupRecord, directoryRecord, userRecord, userView } from '../support/change-records';
import { newSecret, signedHeaders } from '../support/webhooks';

/** The reference application: permissions at every endpoint, directory changes applied once, sessions ended on deprovisioning. */

let acme: Acme & { stop(): Promise<void> };
beforeAll(async () => {
  acme = await startAcme({ devLogin: true });
});
afterAll(async () => {
  await acme?.stop();
});

const org = () => `org_${randomBytes(4).toString('hex')}`;

/** Provisions a user with scimflow roles; answers a token of theirs. */
async function provisioned(organizationId: string, directoryUserId: string, roles: string[]): Promise<string> {
  await acme.apply(organizationId, [userRecord(organizationId, 'user.provisioned', userView(directoryUserId, { roles }))]);
  return acme.tokenFor(organizationId, directoryUserId);
}

const ENDPOINTS: { method: string; path: string; body?: unknown; permission: Permission | null; ok: number }[] = [
  { method: 'GET', path: '/me', permission: null, ok: 200 },
  { method: 'GET', path: '/projects', permission: 'projects:read', ok: 200 },
  { method: 'POST', path: '/projects', body: { name: 'Apollo' }, permission: 'projects:write', ok: 201 },
  { method: 'GET', path: '/members', permission: 'members:read', ok: 200 },
  { method: 'POST', path: '/members/invite', body: { email: 'new@acme.example' }, permission: 'members:invite', ok: 201 },
  { method: 'GET', path: '/billing', permission: 'billing:manage', ok: 200 },
];

/** Each level (as scimflow's roles name it) and what it may do; `none` holds a role Acme does not know. */
const LEVELS: { level: string; directoryRoles: string[]; allowed: (Permission | null)[] }[] = [
  { level: 'none', directoryRoles: ['auditor'], allowed: [null] },
  { level: 'viewer', directoryRoles: ['viewer'], allowed: [null, 'projects:read'] },
  { level: 'member', directoryRoles: ['member'], allowed: [null, 'projects:read', 'projects:write', 'members:read'] },
  { level: 'manager', directoryRoles: ['manager'], allowed: [null, 'projects:read', 'projects:write', 'members:read', 'members:invite'] },
  {
    level: 'admin',
    directoryRoles: ['admin'],
    allowed: [null, 'projects:read', 'projects:write', 'members:read', 'members:invite', 'billing:manage'],
  },
];

describe('permission enforcement at every endpoint, for every role level', () => {
  const organizationId = org();
  const tokens = new Map<string, string>();
  beforeAll(async () => {
    for (const { level, directoryRoles } of LEVELS) tokens.set(level, await provisioned(organizationId, `usr_${level}`, directoryRoles));
  });

  it.each(LEVELS.flatMap((l) => ENDPOINTS.map((e) => [l.level, `${e.method} ${e.path}`, l, e] as const)))(
    '%s → %s',
    async (_l, _e, level, endpoint) => {
      const res = await acme.call(endpoint.method, endpoint.path, tokens.get(level.level), endpoint.body);
      const allowed = level.allowed.includes(endpoint.permission);
      expect(res.status, JSON.stringify(res.body)).toBe(allowed ? endpoint.ok : 403);
      if (!allowed) expect(res.body).toMatchObject({ error: 'forbidden', permission: endpoint.permission });
    },
  );

  it.each(ENDPOINTS.map((e) => [`${e.method} ${e.path}`, e] as const))('%s without a valid token → 401', async (_e, endpoint) => {
    expect((await acme.call(endpoint.method, endpoint.path, undefined, endpoint.body)).status).toBe(401);
    expect((await acme.call(endpoint.method, endpoint.path, 'acme_not-a-token', endpoint.body)).status).toBe(401);
  });

  it('logs the directory role that grants nothing', () => {
    expect(acme.logs.some((l) => l.includes('grant nothing') && l.includes('auditor'))).toBe(true);
  });

  it('shows the user their roles and permissions', async () => {
    const me = await acme.call('GET', '/me', tokens.get('manager'));
    expect(me.body).toMatchObject({
      organizationId,
      directoryUserId: 'usr_manager',
      email: 'usr_manager@acme.example',
      name: 'Sam usr_manager',
      active: true,
      roles: ['manager'],
    });
    expect(me.body.permissions).toEqual(['members:invite', 'members:read', 'projects:read', 'projects:write']);
  });
});

describe('applying directory changes', () => {
  it('applies a batch given twice (or at once twice) with one effect', async () => {
    const o = org();
    const view = userView('usr_twice', { roles: ['member'] });
    const records = [
      userRecord(o, 'user.provisioned', view),
      userRecord(
        o,
        'user.updated',
        { ...view, email: 'renamed@acme.example' },
        { email: { before: view.email, after: 'renamed@acme.example' } },
      ),
      userRecord(
        o,
        'user.roles_changed',
        { ...view, email: 'renamed@acme.example', roles: ['manager'] },
        { roles: { before: ['member'], after: ['manager'] } },
      ),
      groupRecord(o, 'group.created', 'grp_1', 'Engineering'),
      directoryRecord(o, 'directory.enabled', 'dir_1'),
    ];
    expect(await acme.apply(o, records)).toEqual({ applied: 5, alreadyApplied: 0 });
    expect(await acme.apply(o, records)).toEqual({ applied: 0, alreadyApplied: 5 });
    const next = userRecord(o, 'user.updated', { ...view, email: 'again@acme.example', roles: ['manager'] }, {});
    expect(await acme.apply(o, [...records.slice(3), next])).toEqual({ applied: 1, alreadyApplied: 2 });

    const users = await acme.db('users').where({ organization_id: o });
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ directory_user_id: 'usr_twice', email: 'again@acme.example', active: true });
    expect(await acme.db('user_roles').where({ user_id: users[0].id }).pluck('role')).toEqual(['manager']);
    expect(await acme.db('applied_changes').where({ organization_id: o }).count({ n: '*' })).toEqual([{ n: '6' }]);

    // The same new batch from two deliveries at once: one applies it, the other finds it applied.
    const o2 = org();
    const concurrent = [userRecord(o2, 'user.provisioned', userView('usr_race', { roles: ['viewer'] }))];
    const results = await Promise.all([acme.apply(o2, concurrent), acme.apply(o2, concurrent), acme.apply(o2, concurrent)]);
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(1);
    expect(await acme.db('users').where({ organization_id: o2 })).toHaveLength(1);
  });

  it('deactivation revokes every token in the same transaction; reactivation brings none back', async () => {
    const o = org();
    const view = userView('usr_leaver', { roles: ['admin'] });
    const first = await provisioned(o, 'usr_leaver', ['admin']);
    const second = await acme.tokenFor(o, 'usr_leaver');
    for (const token of [first, second]) expect((await acme.call('GET', '/billing', token)).status).toBe(200);

    await acme.apply(o, [
      userRecord(o, 'user.deactivated', { ...view, active: false, roles: [] }, { active: { before: true, after: false } }),
    ]);
    for (const token of [first, second]) expect((await acme.call('GET', '/me', token)).status).toBe(401);
    const tokens = await acme
      .db('api_tokens as t')
      .join('users as u', 'u.id', 't.user_id')
      .where('u.directory_user_id', 'usr_leaver')
      .select('t.revoked_at', 't.revoked_reason');
    expect(tokens).toHaveLength(2);
    for (const t of tokens) expect(t.revoked_at).not.toBeNull();
    expect((await acme.call('POST', '/dev/tokens', undefined, { email: view.email, organizationId: o })).status).toBe(404);

    await acme.apply(o, [userRecord(o, 'user.reactivated', { ...view, roles: ['member'] }, { active: { before: false, after: true } })]);
    for (const token of [first, second]) expect((await acme.call('GET', '/me', token)).status).toBe(401);
    const fresh = await acme.call('POST', '/dev/tokens', undefined, { email: view.email, organizationId: o });
    expect(fresh.status).toBe(201);
    const me = await acme.call('GET', '/me', fresh.body.token as string);
    expect(me.body).toMatchObject({ active: true, roles: ['member'] });
    expect((await acme.call('GET', '/billing', fresh.body.token as string)).status).toBe(403);
  });

  it('roles_changed moves a user between levels: out of admin, the admin endpoints answer 403', async () => {
    const o = org();
    const token = await provisioned(o, 'usr_mover', ['admin']);
    expect((await acme.call('GET', '/billing', token)).status).toBe(200);
    expect((await acme.call('POST', '/members/invite', token, { email: 'a@acme.example' })).status).toBe(201);

    await acme.apply(o, [
      userRecord(o, 'user.roles_changed', userView('usr_mover', { roles: ['member'] }), {
        roles: { before: ['admin'], after: ['member'] },
      }),
    ]);
    expect((await acme.call('GET', '/billing', token)).status).toBe(403);
    expect((await acme.call('POST', '/members/invite', token, { email: 'b@acme.example' })).status).toBe(403);
    expect((await acme.call('POST', '/projects', token, { name: 'Still mine' })).status).toBe(201);

    await acme.apply(o, [userRecord(o, 'user.roles_changed', userView('usr_mover', { roles: ['admin', 'viewer'] }), {})]);
    expect((await acme.call('GET', '/billing', token)).status).toBe(200);
  });

  it('refuses a batch it can never apply, applying none of it', async () => {
    const o = org();
    const good = userRecord(o, 'user.provisioned', userView('usr_before_bad', { roles: ['viewer'] }));
    const bad = { ...userRecord(o, 'user.updated', userView('usr_before_bad')), sequence: 0 };
    const refusal = await acme.apply(o, [good, bad]).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(RecordRejected);
    expect((refusal as RecordRejected).recordId).toBe(bad.id);
    expect((refusal as Error).message).toMatch(/does not match the change record contract/);
    expect(await acme.db('users').where({ organization_id: o })).toHaveLength(0);
    expect(await acme.db('applied_changes').where({ organization_id: o })).toHaveLength(0);

    const other = userRecord(org(), 'user.provisioned', userView('usr_elsewhere'));
    await expect(acme.apply(o, [other])).rejects.toThrow(/belongs to organization/);
  });

  it('applies a batch in order, a user created in it included (provisioned, deactivated, reactivated, roles)', async () => {
    const o = org();
    const a = userView('usr_a', { roles: ['admin'] });
    const b = userView('usr_b', { roles: ['viewer'] });
    const records = [
      userRecord(o, 'user.provisioned', a),
      userRecord(o, 'user.provisioned', b),
      userRecord(o, 'user.deactivated', { ...a, active: false, roles: [] }),
      userRecord(o, 'user.roles_changed', { ...b, roles: ['manager'] }),
      userRecord(o, 'user.provisioned', userView('usr_c', { roles: ['member'] })),
      userRecord(o, 'user.reactivated', { ...a, roles: ['member'] }),
      userRecord(o, 'user.updated', { ...a, roles: ['member'], name: 'Alex A.' }, { name: { before: null, after: 'Alex A.' } }),
      userRecord(o, 'user.deactivated', userView('usr_never_known', { active: false })),
    ];
    expect(await acme.apply(o, records)).toEqual({ applied: 8, alreadyApplied: 0 });
    const users = await acme
      .db('users as u')
      .leftJoin('user_roles as r', 'r.user_id', 'u.id')
      .where('u.organization_id', o)
      .orderBy('u.directory_user_id')
      .select('u.directory_user_id', 'u.name', 'u.active', 'r.role');
    expect(users).toEqual([
      { directory_user_id: 'usr_a', name: 'Alex A.', active: true, role: 'member' },
      { directory_user_id: 'usr_b', name: 'Sam usr_b', active: true, role: 'manager' },
      { directory_user_id: 'usr_c', name: 'Sam usr_c', active: true, role: 'member' },
    ]);
  });

  it('applies a record whatever its cause, causes added later included', async () => {
    const o = org();
    const record = { ...userRecord(o, 'user.provisioned', userView('usr_caused')), cause: { type: 'something_new', detail: 1 } } as never;
    expect(await acme.apply(o, [record])).toEqual({ applied: 1, alreadyApplied: 0 });
    expect(await acme.db('users').where({ organization_id: o })).toHaveLength(1);
  });

  it('skips, once, a record of a kind it does not know yet', async () => {
    const o = org();
    const future = { ...groupRecord(o, 'group.created', 'grp_f', 'Future'), kind: 'group.archived' } as never;
    expect(await acme.apply(o, [future])).toEqual({ applied: 1, alreadyApplied: 0 });
    expect(await acme.apply(o, [future])).toEqual({ applied: 0, alreadyApplied: 1 });
    expect(acme.logs.some((l) => l.includes('does not know') && l.includes('group.archived'))).toBe(true);
  });
});

describe('the signed push handler (POST /scimflow/changes)', () => {
  it('refuses a bad signature and applies a good one, once', async () => {
    const secret = newSecret();
    await acme.withApp({ webhookSecrets: [secret] }, async (baseUrl) => {
      const o = org();
      const body = JSON.stringify({
        organizationId: o,
        records: [userRecord(o, 'user.provisioned', userView('usr_pushed', { roles: ['admin'] }))],
      });
      const post = (headers: Record<string, string>, text = body) =>
        fetch(`${baseUrl}/scimflow/changes`, { method: 'POST', headers, body: text });

      expect((await post({ 'content-type': 'application/json' })).status).toBe(401);
      expect((await post(signedHeaders(newSecret(), body))).status).toBe(401);
      const tampered = body.replace('usr_pushed', 'usr_pusheD');
      expect((await post(signedHeaders(secret, body), tampered)).status).toBe(401);
      expect(await acme.db('users').where({ organization_id: o })).toHaveLength(0);

      const ok = await post(signedHeaders(secret, body));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ applied: 1, alreadyApplied: 0 });
      const again = await post(signedHeaders(secret, body));
      expect(await again.json()).toEqual({ applied: 0, alreadyApplied: 1 });
      expect(await acme.db('users').where({ organization_id: o, directory_user_id: 'usr_pushed' })).toHaveLength(1);

      const malformed = JSON.stringify({ organizationId: o, records: [{ id: '1', kind: 'user.provisioned' }] });
      const refused = await post(signedHeaders(secret, malformed), malformed);
      expect(refused.status).toBe(422);
      expect(await refused.json()).toMatchObject({ error: 'record_rejected', recordId: '1' });
    });
  });

  it('is not there without a secret, and dev tokens are not there without ACME_DEV_LOGIN', async () => {
    expect((await acme.call('POST', '/scimflow/changes', undefined, {})).status).toBe(404);
    await acme.withApp({}, async (baseUrl) => {
      const res = await fetch(`${baseUrl}/dev/tokens`, { method: 'POST', body: JSON.stringify({ email: 'usr_admin@acme.example' }) });
      expect(res.status).toBe(404);
    });
  });
});
