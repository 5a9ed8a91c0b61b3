import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDirectoryWebhook } from '../../domain/events';
import { startEmulator, type EmulatorHandle, type GroupView, type OrganizationView, type UserView } from '../../emulator';
import { startReceiver } from './receiver';

// The JSON control API and the token endpoint over plain HTTP/1.1, as curl would use them.

let emu: EmulatorHandle;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, json: (await res.json()) as T };
}

beforeAll(async () => {
  receiver = await startReceiver();
  emu = await startEmulator({ seed: 61 });
});

afterAll(async () => {
  await emu?.close();
  await receiver?.close();
});

describe('control API', () => {
  it('scripts a directory and sends the resulting webhooks to the configured URL', async () => {
    expect((await call('PUT', '/_emulator/webhook', { url: receiver.url })).json).toEqual({ url: receiver.url });

    const org = await call<OrganizationView>('POST', '/_emulator/organizations', { displayName: 'Kramerica', externalId: 'kramerica' });
    expect(org.status).toBe(201);
    const orgPath = `/_emulator/organizations/${org.json.id}`;
    const group = await call<GroupView>('POST', `${orgPath}/groups`, { displayName: 'Interns' });
    expect(group.status).toBe(201);
    const user = await call<UserView>('POST', `${orgPath}/users`, {
      email: 'bob@kramerica.example',
      givenName: 'Bob',
      familyName: 'Sacamano',
      costCenter: 'CC-7',
      groupIds: [group.json.id],
    });
    expect(user.status).toBe(201);
    expect(user.json.groupIds).toEqual([group.json.id]);
    const userPath = `${orgPath}/users/${user.json.id}`;

    expect((await call<UserView>('PATCH', userPath, { title: 'Intern', costCenter: null })).json.profile).toMatchObject({
      title: 'Intern',
    });
    expect((await call<UserView>('GET', userPath)).json.profile.costCenter).toBeUndefined();
    const roles = await call('PUT', `${orgPath}/role-assignments`, {
      assignments: [{ groupId: group.json.id, roleName: 'intern' }],
      emitUserUpdates: true,
    });
    expect(roles.json).toEqual({ assignments: [{ groupId: group.json.id, roleName: 'intern' }] });
    const other = await call<GroupView>('POST', `${orgPath}/groups`, { displayName: 'Executives' });
    expect((await call<UserView>('PUT', `${userPath}/groups`, { groupIds: [other.json.id] })).json.roles).toEqual([]);
    expect(
      (await call<GroupView>('PUT', `${orgPath}/groups/${group.json.id}/members`, { userIds: [user.json.id] })).json.memberIds,
    ).toEqual([user.json.id]);
    expect((await call<GroupView>('PATCH', `${orgPath}/groups/${other.json.id}`, { displayName: 'Execs' })).json.displayName).toBe('Execs');
    expect((await call('DELETE', `${orgPath}/groups/${other.json.id}`)).json).toEqual({ deleted: true });
    expect((await call('DELETE', userPath)).json).toEqual({ deleted: true });
    expect((await call('PUT', `${orgPath}/directory`, { enabled: false })).json).toEqual({ enabled: false, changed: true });
    expect((await call('PUT', `${orgPath}/directory`, { enabled: false })).json).toEqual({ enabled: false, changed: false });

    expect((await call('POST', '/_emulator/deliveries/settle?timeoutMs=5000')).status).toBe(200);
    const types = receiver.received.map((r) => (JSON.parse(r.body) as { type: string }).type);
    expect(types).toEqual([
      'organization.directory_enabled',
      'organization.directory.group_created',
      'organization.directory.user_created',
      'organization.directory.user_updated', // PATCH
      'organization.directory.user_updated', // role assignment changed its roles
      'organization.directory.group_created',
      'organization.directory.user_updated', // PUT groups
      'organization.directory.user_updated', // PUT members
      'organization.directory.group_updated',
      'organization.directory.group_deleted',
      'organization.directory.user_updated', // former member of the deleted group
      'organization.directory.user_deleted',
      'organization.directory_disabled',
    ]);
    for (const r of receiver.received) expect(parseDirectoryWebhook(r.body).status).toBe('event');
    const updatedByRoles = JSON.parse(receiver.received[4]!.body) as { data: { roles: unknown } };
    expect(updatedByRoles.data.roles).toEqual([{ role_name: 'intern' }]);

    const events = await call<{ events: { id: string }[] }>('GET', `/_emulator/events?organizationId=${org.json.id}`);
    expect(events.json.events.map((e) => e.id)).toEqual(receiver.received.map((r) => (JSON.parse(r.body) as { id: string }).id));
    const snapshot = await call<{ users: unknown[]; groups: GroupView[]; directory: { enabled: boolean } }>('GET', orgPath);
    expect(snapshot.json.users).toEqual([]);
    expect(snapshot.json.groups.map((g) => g.displayName)).toEqual(['Interns']);
    expect(snapshot.json.directory.enabled).toBe(false);
  });

  it('suppresses webhooks with ?emit=false', async () => {
    const org = await call<OrganizationView>('POST', '/_emulator/organizations?emit=false', { displayName: 'Silent' });
    await call('POST', `/_emulator/organizations/${org.json.id}/users?emit=false`, { email: 'quiet@silent.example' });
    expect(emu.events().filter((e) => e.organizationId === org.json.id)).toHaveLength(0);
    expect(emu.snapshot(org.json.id).users).toHaveLength(1);
  });

  it('explains bad requests, unknown entities and unknown routes', async () => {
    const org = emu.createOrganization({ displayName: 'Errors Inc' });
    const missingEmail = await call('POST', `/_emulator/organizations/${org.id}/users`, { givenName: 'No Email' });
    expect(missingEmail.status).toBe(400);
    expect(missingEmail.json).toMatchObject({ error: 'invalid_argument', message: expect.stringContaining('email') });
    expect((await call('POST', `/_emulator/organizations/${org.id}/users`, { email: 'x@y.example', shoeSize: 9 })).status).toBe(400);
    expect(
      (await call('POST', `/_emulator/organizations/${org.id}/users`, { email: 'x@y.example', groupIds: ['dirgroup_1'] })).status,
    ).toBe(404);
    expect((await call('GET', '/_emulator/organizations/org_404')).json).toMatchObject({ error: 'not_found' });
    expect((await call('DELETE', '/_emulator/organizations')).status).toBe(405);
    expect((await call('GET', '/_emulator/nothing-here')).status).toBe(404);
    expect((await call('PUT', '/_emulator/faults', { dropRate: 2 })).status).toBe(400);
    const dup = await call('POST', '/_emulator/organizations', { displayName: 'Again', externalId: 'kramerica' });
    expect(dup.status).toBe(409);
  });

  it('takes no orders from web pages: bodies must be JSON, and another site is refused', async () => {
    const org = emu.createOrganization({ displayName: 'Targeted' }, { emit: false });
    const users = `${emu.url}/_emulator/organizations/${org.id}/users`;
    const body = JSON.stringify({ email: 'intruder@evil.example' });
    // What a page of any site may POST without a CORS preflight: a form or text/plain body.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const res = await fetch(users, { method: 'POST', body, headers: type ? { 'content-type': type } : {} });
      // fetch labels a string body text/plain when no type is given.
      expect(res.status, String(type)).toBe(415);
      expect(await res.json()).toMatchObject({ error: 'unsupported_media_type' });
    }
    // A bodiless POST needs no content type, so the page's origin decides.
    const reset = await fetch(`${emu.url}/_emulator/reset`, { method: 'POST', headers: { origin: 'https://evil.example' } });
    expect(reset.status).toBe(403);
    const json = await fetch(users, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
    });
    expect(json.status).toBe(403);
    expect(emu.snapshot(org.id).users).toEqual([]);
    // Scripts (no Origin) and the emulator's own pages still can.
    expect(
      (
        await fetch(users, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json; charset=utf-8', origin: new URL(emu.url).origin },
        })
      ).status,
    ).toBe(201);
    expect(emu.snapshot(org.id).users).toHaveLength(1);
  });

  it('configures faults, seeds directories and resets', async () => {
    expect((await call('PUT', '/_emulator/faults', { dropRate: 0.5, seed: 3 })).json).toEqual({ dropRate: 0.5, seed: 3 });
    expect((await call('GET', '/_emulator/faults')).json).toEqual({ dropRate: 0.5, seed: 3 });
    const demo = await call<OrganizationView>('POST', '/_emulator/seed/demo', { seed: 4, externalId: 'demo-4' });
    expect(demo.status).toBe(201);
    expect(emu.snapshot(demo.json.id).users).toHaveLength(50);
    const large = await call<{ users: number; organization: OrganizationView }>('POST', '/_emulator/seed/large', {
      users: 500,
      groups: 20,
    });
    expect(large.json.users).toBe(500);
    expect(emu.snapshot(large.json.organization.id).users).toHaveLength(500);

    const info = await call('GET', '/_emulator');
    const text = JSON.stringify(info.json);
    expect(text).not.toContain(emu.clientSecret);
    for (const s of emu.webhookSecrets) expect(text).not.toContain(s.slice(6));

    expect((await call('POST', '/_emulator/reset')).json).toEqual({ reset: true });
    expect((await call('GET', '/_emulator/organizations')).json).toEqual({ organizations: [] });
    expect((await call('GET', '/_emulator/faults')).json).toEqual({});
    expect((await call<{ deliveries: unknown[] }>('GET', '/_emulator/deliveries')).json.deliveries).toEqual([]);
  });
});

describe('token endpoint', () => {
  const form = (fields: Record<string, string>) =>
    fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });

  it('issues bearer tokens for the client credentials grant', async () => {
    const res = await form({ grant_type: 'client_credentials', client_id: emu.clientId, client_secret: emu.clientSecret });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 86399, access_token: expect.any(String) });
  });

  it('refuses unknown clients with 401 JSON and other grants with 400', async () => {
    const bad = await form({ grant_type: 'client_credentials', client_id: emu.clientId, client_secret: 'nope' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('content-type')).toMatch(/json/);
    expect(await bad.json()).toMatchObject({ error: 'invalid_client' });
    const grant = await form({ grant_type: 'password', client_id: emu.clientId, client_secret: emu.clientSecret });
    expect(grant.status).toBe(400);
  });
});
