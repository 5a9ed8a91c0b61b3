import { ScalekitClient, ScalekitNotFoundException, ScalekitServerException } from '@scalekit-sdk/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle, type OrganizationView } from '../../emulator';

// The real @scalekit-sdk/node client against the emulator: no mocks anywhere.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let emu: EmulatorHandle;
let sdk: ScalekitClient;
let org: OrganizationView;
let groupIds: string[];
let userIds: string[];

beforeAll(async () => {
  emu = await startEmulator({ seed: 11 });
  sdk = new ScalekitClient(emu.url, emu.clientId, emu.clientSecret);
  org = emu.createOrganization({ displayName: 'Initech', externalId: 'initech', provider: 'OKTA' });
  groupIds = Array.from({ length: 7 }, (_, i) => emu.createGroup(org.id, { displayName: `Team ${i}` }).id);
  userIds = Array.from(
    { length: 65 },
    (_, i) =>
      emu.createUser(org.id, {
        email: `person${i}@initech.example`,
        givenName: `Given${i}`,
        familyName: `Family${i}`,
        preferredUsername: `person${i}`,
        department: i % 2 ? 'Engineering' : 'Sales',
        groupIds: i % 3 === 0 ? [groupIds[0]!] : [groupIds[1 + (i % 6)]!],
      }).id,
  );
  emu.setRoleAssignments(org.id, [{ groupId: groupIds[0]!, roleName: 'admin' }]);
  emu.createOrganization({ displayName: 'Globex', externalId: 'globex' });
  emu.createOrganization({ displayName: 'Umbrella' });
});

afterAll(async () => {
  await emu?.close();
});

