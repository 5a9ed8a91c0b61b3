import { ScalekitClient, ScalekitNotFoundException } from '@scalekit-sdk/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDirectoryWebhook } from '../../domain/events';
import {
  startEmulator,
  type DirectoryView,
  type EmulatorHandle,
  type GroupView,
  type OrganizationView,
  type UserView,
} from '../../emulator';

// Organizations with several directories: the control API, the real SDK and the webhooks.

let emu: EmulatorHandle;
let sdk: ScalekitClient;

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, json: (await res.json()) as T };
}

async function listAll(orgId: string, directoryId: string): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = '';
  do {
    const page = await sdk.directory.listDirectoryUsers(orgId, directoryId, { pageSize: 30, ...(pageToken ? { pageToken } : {}) });
    ids.push(...page.users.map((u) => u.id));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

beforeAll(async () => {
  emu = await startEmulator({ seed: 23 });
  sdk = new ScalekitClient(emu.url, emu.clientId, emu.clientSecret);
});

afterAll(async () => {
  await emu?.close();
});

describe('an organization with two directories', () => {
  it('keeps users, groups and roles per directory; the SDK lists both directories and each one its own users', async () => {
    const org = (await call<OrganizationView>('POST', '/_emulator/organizations', { displayName: 'Vandelay', provider: 'OKTA' })).json;
    const orgPath = `/_emulator/organizations/${org.id}`;
    const added = await call<DirectoryView>('POST', `${orgPath}/directories`, { provider: 'MICROSOFT_AD', name: 'Entra (new)' });
    expect(added.status).toBe(201);
    const a = org.directoryId;
    const b = added.json.id;
    expect(b).not.toBe(a);

    const groupA = (await call<GroupView>('POST', `${orgPath}/groups`, { displayName: 'Importers' })).json;
    const groupB = (await call<GroupView>('POST', `${orgPath}/groups`, { displayName: 'Exporters', directoryId: b })).json;
    expect([groupA.directoryId, groupB.directoryId]).toEqual([a, b]);
    const inA = (await call<UserView>('POST', `${orgPath}/users`, { email: 'art@vandelay.example', groupIds: [groupA.id] })).json;
    const inB = (await call<UserView>('POST', `${orgPath}/users`, { email: 'art@vandelay.example', directoryId: b, groupIds: [groupB.id] }))
      .json;
    expect([inA.directoryId, inB.directoryId]).toEqual([a, b]);
    // A directory's users join its own groups only.
    const crossed = await call<{ message: string }>('PUT', `${orgPath}/users/${inA.id}/groups`, { groupIds: [groupB.id] });
    expect(crossed.status).toBe(400);
    expect(crossed.json.message).toMatch(new RegExp(`group ${groupB.id} belongs to directory ${b}`));
    // Role assignments are per directory.
    await call('PUT', `${orgPath}/role-assignments`, { assignments: [{ groupId: groupB.id, roleName: 'exporter' }], directoryId: b });
    expect(emu.getUser(org.id, inB.id).roles).toEqual(['exporter']);
    expect(emu.getUser(org.id, inA.id).roles).toEqual([]);

    const { directories } = await sdk.directory.listDirectories(org.id);
    expect(directories.map((d) => d.id)).toEqual([a, b]);
    const { directory } = await sdk.directory.getDirectory(org.id, b);
    expect(directory?.roleAssignments?.assignments.map((x) => x.groupId)).toEqual([groupB.id]);
    expect(await listAll(org.id, a)).toEqual([inA.id]);
    expect(await listAll(org.id, b)).toEqual([inB.id]);
    expect((await sdk.directory.listDirectoryGroups(org.id, b)).groups.map((g) => g.id)).toEqual([groupB.id]);

    const snap = (await call<{ directories: DirectoryView[]; users: UserView[] }>('GET', orgPath)).json;
    expect(snap.directories.map((d) => [d.id, d.totalUsers])).toEqual([
      [a, 1],
      [b, 1],
    ]);
    expect(snap.users.map((u) => [u.id, u.directoryId])).toEqual([
      [inA.id, a],
      [inB.id, b],
    ]);
  });

  it("sends directory events with the id of the directory they are about; group events carry it, user events (like Scalekit's) do not", async () => {
    const org = emu.createOrganization({ displayName: 'Pendant Publishing' });
    const b = emu.addDirectory(org.id, { provider: 'GOOGLE' }).id;
    const group = emu.createGroup(org.id, { displayName: 'Editors', directoryId: b });
    emu.createUser(org.id, { email: 'elaine@pendant.example', directoryId: b, groupIds: [group.id] });
    expect((await call('PUT', `/_emulator/organizations/${org.id}/directories/${b}`, { enabled: false })).json).toEqual({
      enabled: false,
      changed: true,
    });

    const events = emu.events().filter((e) => e.organizationId === org.id);
    expect(events.map((e) => e.type)).toEqual([
      'organization.directory_enabled',
      'organization.directory_enabled',
      'organization.directory.group_created',
      'organization.directory.user_created',
      'organization.directory_disabled',
    ]);
    expect(events.map((e) => (e.payload.data as { id?: string }).id).filter((id) => id?.startsWith('dir_'))).toEqual([
      org.directoryId,
      b,
      b,
    ]);
    expect(events[2]?.payload.data).toMatchObject({ id: group.id, directory_id: b });
    expect(events[3]?.payload.data).not.toHaveProperty('directory_id');
    for (const e of events) expect(parseDirectoryWebhook(e.body).status).toBe('event');
    // A disabled directory refuses changes; the other one does not.
    expect(() => emu.createUser(org.id, { email: 'x@pendant.example', directoryId: b })).toThrow(/is disabled/);
    expect(emu.createUser(org.id, { email: 'x@pendant.example' }).directoryId).toBe(org.directoryId);
  });

  it('deletes a directory with its users: the Directory API stops listing it; the last one stays', async () => {
    const org = emu.createOrganization({ displayName: 'Kenny Rogers Roasters' });
    const b = emu.addDirectory(org.id).id;
    const user = emu.createUser(org.id, { email: 'kenny@roasters.example', directoryId: b });
    expect((await call('DELETE', `/_emulator/organizations/${org.id}/directories/${b}`)).json).toEqual({ deleted: true });
    expect((await sdk.directory.listDirectories(org.id)).directories.map((d) => d.id)).toEqual([org.directoryId]);
    await expect(sdk.directory.listDirectoryUsers(org.id, b)).rejects.toBeInstanceOf(ScalekitNotFoundException);
    expect(() => emu.getUser(org.id, user.id)).toThrow(/not found/);
    const last = await call<{ message: string }>('DELETE', `/_emulator/organizations/${org.id}/directories/${org.directoryId}`);
    expect(last.status).toBe(409);
    expect(last.json.message).toMatch(/only one/);
  });

  it('generates a large directory spread over several directories, the same from the same seed', async () => {
    const one = emu.generateLarge({ users: 300, groups: 9, directories: 3, seed: 5 });
    expect(one.organization.directoryIds).toHaveLength(3);
    const snap = emu.snapshot(one.organization.id);
    expect(snap.directories.map((d) => d.totalUsers)).toEqual([100, 100, 100]);
    expect(snap.directories.map((d) => d.totalGroups)).toEqual([3, 3, 3]);
    // Each directory's users are in its own groups, and each directory has its own role mapping.
    const groupDirectory = new Map(snap.groups.map((g) => [g.id, g.directoryId]));
    expect(snap.users.every((u) => u.groupIds.length > 0 && u.groupIds.every((g) => groupDirectory.get(g) === u.directoryId))).toBe(true);
    expect(snap.directories.every((d) => d.roleAssignments.length === 3)).toBe(true);
    const listed = await Promise.all(one.organization.directoryIds.map((d) => listAll(one.organization.id, d)));
    expect(listed.flat().sort()).toEqual(snap.users.map((u) => u.id).sort());

    const again = await startEmulator({ seed: 23 });
    try {
      const other = again.generateLarge({ users: 300, groups: 9, directories: 3, seed: 5 });
      expect(again.snapshot(other.organization.id).users.map((u) => u.email)).toEqual(snap.users.map((u) => u.email));
    } finally {
      await again.close();
    }

    // Filling one directory of an existing organization.
    const filled = emu.generateLarge({
      users: 40,
      groups: 2,
      seed: 6,
      organizationId: one.organization.id,
      directoryId: one.organization.directoryIds[1],
    });
    expect(filled.organization.id).toBe(one.organization.id);
    expect(emu.snapshot(one.organization.id).directories.map((d) => d.totalUsers)).toEqual([100, 140, 100]);
  });
});
