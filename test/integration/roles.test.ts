import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RoleChangeResult } from '../../domain/roles';
import { reconcileAndWait } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually } from '../support/stack';

/**
 * Group → role mappings with precedence, Scalekit's roles and the default role, resolved into
 * user_roles by event batches, reconciles and mapping changes; previews; "why" answers; refusals.
 * Real Temporal, real Postgres, the emulator through the real SDK and signed webhooks.
 */

const env = useEmulatorStack({ webhooks: true });

const quiet = { emit: false } as const;

/** A small organization whose memberships the test knows, imported into scimflow. */
async function organization() {
  const org = env.emulator.createOrganization({ displayName: `Roles ${randomInt(1, 1e9)}` }, quiet);
  const group = (name: string) => env.emulator.createGroup(org.id, { displayName: name }, quiet).id;
  const g = { admins: group('Admins'), eng: group('Engineering'), sales: group('Sales'), support: group('Support') };
  env.emulator.setRoleAssignments(org.id, [{ groupId: g.support, roleName: 'support_agent' }], quiet);
  const user = (name: string, groupIds: string[]) =>
    env.emulator.createUser(org.id, { email: `${name}.${org.id}@example.com`, givenName: name, familyName: 'Test', groupIds }, quiet).id;
  const u = {
    alice: user('alice', [g.admins, g.eng]),
    bob: user('bob', [g.eng]),
    carol: user('carol', [g.sales]),
    dave: user('dave', [g.support]),
    erin: user('erin', []),
  };
  expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  return { org: org.id, g, u };
}

async function effective(org: string): Promise<Record<string, string[]>> {
  const { users } = await env.stack.api<{ users: { id: string; active: boolean; effectiveRoles: string[] }[] }>(
    `/api/organizations/${org}/users`,
  );
  return Object.fromEntries(users.map((u) => [u.id, u.effectiveRoles]));
}