describe('DirectoryService', () => {
  it('lists the organization directory and gets it by id', async () => {
    const { directories } = await sdk.directory.listDirectories(org.id);
    expect(directories).toHaveLength(1);
    const listed = directories[0]!;
    expect(listed.id).toBe(org.directoryId);
    expect(listed.organizationId).toBe(org.id);
    expect(listed.enabled).toBe(true);
    expect(listed.totalUsers).toBe(65);
    expect(listed.totalGroups).toBe(7);
    expect(listed.roleAssignments?.assignments.map((a) => [a.groupId, a.roleName])).toEqual([[groupIds[0], 'admin']]);

    const { directory } = await sdk.directory.getDirectory(org.id, org.directoryId);
    expect(directory?.id).toBe(org.directoryId);
    expect(directory?.directoryType).toBe(1); // SCIM
    expect(directory?.directoryProvider).toBe(1); // OKTA

    const primary = await sdk.directory.getPrimaryDirectoryByOrganizationId(org.id);
    expect(primary.id).toBe(org.directoryId);
  });

  it('pages through users 30 at a time with total_size, next and prev tokens', async () => {
    const pages = [];
    let pageToken = '';
    do {
      const page = await sdk.directory.listDirectoryUsers(org.id, org.directoryId, { pageSize: 30, pageToken });
      pages.push(page);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(pages.map((p) => p.users.length)).toEqual([30, 30, 5]);
    expect(pages.every((p) => p.totalSize === 65)).toBe(true);
    expect(pages[0]!.prevPageToken).toBe('');
    expect(pages[1]!.prevPageToken).not.toBe('');
    expect(pages[2]!.nextPageToken).toBe('');
    const ids = pages.flatMap((p) => p.users.map((u) => u.id));
    expect(ids).toEqual(userIds);

    // prev_page_token of the last page leads back to the second page.
    const back = await sdk.directory.listDirectoryUsers(org.id, org.directoryId, {
      pageSize: 30,
      pageToken: pages[2]!.prevPageToken,
    });
    expect(back.users.map((u) => u.id)).toEqual(pages[1]!.users.map((u) => u.id));

    const first = pages[0]!.users[0]!;
    expect(first.email).toBe('person0@initech.example');
    expect(first.givenName).toBe('Given0');
    expect(first.familyName).toBe('Family0');
    expect(first.preferredUsername).toBe('person0');
    expect(first.emails).toEqual(['person0@initech.example']);
    expect(first.groups.map((g) => g.id)).toEqual([groupIds[0]]);
    expect(first.updatedAt).toBeDefined();
    expect(first.userDetail).toBeUndefined();
  });

  it('serves 10 users by default and refuses a page size above 30', async () => {
    const page = await sdk.directory.listDirectoryUsers(org.id, org.directoryId);
    expect(page.users).toHaveLength(10);
    expect(page.totalSize).toBe(65);
    const err = await sdk.directory.listDirectoryUsers(org.id, org.directoryId, { pageSize: 31 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScalekitServerException);
    expect((err as ScalekitServerException).grpcStatus).toBe(3); // InvalidArgument
  });

  it('includes the full user payload with include_detail', async () => {
    const page = await sdk.directory.listDirectoryUsers(org.id, org.directoryId, { pageSize: 1, includeDetail: true });
    const detail = page.users[0]!.userDetail as Record<string, unknown>;
    expect(detail.id).toBe(userIds[0]);
    expect(detail.department).toBe('Sales');
    expect(detail.roles).toEqual([{ role_name: 'admin' }]);
    expect(detail.active).toBe(true);
  });

  it('filters users by directory_group_id', async () => {
    const expected = emu.snapshot(org.id).groups.find((g) => g.id === groupIds[0])!.memberIds;
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await sdk.directory.listDirectoryUsers(org.id, org.directoryId, {
        pageSize: 10,
        pageToken,
        directoryGroupId: groupIds[0]!,
      });
      expect(page.totalSize).toBe(expected.length);
      seen.push(...page.users.map((u) => u.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(expected);
    expect(expected.length).toBe(22);
  });

  it('filters users and groups by updated_after', async () => {
    await sleep(5);
    const since = new Date();
    await sleep(5);
    emu.updateUser(org.id, userIds[5]!, { title: 'Manager' });
    emu.updateUser(org.id, userIds[40]!, { title: 'Director' });
    emu.setUserGroups(org.id, userIds[64]!, [groupIds[2]!]);
    emu.updateGroup(org.id, groupIds[3]!, { displayName: 'Team Three' });

    const users = await sdk.directory.listDirectoryUsers(org.id, org.directoryId, { pageSize: 30, updatedAfter: since.toISOString() });
    expect(users.users.map((u) => u.id)).toEqual([userIds[5], userIds[40], userIds[64]]);
    expect(users.totalSize).toBe(3);
    const groups = await sdk.directory.listDirectoryGroups(org.id, org.directoryId, { updatedAfter: since.toISOString() });
    expect(groups.groups.map((g) => g.displayName)).toEqual(['Team Three']);
  });

  it('pages through groups with member counts', async () => {
    const first = await sdk.directory.listDirectoryGroups(org.id, org.directoryId, { pageSize: 3 });
    const second = await sdk.directory.listDirectoryGroups(org.id, org.directoryId, { pageSize: 3, pageToken: first.nextPageToken });
    const third = await sdk.directory.listDirectoryGroups(org.id, org.directoryId, { pageSize: 3, pageToken: second.nextPageToken });
    expect([first, second, third].map((p) => p.groups.length)).toEqual([3, 3, 1]);
    expect(third.nextPageToken).toBe('');
    expect(first.totalSize).toBe(7);
    const all = [...first.groups, ...second.groups, ...third.groups];
    expect(all.map((g) => g.id)).toEqual(groupIds);
    const snapshot = emu.snapshot(org.id);
    for (const g of all) expect(g.totalUsers).toBe(snapshot.groups.find((s) => s.id === g.id)!.memberIds.length);
    const detailed = await sdk.directory.listDirectoryGroups(org.id, org.directoryId, { pageSize: 1, includeDetail: true });
    expect((detailed.groups[0]!.groupDetail as Record<string, unknown>).directory_id).toBe(org.directoryId);
  });

  it('stops listing deleted and deactivated users', async () => {
    const scratch = emu.createOrganization({ displayName: 'Scratch' });
    const a = emu.createUser(scratch.id, { email: 'a@scratch.example' });
    const b = emu.createUser(scratch.id, { email: 'b@scratch.example' });
    const c = emu.createUser(scratch.id, { email: 'c@scratch.example' });
    emu.deleteUser(scratch.id, a.id);
    emu.updateUser(scratch.id, b.id, { active: false });
    const page = await sdk.directory.listDirectoryUsers(scratch.id, scratch.directoryId, { pageSize: 30 });
    expect(page.users.map((u) => u.id)).toEqual([c.id]);
    expect(page.totalSize).toBe(1);
  });

  it('enables and disables a directory through the SDK', async () => {
    const other = emu.createOrganization({ displayName: 'Toggle Co', directoryEnabled: false });
    const before = emu.events().length;
    expect((await sdk.directory.enableDirectory(other.id, other.directoryId)).enabled).toBe(true);
    const again = await sdk.directory.enableDirectory(other.id, other.directoryId);
    expect(again.errorMessage).toMatch(/already enabled/);
    expect((await sdk.directory.disableDirectory(other.id, other.directoryId)).enabled).toBe(false);
    expect(
      emu
        .events()
        .slice(before)
        .map((e) => e.type),
    ).toEqual(['organization.directory_enabled', 'organization.directory_disabled']);
  });

  it('maps unknown organizations and directories to ScalekitNotFoundException', async () => {
    const unknownOrg = await sdk.directory.listDirectories('org_404').catch((e: unknown) => e);
    expect(unknownOrg).toBeInstanceOf(ScalekitNotFoundException);
    expect((unknownOrg as ScalekitNotFoundException).grpcStatus).toBe(5);
    expect((unknownOrg as ScalekitNotFoundException).httpStatus).toBe(404);
    await expect(sdk.directory.getDirectory(org.id, 'dir_404')).rejects.toBeInstanceOf(ScalekitNotFoundException);
    await expect(sdk.directory.listDirectoryUsers(org.id, 'dir_404')).rejects.toBeInstanceOf(ScalekitNotFoundException);
    await expect(sdk.organization.getOrganization('org_404')).rejects.toBeInstanceOf(ScalekitNotFoundException);
    await expect(sdk.organization.getOrganizationByExternalId('nobody')).rejects.toBeInstanceOf(ScalekitNotFoundException);
  });
});

describe('OrganizationService', () => {
  it('gets an organization by id and by external id', async () => {
    const byId = await sdk.organization.getOrganization(org.id);
    expect(byId.organization?.displayName).toBe('Initech');
    expect(byId.organization?.externalId).toBe('initech');
    const byExternal = await sdk.organization.getOrganizationByExternalId('globex');
    expect(byExternal.organization?.displayName).toBe('Globex');
  });

  it('pages through organizations', async () => {
    const names: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await sdk.organization.listOrganization({ pageSize: 2, pageToken });
      expect(page.totalSize).toBe(emu.listOrganizations().length);
      names.push(...page.organizations.map((o) => o.displayName));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(names).toEqual(emu.listOrganizations().map((o) => o.displayName));
    expect(pages).toBe(Math.ceil(names.length / 2));
    expect(names.slice(0, 3)).toEqual(['Initech', 'Globex', 'Umbrella']);
  });

  it('generates a portal link served by the emulator, valid for a minute', async () => {
    const link = await sdk.organization.generatePortalLink(org.id);
    expect(link.id).toMatch(/^lnk_\d+$/);
    expect(link.location.startsWith(`${emu.url}/portal/${link.id}`)).toBe(true);
    const expiresInMs = Number(link.expireTime!.seconds) * 1000 + link.expireTime!.nanos / 1e6 - Date.now();
    expect(expiresInMs).toBeGreaterThan(50_000);
    expect(expiresInMs).toBeLessThanOrEqual(60_000);
  });
});

describe('tokens', () => {
  it('fetches a token after the first Unauthenticated and reuses it', async () => {
    const fresh = await startEmulator({ seed: 12 });
    try {
      const o = fresh.createOrganization({ displayName: 'Fresh' });
      const client = new ScalekitClient(fresh.url, fresh.clientId, fresh.clientSecret);
      await client.directory.listDirectories(o.id);
      await client.directory.listDirectories(o.id);
      const { tokens, rpcCalls } = fresh.stats();
      expect(tokens.issued).toBe(1);
      expect(tokens.missingOrUnknownRejections).toBe(1);
      expect(rpcCalls.ListDirectories).toBe(3);
    } finally {
      await fresh.close();
    }
  });

  it('rejects an expired token so the SDK fetches a new one', async () => {
    const shortLived = await startEmulator({ seed: 13, tokenTtlSeconds: 1 });
    try {
      const o = shortLived.createOrganization({ displayName: 'Short' });
      const client = new ScalekitClient(shortLived.url, shortLived.clientId, shortLived.clientSecret);
      await client.directory.listDirectories(o.id);
      expect(shortLived.stats().tokens.issued).toBe(1);
      await sleep(1_200);
      const { directories } = await client.directory.listDirectories(o.id);
      expect(directories[0]!.id).toBe(o.directoryId);
      const { tokens } = shortLived.stats();
      expect(tokens.expiredRejections).toBe(1);
      expect(tokens.issued).toBe(2);
    } finally {
      await shortLived.close();
    }
  });

  it('refuses unknown client credentials at the token endpoint', async () => {
    const bad = new ScalekitClient(emu.url, emu.clientId, 'not-the-secret');
    const err = await bad.directory.listDirectories(org.id).catch((e: unknown) => e);
    expect((err as { response?: { status?: number } }).response?.status).toBe(401);
    expect(emu.stats().tokens.refusedClients).toBeGreaterThanOrEqual(1);
    const wrongId = new ScalekitClient(emu.url, 'skc_unknown', emu.clientSecret);
    await expect(wrongId.organization.getOrganization(org.id)).rejects.toMatchObject({ response: { status: 401 } });
  });
});
