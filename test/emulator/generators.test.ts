import { ScalekitClient } from '@scalekit-sdk/node';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type DirectorySnapshot, type EmulatorHandle } from '../../emulator';

// Generated directories: the same seed gives the same directory; a big one is served by the API.

const running: EmulatorHandle[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()!.close();
});

async function emulator(seed: number): Promise<EmulatorHandle> {
  const emu = await startEmulator({ seed });
  running.push(emu);
  return emu;
}

/** The snapshot without timestamps, which depend on when it ran. */
function content(s: DirectorySnapshot) {
  return {
    organization: s.organization,
    directory: { ...s.directory, updatedAt: undefined },
    users: s.users.map((u) => ({ ...u, updatedAt: undefined })),
    groups: s.groups.map((g) => ({ ...g, updatedAt: undefined })),
  };
}

function digest(s: DirectorySnapshot): string {
  const h = createHash('sha256');
  for (const u of s.users) h.update(`${u.id}|${u.email}|${u.dpId}|${u.groupIds.join(',')}|${u.roles.join(',')}\n`);
  for (const g of s.groups) h.update(`${g.id}|${g.displayName}|${g.memberIds.length}\n`);
  return h.digest('hex');
}

describe('demo organization', () => {
  it('is the same directory for the same seed', async () => {
    const a = await emulator(5);
    const b = await emulator(5);
    const snapA = a.snapshot(a.seedDemo({ seed: 99 }).id);
    const snapB = b.snapshot(b.seedDemo({ seed: 99 }).id);
    expect(content(snapB)).toEqual(content(snapA));

    const c = await emulator(5);
    const snapC = c.snapshot(c.seedDemo({ seed: 100 }).id);
    expect(snapC.users.map((u) => u.email)).not.toEqual(snapA.users.map((u) => u.email));
  });

  it('has about 50 people in 6 groups with role assignments, and sends nothing by default', async () => {
    const emu = await emulator(6);
    const org = emu.seedDemo();
    const snap = emu.snapshot(org.id);
    expect(snap.users).toHaveLength(50);
    expect(snap.groups.map((g) => g.displayName)).toEqual(['Engineering', 'Product', 'Sales', 'Support', 'Finance', 'Administrators']);
    expect(snap.directory.roleAssignments).toHaveLength(4);
    expect(snap.directory.enabled).toBe(true);
    expect(snap.users.every((u) => u.groupIds.length >= 1)).toBe(true);
    expect(snap.users.filter((u) => u.roles.includes('admin'))).toHaveLength(3);
    expect(new Set(snap.users.map((u) => u.email)).size).toBe(50);
    expect(org.externalId).toBe('acme');
    expect(emu.events()).toHaveLength(0);
  });

  it('sends the webhooks of its creation when asked', async () => {
    const emu = await emulator(7);
    emu.seedDemo({ emitWebhooks: true });
    const counts: Record<string, number> = {};
    for (const e of emu.events()) counts[e.type] = (counts[e.type] ?? 0) + 1;
    expect(counts).toEqual({
      'organization.directory_enabled': 1,
      'organization.directory.group_created': 6,
      'organization.directory.user_created': 50,
    });
  });
});

describe('large directories', () => {
  it('builds 100,000 users in 1,000 groups, the same from the same seed, served by the Directory API', async () => {
    const a = await emulator(8);
    const result = a.generateLarge({ users: 100_000, groups: 1_000, seed: 3 });
    expect(result.users).toBe(100_000);
    expect(result.groups).toBe(1_000);
    expect(result.memberships).toBeGreaterThanOrEqual(100_000);
    expect(result.memberships).toBeLessThanOrEqual(300_000);
    expect(a.events()).toHaveLength(0);

    const snapA = a.snapshot(result.organization.id);
    expect(snapA.users).toHaveLength(100_000);
    expect(new Set(snapA.users.map((u) => u.email)).size).toBe(100_000);

    const b = await emulator(8);
    const again = b.generateLarge({ users: 100_000, groups: 1_000, seed: 3 });
    expect(digest(b.snapshot(again.organization.id))).toBe(digest(snapA));
    const other = b.generateLarge({ users: 100_000, groups: 1_000, seed: 4 });
    expect(digest(b.snapshot(other.organization.id))).not.toBe(digest(snapA));

    const sdk = new ScalekitClient(a.url, a.clientId, a.clientSecret);
    const { id, directoryId } = result.organization;
    const first = await sdk.directory.listDirectoryUsers(id, directoryId, { pageSize: 30 });
    expect(first.totalSize).toBe(100_000);
    expect(first.users.map((u) => u.id)).toEqual(snapA.users.slice(0, 30).map((u) => u.id));
    const second = await sdk.directory.listDirectoryUsers(id, directoryId, { pageSize: 30, pageToken: first.nextPageToken });
    expect(second.users.map((u) => u.id)).toEqual(snapA.users.slice(30, 60).map((u) => u.id));
    const group = snapA.groups[17]!;
    const members = await sdk.directory.listDirectoryUsers(id, directoryId, { pageSize: 30, directoryGroupId: group.id });
    expect(members.totalSize).toBe(group.memberIds.length);
    const groups = await sdk.directory.listDirectoryGroups(id, directoryId, { pageSize: 30 });
    expect(groups.totalSize).toBe(1_000);
    expect(groups.groups[17]!.totalUsers).toBe(group.memberIds.length);
  });
});