function send(method: string, path: string, body?: unknown, token: string | null = env.stack.operatorToken) {
  return fetch(`${env.stack.baseUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

async function change(path: string, body: unknown, method = 'PUT'): Promise<RoleChangeResult> {
  const res = await send(method, path, body);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as RoleChangeResult;
}

describe('role resolution', () => {
  it('previews, then applies the default role and group mappings; the lowest precedence wins; "why" names the group', async () => {
    const { org, g, u } = await organization();
    expect(await effective(org)).toEqual({ [u.alice]: [], [u.bob]: [], [u.carol]: [], [u.dave]: ['support_agent'], [u.erin]: [] });

    const preview = await change(`/api/organizations/${org}/roles/default`, { role: 'member', dryRun: true });
    expect(preview).toMatchObject({ dryRun: true, summary: 'default role member', usersChanged: 4, granted: 4, revoked: 0 });
    expect(preview.changes.map((c) => c.userId).sort()).toEqual([u.alice, u.bob, u.carol, u.erin].sort());
    expect(await effective(org)).toMatchObject({ [u.alice]: [], [u.erin]: [] });

    const applied = await change(`/api/organizations/${org}/roles/default`, { role: 'member' });
    expect({ ...applied, dryRun: true }).toEqual(preview);
    // Scalekit's role counts as a role: the default is only for users who hold none.
    expect(await effective(org)).toEqual({
      [u.alice]: ['member'],
      [u.bob]: ['member'],
      [u.carol]: ['member'],
      [u.dave]: ['support_agent'],
      [u.erin]: ['member'],
    });

    const eng = await change(`/api/organizations/${org}/roles/mappings/${g.eng}`, { role: 'developer', precedence: 20 });
    expect(eng).toMatchObject({ usersChanged: 2, granted: 2, revoked: 2 });
    expect(eng.changes.find((c) => c.userId === u.bob)).toMatchObject({ before: ['member'], after: ['developer'] });
    await change(`/api/organizations/${org}/roles/mappings/${g.admins}`, { role: 'admin', precedence: 10 });
    expect(await effective(org)).toMatchObject({ [u.alice]: ['admin'], [u.bob]: ['developer'], [u.carol]: ['member'] });

    const why = await env.stack.api<{
      roles: { role: string; source: string; group: { id: string; name: string }; precedence: number; grantedBy: string; reason: string }[];
    }>(`/api/organizations/${org}/users/${u.alice}/roles`);
    expect(why.roles).toEqual([
      expect.objectContaining({
        role: 'admin',
        source: 'mapping',
        group: { id: g.admins, name: 'Admins' },
        precedence: 10,
        grantedBy: `role mapping: ${g.admins} → admin (precedence 10)`,
      }),
    ]);
    expect(why.roles[0]?.reason).toMatch(/member of group "Admins".*precedence 10/);

    const listing = await env.stack.api<{
      defaultRole: string;
      mappings: { groupId: string; role: string; precedence: number; granted: number; members: number }[];
    }>(`/api/organizations/${org}/roles`);
    expect(listing).toEqual({
      defaultRole: 'member',
      mappings: [
        expect.objectContaining({ groupId: g.admins, role: 'admin', precedence: 10, members: 1, granted: 1 }),
        expect.objectContaining({ groupId: g.eng, role: 'developer', precedence: 20, members: 2, granted: 1 }),
      ],
    });

    // A mapping that grants a role a user already holds changes no role, only its reason.
    const sameRole = await change(`/api/organizations/${org}/roles/mappings/${g.sales}`, { role: 'member', precedence: 50 });
    expect(sameRole).toMatchObject({ usersChanged: 0, reasonsChanged: 1, granted: 0, revoked: 0, changes: [] });
    expect(sameRole.unchangedBecause).toBe(
      `of the 1 user in group ${g.sales}: 1 user held member already, through a mapping (this one as it was, or another group's) or the organization's default`,
    );
    // Scalekit already gives Dave the role a mapping of his group would: nothing changes, and it says why.
    const scalekitRole = await change(`/api/organizations/${org}/roles/mappings/${g.support}`, {
      role: 'support_agent',
      precedence: 30,
      dryRun: true,
    });
    expect(scalekitRole).toMatchObject({ usersChanged: 0, changes: [] });
    expect(scalekitRole.unchangedBecause).toBe(
      `of the 1 user in group ${g.support}: 1 user holds support_agent already: Scalekit assigns it to them`,
    );
    const carol = await env.stack.api<{ roles: { role: string; source: string }[] }>(`/api/organizations/${org}/users/${u.carol}/roles`);
    expect(carol.roles).toEqual([expect.objectContaining({ role: 'member', source: 'mapping' })]);

    // Unmapping previews and applies like mapping: Alice falls back to her other group.
    const unmap = await change(`/api/organizations/${org}/roles/mappings/${g.admins}`, { dryRun: false }, 'DELETE');
    expect(unmap.changes).toEqual([expect.objectContaining({ userId: u.alice, before: ['admin'], after: ['developer'] })]);
    const noDefault = await change(`/api/organizations/${org}/roles/default`, { role: null });
    expect(noDefault).toMatchObject({ summary: 'no default role', usersChanged: 1, revoked: 1 });
    expect(await effective(org)).toEqual({
      [u.alice]: ['developer'],
      [u.bob]: ['developer'],
      [u.carol]: ['member'],
      [u.dave]: ['support_agent'],
      [u.erin]: [],
    });
  });

  it('follows directory events: joining and leaving groups, a deleted group, a deactivated user', async () => {
    const { org, g, u } = await organization();
    await change(`/api/organizations/${org}/roles/default`, { role: 'member' });
    await change(`/api/organizations/${org}/roles/mappings/${g.admins}`, { role: 'admin', precedence: 10 });
    await change(`/api/organizations/${org}/roles/mappings/${g.eng}`, { role: 'developer', precedence: 20 });

    env.emulator.setUserGroups(org, u.carol, [g.admins, g.sales]);
    await env.emulator.settled(30_000);
    await eventually(async () => (await effective(org))[u.carol]?.[0] === 'admin');
    const event = env.emulator
      .events()
      .filter((e) => e.organizationId === org && e.type === 'organization.directory.user_updated')
      .at(-1);
    const why = await env.stack.api<{ roles: { grantedBy: string }[] }>(`/api/organizations/${org}/users/${u.carol}/roles`);
    expect(why.roles[0]?.grantedBy).toBe(`event:${event?.id}`);

    env.emulator.setUserGroups(org, u.bob, []);
    env.emulator.deleteGroup(org, g.admins);
    env.emulator.deleteUser(org, u.dave);
    await env.emulator.settled(30_000);
    const expected = { [u.alice]: ['developer'], [u.bob]: ['member'], [u.carol]: ['member'], [u.dave]: [], [u.erin]: ['member'] };
    await eventually(async () => JSON.stringify(await effective(org)) === JSON.stringify(expected), { timeoutMs: 20_000 });
    const rows = await env.stack.database.db('user_roles').where({ organization_id: org, user_id: u.dave });
    expect(rows).toEqual([]);
  });

  it('a full reconcile repairs roles that drifted, and counts what it restored', async () => {
    const { org, g, u } = await organization();
    await change(`/api/organizations/${org}/roles/mappings/${g.eng}`, { role: 'developer' });
    const before = await effective(org);
    expect(before[u.bob]).toEqual(['developer']);
    const lost = await env.stack.database
      .db('user_roles')
      .where('organization_id', org)
      .whereIn('user_id', [u.alice, u.bob, u.dave])
      .delete();
    expect(lost).toBe(3);

    const outcome = await reconcileAndWait(env.stack.workflows, org);
    expect(outcome.result?.roles).toEqual({ usersChanged: 3, granted: 3, revoked: 0 });
    expect(outcome.result?.drift).toBe(0);
    expect(await effective(org)).toEqual(before);
    const why = await env.stack.api<{ roles: { grantedBy: string }[] }>(`/api/organizations/${org}/users/${u.bob}/roles`);
    expect(why.roles[0]?.grantedBy).toBe(`sync_run:${outcome.runId}`);
  });
});

describe('bad input', () => {
  it('gets a clear error and changes nothing', async () => {
    const { org, g, u } = await organization();
    await change(`/api/organizations/${org}/roles/mappings/${g.eng}`, { role: 'developer', precedence: 5 });
    const snapshot = async () => ({
      mappings: await env.stack.database
        .db('role_mappings')
        .where('organization_id', org)
        .select('group_id', 'role', 'precedence')
        .orderBy('group_id'),
      grants: await env.stack.database
        .db('user_roles')
        .where('organization_id', org)
        .select('user_id', 'role', 'source')
        .orderBy(['user_id', 'role']),
      defaultRole: (await env.stack.database.db('organizations').where('id', org).first('default_role')).default_role,
    });
    const before = await snapshot();

    const expectError = async (res: Response, status: number, error: string, message: RegExp) => {
      const body = (await res.json()) as { error: string; message: string };
      expect({ status: res.status, error: body.error }).toEqual({ status, error });
      expect(body.message).toMatch(message);
    };
    const base = `/api/organizations/${org}/roles`;
    await expectError(
      await send('PUT', `${base}/mappings/dirgroup_nope`, { role: 'admin' }),
      409,
      'refused',
      /group dirgroup_nope is not in the directory.*npm run cli -- roles list/,
    );
    await expectError(
      await send('PUT', `${base}/mappings/${g.sales}`, { role: 'not a role!' }),
      400,
      'invalid_request',
      /role: "not a role!" is not a role name/,
    );
    await expectError(
      await send('PUT', `${base}/mappings/${g.sales}`, { role: 'admin', precedence: -1 }),
      400,
      'invalid_request',
      /precedence: expected a whole number from 0/,
    );
    await expectError(
      await send('PUT', `${base}/mappings/${g.sales}`, { role: 'admin', precedence: 1.5 }),
      400,
      'invalid_request',
      /precedence: expected a whole number/,
    );
    await expectError(await send('PUT', `${base}/mappings/${g.sales}`, { role: 'admin', extra: 1 }), 400, 'invalid_request', /extra/);
    await expectError(await send('PUT', `${base}/mappings/${g.sales}`, '{"role":'), 400, 'invalid_request', /not valid JSON/);
    await expectError(await send('PUT', `${base}/default`, {}), 400, 'invalid_request', /role: expected a role name/);
    await expectError(await send('DELETE', `${base}/mappings/${g.sales}`), 409, 'refused', /has no role mapping/);
    await expectError(await send('PUT', `${base}/mappings/${g.sales}`, { role: 'admin' }, null), 401, 'unauthorized', /.+/);
    await expectError(await send('GET', `/api/organizations/${org}/users/diruser_nope/roles`), 404, 'not_found', /not in the directory/);
    await expectError(
      await send('PUT', `/api/organizations/org_${randomInt(1, 1e9)}/roles/default`, { role: 'member' }),
      404,
      'not_found',
      /does not know organization.*npm run cli -- orgs add/,
    );
    expect(await snapshot()).toEqual(before);
    expect((await effective(org))[u.bob]).toEqual(['developer']);
  });
});
