import { describe, expect, it } from 'vitest';
import { entitiesOf, planBatch } from '../../domain/plan';
import type { BatchPlan, StoredDirectoryState, StoredGroup, StoredUser } from '../../domain/plan';
import type { DirectoryEvent, DirectoryGroupRecord, DirectoryUserRecord, GroupEventType, UserEventType } from '../../domain/events';

// ---------------------------------------------------------------------------------------------
// Builders. Times are seconds after a fixed base; each event gets a nanosecond tail so the
// freshness clock is exercised beyond millisecond precision.

const BASE_S = 1_767_225_600n; // 2026-01-01T00:00:00Z

function at(seconds: number, nanos = 0): { occurredAt: string; occurredAtNs: string } {
  const iso = new Date(Number(BASE_S) * 1000 + seconds * 1000).toISOString().slice(0, 19);
  return {
    occurredAt: `${iso}.${String(nanos).padStart(9, '0')}Z`,
    occurredAtNs: ((BASE_S + BigInt(seconds)) * 1_000_000_000n + BigInt(nanos)).toString(),
  };
}

let seq = 0;
function nextId(): string {
  seq += 1;
  return `evt_${String(seq).padStart(6, '0')}`;
}

const ORG = 'org_1';

function base(t: number, id = nextId()) {
  return {
    id,
    organizationId: ORG,
    environmentId: 'env_1',
    ...at(t, 7),
    webhookId: null,
    receivedAt: '2026-02-01T00:00:00.000Z',
  };
}

type UserInput = Partial<Omit<DirectoryUserRecord, 'id'>> & { id: string };

function userEvent(type: 'created' | 'updated' | 'deleted', t: number, user: UserInput, id?: string): DirectoryEvent {
  return {
    ...base(t, id),
    kind: 'user',
    type: `organization.directory.user_${type}` as UserEventType,
    user: { attributes: {}, ...user },
  };
}

function groupEvent(
  type: 'created' | 'updated' | 'deleted',
  t: number,
  group: Partial<DirectoryGroupRecord> & { id: string },
  id?: string,
): DirectoryEvent {
  return {
    ...base(t, id),
    kind: 'group',
    type: `organization.directory.group_${type}` as GroupEventType,
    group: { attributes: {}, ...group },
  };
}

function directoryEvent(enabled: boolean, t: number, id?: string, directoryId = 'dir_1'): DirectoryEvent {
  return {
    ...base(t, id),
    kind: 'directory',
    type: enabled ? 'organization.directory_enabled' : 'organization.directory_disabled',
    directory: { id: directoryId, directoryType: 'SCIM', provider: 'OKTA', enabled },
  };
}

function storedDirectory(directoryId: string, over: Partial<StoredDirectoryState> = {}): StoredDirectoryState {
  return { directoryId, enabled: true, sourceNs: null, removed: false, ...over };
}

function storedUser(id: string, t: number, over: Partial<StoredUser> = {}): StoredUser {
  return {
    id,
    email: 'john@example.com',
    preferredUsername: 'john',
    name: 'John Doe',
    givenName: 'John',
    familyName: 'Doe',
    dpId: 'ext-1',
    directoryId: 'dir_1',
    active: true,
    roles: ['viewer'],
    attributes: { department: 'Sales', title: 'Rep' },
    sourceNs: at(t, 7).occurredAtNs,
    deactivatedAt: null,
    ...over,
  };
}

function storedGroup(id: string, t: number, over: Partial<StoredGroup> = {}): StoredGroup {
  return {
    id,
    displayName: `Group ${id}`,
    directoryId: 'dir_1',
    externalId: null,
    attributes: {},
    deleted: false,
    deletedAt: null,
    sourceNs: at(t, 7).occurredAtNs,
    ...over,
  };
}

function plan(
  events: DirectoryEvent[],
  stored: { users?: StoredUser[]; groups?: StoredGroup[]; directories?: StoredDirectoryState[] } = {},
): BatchPlan {
  return planBatch({
    events,
    users: new Map((stored.users ?? []).map((u) => [u.id, u])),
    groups: new Map((stored.groups ?? []).map((g) => [g.id, g])),
    directories: stored.directories ?? [],
  });
}

function userOf(p: BatchPlan, id: string) {
  const u = p.users.get(id);
  if (!u) throw new Error(`plan has no write for user ${id}`);
  return u;
}

function groupOf(p: BatchPlan, id: string) {
  const g = p.groups.get(id);
  if (!g) throw new Error(`plan has no write for group ${id}`);
  return g;
}

function membershipOf(p: BatchPlan, id: string): string[] | undefined {
  const s = p.memberships.get(id);
  return s ? [...s].sort() : undefined;
}

// ---------------------------------------------------------------------------------------------

describe('user_created', () => {
  it('creates an active user with the carried profile, freshness and source event', () => {
    const e = userEvent('created', 10, {
      id: 'diruser_1',
      email: 'a@example.com',
      preferredUsername: 'a',
      name: 'Ada L',
      givenName: 'Ada',
      familyName: 'Lovelace',
      dpId: 'ext-a',
      roles: ['admin'],
      attributes: { department: 'R&D' },
    });
    const p = plan([e]);
    expect(p.outcomes.get(e.id)).toEqual({ outcome: 'applied', detail: null });
    expect(userOf(p, 'diruser_1')).toEqual({
      id: 'diruser_1',
      email: 'a@example.com',
      preferredUsername: 'a',
      name: 'Ada L',
      givenName: 'Ada',
      familyName: 'Lovelace',
      dpId: 'ext-a',
      directoryId: null,
      active: true,
      roles: ['admin'],
      attributes: { department: 'R&D' },
      sourceNs: e.occurredAtNs,
      deactivatedAt: null,
      sourceEventId: e.id,
    });
    expect(p.directories.size).toBe(0);
    expect(p.clearedGroups.size).toBe(0);
  });

  it('fills absent fields of a new user with nulls / empty lists', () => {
    const e = userEvent('created', 10, { id: 'diruser_1' });
    const u = userOf(plan([e]), 'diruser_1');
    expect(u).toMatchObject({ email: null, name: null, givenName: null, familyName: null, dpId: null, roles: [], active: true });
  });

  it('creates an inactive user when user_created says active: false', () => {
    const e = userEvent('created', 10, { id: 'diruser_1', active: false, groups: [{ id: 'dirgroup_1', name: 'G' }] });
    const p = plan([e]);
    const u = userOf(p, 'diruser_1');
    expect(u.active).toBe(false);
    expect(u.deactivatedAt).toBe(e.occurredAt);
    expect(membershipOf(p, 'diruser_1')).toEqual([]);
  });

  it('records memberships from groups[]', () => {
    const e = userEvent('created', 10, {
      id: 'diruser_1',
      groups: [
        { id: 'dirgroup_a', name: 'A' },
        { id: 'dirgroup_b', name: 'B' },
      ],
    });
    const p = plan([e], { groups: [storedGroup('dirgroup_a', 1), storedGroup('dirgroup_b', 1)] });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_a', 'dirgroup_b']);
    // Known groups are not rewritten.
    expect(p.groups.size).toBe(0);
  });

  it('does not determine memberships when groups[] is absent', () => {
    const p = plan([userEvent('created', 10, { id: 'diruser_1' })]);
    expect(p.memberships.has('diruser_1')).toBe(false);
  });
});

describe('display name', () => {
  it('is derived from given and family names when `name` is absent', () => {
    const p = plan([userEvent('created', 10, { id: 'diruser_1', givenName: 'Dayton', familyName: 'Jaquelin' })]);
    expect(userOf(p, 'diruser_1').name).toBe('Dayton Jaquelin');
  });

  it('is derived from whichever part exists', () => {
    const p = plan([
      userEvent('created', 10, { id: 'diruser_1', givenName: 'Dayton' }),
      userEvent('created', 10, { id: 'diruser_2', familyName: 'Jaquelin', givenName: '' }),
    ]);
    expect(userOf(p, 'diruser_1').name).toBe('Dayton');
    expect(userOf(p, 'diruser_2').name).toBe('Jaquelin');
  });

  it('is derived when `name` is null', () => {
    const p = plan([userEvent('created', 10, { id: 'diruser_1', name: null, givenName: 'Dayton', familyName: 'Jaquelin' })]);
    expect(userOf(p, 'diruser_1').name).toBe('Dayton Jaquelin');
  });

  it('prefers `name` when carried', () => {
    const p = plan([userEvent('created', 10, { id: 'diruser_1', name: 'QDRGUZZDYMFU', givenName: 'Dayton', familyName: 'Jaquelin' })]);
    expect(userOf(p, 'diruser_1').name).toBe('QDRGUZZDYMFU');
  });

  it('is re-derived when an update changes the family name', () => {
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', givenName: 'John', familyName: 'Smith' })], {
      users: [storedUser('diruser_1', 1)],
    });
    expect(userOf(p, 'diruser_1').name).toBe('John Smith');
  });

  it('is null when nothing names the user', () => {
    const p = plan([userEvent('created', 10, { id: 'diruser_1', email: 'x@example.com' })]);
    expect(userOf(p, 'diruser_1').name).toBeNull();
  });
});

describe('user_updated', () => {
  it('carries the whole user: profile fields it leaves out were cleared; roles and groups stay unless carried', () => {
    const e = userEvent('updated', 10, { id: 'diruser_1', email: 'new@example.com', givenName: 'John' });
    const p = plan([e], { users: [storedUser('diruser_1', 1)] });
    const u = userOf(p, 'diruser_1');
    expect(u).toMatchObject({
      email: 'new@example.com',
      preferredUsername: null,
      name: 'John',
      givenName: 'John',
      familyName: null,
      dpId: null,
      roles: ['viewer'],
      active: true,
      deactivatedAt: null,
      sourceNs: e.occurredAtNs,
      sourceEventId: e.id,
    });
    expect(p.outcomes.get(e.id)).toEqual({ outcome: 'applied', detail: null });
    // No groups[] carried: memberships untouched.
    expect(p.memberships.has('diruser_1')).toBe(false);
  });

  it('an explicit null clears a field', () => {
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', dpId: null, preferredUsername: null })], {
      users: [storedUser('diruser_1', 1)],
    });
    const u = userOf(p, 'diruser_1');
    expect(u.dpId).toBeNull();
    expect(u.preferredUsername).toBeNull();
    expect(u.email).toBeNull();
  });

  it('replaces roles only when carried', () => {
    const stored = [storedUser('diruser_1', 1)];
    expect(userOf(plan([userEvent('updated', 10, { id: 'diruser_1', roles: ['admin'] })], { users: stored }), 'diruser_1').roles).toEqual([
      'admin',
    ]);
    expect(userOf(plan([userEvent('updated', 10, { id: 'diruser_1', roles: [] })], { users: stored }), 'diruser_1').roles).toEqual([]);
    expect(userOf(plan([userEvent('updated', 10, { id: 'diruser_1' })], { users: stored }), 'diruser_1').roles).toEqual(['viewer']);
  });

  it('replaces the attributes with the ones carried (an attribute removed in the IdP goes)', () => {
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', attributes: { title: 'Manager' } })], {
      users: [storedUser('diruser_1', 1)],
    });
    expect(userOf(p, 'diruser_1').attributes).toEqual({ title: 'Manager' });
  });

  it('user_deleted carrying only id and email keeps the stored profile and attributes', () => {
    const p = plan([userEvent('deleted', 10, { id: 'diruser_1', email: 'john@example.com' })], {
      users: [storedUser('diruser_1', 1)],
    });
    expect(userOf(p, 'diruser_1')).toMatchObject({
      active: false,
      givenName: 'John',
      attributes: { department: 'Sales', title: 'Rep' },
    });
  });

  it('creates an active user when the update is the first thing seen', () => {
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', email: 'a@example.com' })]);
    expect(userOf(p, 'diruser_1')).toMatchObject({ active: true, deactivatedAt: null, email: 'a@example.com' });
  });

  it('an older update than stored is stale and writes nothing', () => {
    const e = userEvent('updated', 5, { id: 'diruser_1', email: 'old@example.com', groups: [{ id: 'dirgroup_new', name: 'N' }] });
    const p = plan([e], { users: [storedUser('diruser_1', 10)] });
    const out = p.outcomes.get(e.id);
    expect(out?.outcome).toBe('stale');
    expect(out?.detail).toContain('diruser_1');
    expect(p.users.size).toBe(0);
    expect(p.memberships.size).toBe(0);
    // Not even a placeholder for the group it mentions.
    expect(p.groups.size).toBe(0);
  });

  it('is stale even when older by a single nanosecond', () => {
    const stored = storedUser('diruser_1', 10, { sourceNs: at(10, 8).occurredAtNs });
    const e = userEvent('updated', 10, { id: 'diruser_1', email: 'old@example.com' }); // at(10, 7)
    const p = plan([e], { users: [stored] });
    expect(p.outcomes.get(e.id)?.outcome).toBe('stale');
  });

  it('an update at exactly the stored time is applied (only older is stale)', () => {
    const e = userEvent('updated', 10, { id: 'diruser_1', email: 'same@example.com' });
    const p = plan([e], { users: [storedUser('diruser_1', 10)] });
    expect(p.outcomes.get(e.id)?.outcome).toBe('applied');
    expect(userOf(p, 'diruser_1').email).toBe('same@example.com');
  });

  it('compares freshness as numbers, not as text', () => {
    // A stored value with fewer digits is older even though it sorts after the event as text.
    const storedNs = '999999999999999999';
    const e = userEvent('updated', 10, { id: 'diruser_1', email: 'new@example.com' });
    expect(e.occurredAtNs < storedNs).toBe(true); // as text, the event looks older
    const p = plan([e], { users: [storedUser('diruser_1', 1, { sourceNs: storedNs })] });
    expect(p.outcomes.get(e.id)?.outcome).toBe('applied');
  });

  it('active: false deactivates and drops memberships', () => {
    const e = userEvent('updated', 10, { id: 'diruser_1', active: false, groups: [{ id: 'dirgroup_a', name: 'A' }] });
    const p = plan([e], { users: [storedUser('diruser_1', 1)], groups: [storedGroup('dirgroup_a', 1)] });
    const u = userOf(p, 'diruser_1');
    expect(u.active).toBe(false);
    expect(u.deactivatedAt).toBe(e.occurredAt);
    expect(membershipOf(p, 'diruser_1')).toEqual([]);
    expect(p.outcomes.get(e.id)?.detail).toMatch(/deactivated/);
  });

  it('active: false on an already inactive user keeps the original deactivation time', () => {
    const stored = storedUser('diruser_1', 1, { active: false, deactivatedAt: '2025-12-01T00:00:00Z' });
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', active: false })], { users: [stored] });
    expect(userOf(p, 'diruser_1').deactivatedAt).toBe('2025-12-01T00:00:00Z');
  });
});

describe('user_deleted', () => {
  it('deactivates (never deletes), keeps the profile, drops memberships', () => {
    const e = userEvent('deleted', 10, { id: 'diruser_1', email: 'john@example.com', dpId: 'ext-1' });
    const p = plan([e], { users: [storedUser('diruser_1', 1)] });
    const u = userOf(p, 'diruser_1');
    expect(u).toMatchObject({
      active: false,
      deactivatedAt: e.occurredAt,
      name: 'John Doe',
      roles: ['viewer'],
      attributes: { department: 'Sales', title: 'Rep' },
      sourceNs: e.occurredAtNs,
      sourceEventId: e.id,
    });
    expect(membershipOf(p, 'diruser_1')).toEqual([]);
    expect(p.outcomes.get(e.id)).toEqual({ outcome: 'applied', detail: 'deactivated' });
  });

  it('updates the email when the delete carries one', () => {
    const p = plan([userEvent('deleted', 10, { id: 'diruser_1', email: 'renamed@example.com' })], { users: [storedUser('diruser_1', 1)] });
    expect(userOf(p, 'diruser_1').email).toBe('renamed@example.com');
  });

  it('deleting an already inactive user keeps its first deactivation time', () => {
    const stored = storedUser('diruser_1', 1, { active: false, deactivatedAt: '2025-12-01T00:00:00Z' });
    const e = userEvent('deleted', 10, { id: 'diruser_1' });
    const p = plan([e], { users: [stored] });
    expect(userOf(p, 'diruser_1').deactivatedAt).toBe('2025-12-01T00:00:00Z');
    expect(p.outcomes.get(e.id)?.detail).toBe('already inactive');
  });

  it('for an unseen user writes an inactive tombstone', () => {
    const e = userEvent('deleted', 10, { id: 'diruser_ghost', email: 'ghost@example.com' });
    const p = plan([e]);
    expect(userOf(p, 'diruser_ghost')).toMatchObject({
      active: false,
      email: 'ghost@example.com',
      deactivatedAt: e.occurredAt,
      sourceNs: e.occurredAtNs,
    });
    expect(p.outcomes.get(e.id)).toEqual({ outcome: 'applied', detail: 'tombstone recorded for an unseen user' });
  });

  it('the tombstone makes an older user_created stale, in the same batch', () => {
    const del = userEvent('deleted', 10, { id: 'diruser_ghost' });
    const created = userEvent('created', 5, { id: 'diruser_ghost', email: 'ghost@example.com' });
    const p = plan([del, created]);
    expect(p.outcomes.get(created.id)?.outcome).toBe('stale');
    expect(userOf(p, 'diruser_ghost')).toMatchObject({ active: false, sourceEventId: del.id, email: null });
  });

  it('the tombstone makes an older user_created stale, in a later batch', () => {
    const del = userEvent('deleted', 10, { id: 'diruser_ghost' });
    const tomb = userOf(plan([del]), 'diruser_ghost');
    const created = userEvent('created', 5, { id: 'diruser_ghost', email: 'ghost@example.com' });
    const { sourceEventId: _ignored, ...stored } = tomb;
    const p = plan([created], { users: [stored] });
    expect(p.outcomes.get(created.id)?.outcome).toBe('stale');
    expect(p.users.size).toBe(0);
  });
});

describe('after a delete', () => {
  const deleted = () => storedUser('diruser_1', 10, { active: false, deactivatedAt: at(10, 7).occurredAt });

  it('a stale update (older than the delete) keeps the user inactive', () => {
    const e = userEvent('updated', 5, { id: 'diruser_1', active: true, email: 'late@example.com' });
    const p = plan([e], { users: [deleted()] });
    expect(p.outcomes.get(e.id)?.outcome).toBe('stale');
    expect(p.users.has('diruser_1')).toBe(false);
  });

  it('a stale update after a delete in the same batch keeps the user inactive', () => {
    const del = userEvent('deleted', 10, { id: 'diruser_1' });
    const late = userEvent('updated', 5, { id: 'diruser_1', active: true, email: 'late@example.com' });
    const p = plan([del, late], { users: [storedUser('diruser_1', 1)] });
    expect(p.outcomes.get(late.id)?.outcome).toBe('stale');
    expect(userOf(p, 'diruser_1')).toMatchObject({ active: false, email: 'john@example.com', sourceEventId: del.id });
  });

  it('a newer update that does not mention `active` does not resurrect the user', () => {
    const e = userEvent('updated', 20, { id: 'diruser_1', email: 'new@example.com' });
    const p = plan([e], { users: [deleted()] });
    expect(userOf(p, 'diruser_1')).toMatchObject({ active: false, email: 'new@example.com' });
    expect(userOf(p, 'diruser_1').deactivatedAt).toBe(at(10, 7).occurredAt);
  });

  it('a newer user_created reactivates (deactivatedAt cleared)', () => {
    const e = userEvent('created', 20, { id: 'diruser_1', groups: [{ id: 'dirgroup_a', name: 'A' }] });
    const p = plan([e], { users: [deleted()], groups: [storedGroup('dirgroup_a', 1)] });
    expect(userOf(p, 'diruser_1')).toMatchObject({ active: true, deactivatedAt: null });
    expect(p.outcomes.get(e.id)).toEqual({ outcome: 'applied', detail: 'reactivated' });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_a']);
  });

  it('a newer update with active: true reactivates', () => {
    const e = userEvent('updated', 20, { id: 'diruser_1', active: true });
    const p = plan([e], { users: [deleted()] });
    expect(userOf(p, 'diruser_1')).toMatchObject({ active: true, deactivatedAt: null });
    expect(p.outcomes.get(e.id)?.detail).toBe('reactivated');
  });
});

describe('memberships', () => {
  it('groups[] replaces the membership set (the stored set is not merged in)', () => {
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_b', name: 'B' }] })], {
      users: [storedUser('diruser_1', 1)],
      groups: [storedGroup('dirgroup_a', 1), storedGroup('dirgroup_b', 1)],
    });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_b']);
  });

  it('an empty groups[] means member of nothing', () => {
    const p = plan([userEvent('updated', 10, { id: 'diruser_1', groups: [] })], { users: [storedUser('diruser_1', 1)] });
    expect(membershipOf(p, 'diruser_1')).toEqual([]);
  });

  it('never includes a deleted group, and does not overwrite it with a placeholder', () => {
    const dead = storedGroup('dirgroup_dead', 5, { deleted: true, deletedAt: at(5).occurredAt });
    const p = plan(
      [
        userEvent('updated', 10, {
          id: 'diruser_1',
          groups: [
            { id: 'dirgroup_dead', name: 'Dead' },
            { id: 'dirgroup_live', name: 'Live' },
          ],
        }),
      ],
      { users: [storedUser('diruser_1', 1)], groups: [dead, storedGroup('dirgroup_live', 1)] },
    );
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_live']);
    expect(p.groups.has('dirgroup_dead')).toBe(false);
  });

  it('group_deleted removes the group from memberships computed earlier in the batch and lists it in clearedGroups', () => {
    const groups = [storedGroup('dirgroup_a', 1), storedGroup('dirgroup_b', 1)];
    const u1 = userEvent('updated', 10, {
      id: 'diruser_1',
      groups: [
        { id: 'dirgroup_a', name: 'A' },
        { id: 'dirgroup_b', name: 'B' },
      ],
    });
    const u2 = userEvent('updated', 11, { id: 'diruser_2', groups: [{ id: 'dirgroup_a', name: 'A' }] });
    const del = groupEvent('deleted', 12, { id: 'dirgroup_a' });
    const u3 = userEvent('updated', 13, { id: 'diruser_3', groups: [{ id: 'dirgroup_a', name: 'A' }] });
    const p = plan([u1, u2, del, u3], {
      users: [storedUser('diruser_1', 1), storedUser('diruser_2', 1), storedUser('diruser_3', 1)],
      groups,
    });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_b']);
    expect(membershipOf(p, 'diruser_2')).toEqual([]);
    // After the deletion in the same batch, a reference to the group is not a membership either.
    expect(membershipOf(p, 'diruser_3')).toEqual([]);
    expect([...p.clearedGroups]).toEqual(['dirgroup_a']);
    expect(groupOf(p, 'dirgroup_a')).toMatchObject({ deleted: true, deletedAt: del.occurredAt, sourceEventId: del.id });
    expect(p.outcomes.get(del.id)).toEqual({ outcome: 'applied', detail: 'group soft-deleted, memberships dropped' });
  });

  it('a stale group_deleted clears nothing', () => {
    const u1 = userEvent('updated', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_a', name: 'A' }] });
    const del = groupEvent('deleted', 2, { id: 'dirgroup_a' });
    const p = plan([u1, del], { users: [storedUser('diruser_1', 1)], groups: [storedGroup('dirgroup_a', 5)] });
    expect(p.outcomes.get(del.id)?.outcome).toBe('stale');
    expect(p.clearedGroups.size).toBe(0);
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_a']);
  });

  it('unknown groups get placeholder rows with freshness 0 and no source event', () => {
    const e = userEvent('created', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_new', name: 'Engineering' }] });
    const p = plan([e]);
    expect(groupOf(p, 'dirgroup_new')).toEqual({
      id: 'dirgroup_new',
      displayName: 'Engineering',
      directoryId: null,
      externalId: null,
      attributes: {},
      deleted: false,
      deletedAt: null,
      sourceNs: '0',
      sourceEventId: null,
    });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_new']);
    // Placeholders are not events: no outcome is recorded for them.
    expect(p.outcomes.size).toBe(1);
  });

  it('a later group event in the batch overrides the placeholder, whatever its time', () => {
    const u = userEvent('created', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_new', name: 'From user' }] });
    const g = groupEvent('created', 3, { id: 'dirgroup_new', displayName: 'Engineering', directoryId: 'dir_1', externalId: 'x' });
    const p = plan([u, g]);
    expect(p.outcomes.get(g.id)?.outcome).toBe('applied');
    expect(groupOf(p, 'dirgroup_new')).toMatchObject({
      displayName: 'Engineering',
      directoryId: 'dir_1',
      externalId: 'x',
      sourceNs: g.occurredAtNs,
      sourceEventId: g.id,
    });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_new']);
  });

  it('a stored placeholder (freshness 0) is filled in by a group event in a later batch', () => {
    const placeholder = storedGroup('dirgroup_new', 0, { sourceNs: '0', displayName: 'From user', directoryId: null });
    const g = groupEvent('updated', 3, { id: 'dirgroup_new', displayName: 'Engineering' });
    const p = plan([g], { groups: [placeholder] });
    expect(p.outcomes.get(g.id)?.outcome).toBe('applied');
    expect(groupOf(p, 'dirgroup_new').displayName).toBe('Engineering');
  });

  it('an inactive user gets no memberships and causes no placeholders', () => {
    const e = userEvent('updated', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_new', name: 'N' }] });
    const p = plan([e], { users: [storedUser('diruser_1', 1, { active: false, deactivatedAt: 'x' })] });
    expect(membershipOf(p, 'diruser_1')).toEqual([]);
    expect(p.groups.size).toBe(0);
  });
});

describe('groups', () => {
  it('group_created writes the group', () => {
    const g = groupEvent('created', 10, {
      id: 'dirgroup_a',
      displayName: 'Avengers',
      directoryId: 'dir_1',
      externalId: null,
      attributes: { raw_attributes: {} },
    });
    const p = plan([g]);
    expect(groupOf(p, 'dirgroup_a')).toEqual({
      id: 'dirgroup_a',
      displayName: 'Avengers',
      directoryId: 'dir_1',
      externalId: null,
      attributes: { raw_attributes: {} },
      deleted: false,
      deletedAt: null,
      sourceNs: g.occurredAtNs,
      sourceEventId: g.id,
    });
  });

  it('group_updated carries the whole group; the directory id stays when not carried', () => {
    const g = groupEvent('updated', 10, { id: 'dirgroup_a', displayName: 'Renamed' });
    const p = plan([g], { groups: [storedGroup('dirgroup_a', 1, { externalId: 'ext', directoryId: 'dir_9' })] });
    expect(groupOf(p, 'dirgroup_a')).toMatchObject({ displayName: 'Renamed', externalId: null, directoryId: 'dir_9' });
  });

  it('group_updated replaces the attributes', () => {
    const g = groupEvent('updated', 10, { id: 'dirgroup_a', displayName: 'Renamed', attributes: { raw_attributes: {} } });
    const stored = storedGroup('dirgroup_a', 1, { attributes: { dp_id: '7c66a173', raw_attributes: { old: true } } });
    const p = plan([g], { groups: [stored] });
    expect(groupOf(p, 'dirgroup_a').attributes).toEqual({ raw_attributes: {} });
  });

  it('an older group event is stale', () => {
    const g = groupEvent('updated', 1, { id: 'dirgroup_a', displayName: 'Old' });
    const p = plan([g], { groups: [storedGroup('dirgroup_a', 10)] });
    expect(p.outcomes.get(g.id)?.outcome).toBe('stale');
    expect(p.groups.size).toBe(0);
  });

  it('group_deleted for an unseen group records a tombstone that makes an older create stale', () => {
    const del = groupEvent('deleted', 10, { id: 'dirgroup_x', displayName: 'X' });
    const created = groupEvent('created', 5, { id: 'dirgroup_x', displayName: 'X' });
    const p = plan([del, created]);
    expect(groupOf(p, 'dirgroup_x')).toMatchObject({ deleted: true, deletedAt: del.occurredAt, displayName: 'X' });
    expect(p.outcomes.get(del.id)?.detail).toBe('group tombstone recorded');
    expect(p.outcomes.get(created.id)?.outcome).toBe('stale');
  });

  it('a newer group_created restores a deleted group', () => {
    const g = groupEvent('created', 20, { id: 'dirgroup_a', displayName: 'Back' });
    const p = plan([g], { groups: [storedGroup('dirgroup_a', 10, { deleted: true, deletedAt: 'x' })] });
    expect(groupOf(p, 'dirgroup_a')).toMatchObject({ deleted: false, deletedAt: null, displayName: 'Back' });
    expect(p.outcomes.get(g.id)?.detail).toBe('group restored');
  });
});

describe('several events for one user in one batch', () => {
  it('fold in arrival order; older ones are stale; the final state is the newest', () => {
    const c = userEvent('created', 1, {
      id: 'diruser_1',
      email: 'a@example.com',
      givenName: 'A',
      groups: [{ id: 'dirgroup_1', name: 'One' }],
    });
    const u3 = userEvent('updated', 3, {
      id: 'diruser_1',
      email: 'c@example.com',
      givenName: 'A',
      groups: [{ id: 'dirgroup_3', name: 'Three' }],
    });
    const u2 = userEvent('updated', 2, { id: 'diruser_1', email: 'b@example.com', groups: [{ id: 'dirgroup_2', name: 'Two' }] });
    const p = plan([c, u3, u2]);
    expect(p.outcomes.get(c.id)?.outcome).toBe('applied');
    expect(p.outcomes.get(u3.id)?.outcome).toBe('applied');
    expect(p.outcomes.get(u2.id)?.outcome).toBe('stale');
    expect(userOf(p, 'diruser_1')).toMatchObject({
      email: 'c@example.com',
      givenName: 'A',
      sourceNs: u3.occurredAtNs,
      sourceEventId: u3.id,
      active: true,
    });
    expect(membershipOf(p, 'diruser_1')).toEqual(['dirgroup_3']);
    // The stale event's group got no placeholder; the applied ones did.
    expect([...p.groups.keys()].sort()).toEqual(['dirgroup_1', 'dirgroup_3']);
  });

  it('create, update, delete, recreate: each step sees the previous one', () => {
    const events = [
      userEvent('created', 1, { id: 'diruser_1', email: 'a@example.com' }),
      userEvent('updated', 2, { id: 'diruser_1', email: 'a@example.com', givenName: 'Ada' }),
      userEvent('deleted', 3, { id: 'diruser_1' }),
      userEvent('created', 4, { id: 'diruser_1', email: 'a@example.com', givenName: 'Ada', familyName: 'Lovelace' }),
    ];
    const p = plan(events);
    expect([...p.outcomes.values()].map((o) => o.outcome)).toEqual(['applied', 'applied', 'applied', 'applied']);
    expect(userOf(p, 'diruser_1')).toMatchObject({
      email: 'a@example.com',
      givenName: 'Ada',
      familyName: 'Lovelace',
      name: 'Ada Lovelace',
      active: true,
      deactivatedAt: null,
      sourceEventId: events[3]?.id,
    });
    expect(p.outcomes.get(events[3]?.id ?? '')?.detail).toBe('reactivated');
  });
});

describe('directory enabled/disabled', () => {
  it('writes the directory state', () => {
    const e = directoryEvent(true, 10);
    const p = plan([e]);
    expect([...p.directories.values()]).toEqual([
      { directoryId: 'dir_1', directoryType: 'SCIM', provider: 'OKTA', enabled: true, sourceNs: e.occurredAtNs },
    ]);
    expect(p.outcomes.get(e.id)).toEqual({ outcome: 'applied', detail: 'directory enabled' });
  });

  it('applies when nothing is stored or the stored state has no freshness yet', () => {
    const e = directoryEvent(false, 10);
    const p = plan([e], { directories: [storedDirectory('dir_1')] });
    expect(p.directories.get('dir_1')?.enabled).toBe(false);
    expect(p.outcomes.get(e.id)?.detail).toBe('directory disabled');
  });

  it('an older change than stored is stale', () => {
    const e = directoryEvent(false, 5);
    const p = plan([e], { directories: [storedDirectory('dir_1', { sourceNs: at(10).occurredAtNs })] });
    expect(p.outcomes.get(e.id)?.outcome).toBe('stale');
    expect(p.directories.size).toBe(0);
  });

  it('within a batch the newest wins regardless of arrival order', () => {
    const a = directoryEvent(true, 2);
    const b = directoryEvent(false, 4);
    const c = directoryEvent(true, 3);
    const p = plan([a, b, c]);
    expect(p.outcomes.get(c.id)?.outcome).toBe('stale');
    expect(p.directories.get('dir_1')).toMatchObject({ enabled: false, sourceNs: b.occurredAtNs });
  });

  it('keeps each directory of the organization apart: its own state, its own freshness', () => {
    // dir_2 changed at 10; dir_1 last at 20. A disable of dir_2 at 15 is fresh for dir_2 even
    // though dir_1 holds a newer change, and one of dir_1 at 15 is stale.
    const stored = [
      storedDirectory('dir_1', { sourceNs: at(20).occurredAtNs }),
      storedDirectory('dir_2', { sourceNs: at(10).occurredAtNs }),
    ];
    const second = directoryEvent(false, 15, undefined, 'dir_2');
    const first = directoryEvent(false, 15, undefined, 'dir_1');
    const p = plan([second, first], { directories: stored });
    expect(p.outcomes.get(second.id)).toEqual({ outcome: 'applied', detail: 'directory disabled' });
    expect(p.outcomes.get(first.id)?.outcome).toBe('stale');
    expect([...p.directories.keys()]).toEqual(['dir_2']);
    expect(p.directories.get('dir_2')).toMatchObject({ enabled: false, sourceNs: second.occurredAtNs });
  });
});

describe("a user's directory", () => {
  const twoDirectories = [storedDirectory('dir_a'), storedDirectory('dir_b')];

  it("never guesses the organization's only known directory: another may exist that scimflow has not heard of yet", () => {
    // dir_b's people send events before any listing or directory event names dir_b.
    const u = userEvent('created', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_new', name: 'N' }] });
    const g = groupEvent('created', 11, { id: 'dirgroup_other', displayName: 'Other' });
    const p = plan([u, g], { directories: [storedDirectory('dir_a'), storedDirectory('dir_gone', { removed: true })] });
    expect(userOf(p, 'diruser_1').directoryId).toBeNull();
    expect(groupOf(p, 'dirgroup_new').directoryId).toBeNull();
    expect(groupOf(p, 'dirgroup_other').directoryId).toBeNull();
  });

  it('a placeholder group passes no directory on: the users after it in its groups stay unknown', () => {
    const first = userEvent('created', 10, { id: 'diruser_1', groups: [{ id: 'dirgroup_new', name: 'N' }] });
    const second = userEvent('created', 11, { id: 'diruser_2', groups: [{ id: 'dirgroup_new', name: 'N' }] });
    const stored = storedGroup('dirgroup_old', 0, { sourceNs: '0', directoryId: null });
    const third = userEvent('created', 12, { id: 'diruser_3', groups: [{ id: 'dirgroup_old', name: 'O' }] });
    const p = plan([first, second, third], { groups: [stored], directories: [storedDirectory('dir_a')] });
    expect(['diruser_1', 'diruser_2', 'diruser_3'].map((id) => userOf(p, id).directoryId)).toEqual([null, null, null]);
  });

  it('a group event that names its directory tells the users after it, in the batch and later', () => {
    const g = groupEvent('created', 10, { id: 'dirgroup_b', displayName: 'B', directoryId: 'dir_b' });
    const u = userEvent('created', 11, { id: 'diruser_1', groups: [{ id: 'dirgroup_b', name: 'B' }] });
    const p = plan([g, u], { directories: [storedDirectory('dir_a')] });
    expect(userOf(p, 'diruser_1').directoryId).toBe('dir_b');
    // A user already of unknown directory learns it from its groups when they become known.
    const known = storedGroup('dirgroup_b', 10, { directoryId: 'dir_b' });
    const later = userEvent('updated', 12, { id: 'diruser_2', groups: [{ id: 'dirgroup_b', name: 'B' }] });
    const q = plan([later], { users: [storedUser('diruser_2', 1, { directoryId: null })], groups: [known] });
    expect(userOf(q, 'diruser_2').directoryId).toBe('dir_b');
  });

  it('with several directories, a new user takes the directory of its groups (Scalekit names no directory in user events)', () => {
    const groups = [storedGroup('dirgroup_b1', 1, { directoryId: 'dir_b' }), storedGroup('dirgroup_b2', 1, { directoryId: 'dir_b' })];
    const u = userEvent('created', 10, {
      id: 'diruser_1',
      groups: [
        { id: 'dirgroup_b1', name: 'B1' },
        { id: 'dirgroup_b2', name: 'B2' },
      ],
    });
    const p = plan([u], { groups, directories: twoDirectories });
    expect(userOf(p, 'diruser_1').directoryId).toBe('dir_b');
  });

  it('stays unknown when nothing tells (no groups, several directories), for a reconcile to find out', () => {
    const u = userEvent('created', 10, { id: 'diruser_1', groups: [] });
    const p = plan([u], { directories: twoDirectories });
    expect(userOf(p, 'diruser_1').directoryId).toBeNull();
  });

  it('a known user keeps its directory, through updates and deletion', () => {
    const stored = storedUser('diruser_1', 1, { directoryId: 'dir_b' });
    const groups = [storedGroup('dirgroup_a1', 1, { directoryId: 'dir_a' })];
    const upd = userEvent('updated', 10, { id: 'diruser_1', email: 'x@example.com', groups: [{ id: 'dirgroup_a1', name: 'A1' }] });
    const del = userEvent('deleted', 11, { id: 'diruser_1' });
    const p = plan([upd, del], { users: [stored], groups, directories: twoDirectories });
    expect(userOf(p, 'diruser_1')).toMatchObject({ directoryId: 'dir_b', active: false });
  });

  it('a directory named by the event wins; a group event names its directory', () => {
    const u = userEvent('created', 10, { id: 'diruser_1', directoryId: 'dir_a' });
    const g = groupEvent('deleted', 11, { id: 'dirgroup_x', directoryId: 'dir_b' });
    const p = plan([u, g], { users: [], directories: twoDirectories });
    expect(userOf(p, 'diruser_1').directoryId).toBe('dir_a');
    expect(groupOf(p, 'dirgroup_x')).toMatchObject({ directoryId: 'dir_b', deleted: true });
  });

  it('a directory enabled earlier in the batch says nothing about the users after it', () => {
    const p = plan([directoryEvent(true, 1, undefined, 'dir_new'), userEvent('created', 2, { id: 'diruser_1' })]);
    expect(userOf(p, 'diruser_1').directoryId).toBeNull();
  });
});

describe('entitiesOf', () => {
  it('lists each user and group a batch touches once; directory events touch neither', () => {
    const events = [
      userEvent('created', 1, {
        id: 'diruser_1',
        groups: [
          { id: 'dirgroup_a', name: 'A' },
          { id: 'dirgroup_b', name: 'B' },
        ],
      }),
      userEvent('updated', 2, { id: 'diruser_1', groups: [{ id: 'dirgroup_b', name: 'B' }] }),
      userEvent('deleted', 3, { id: 'diruser_2' }),
      groupEvent('created', 4, { id: 'dirgroup_c' }),
      groupEvent('deleted', 5, { id: 'dirgroup_a' }),
      directoryEvent(true, 6),
    ];
    const { userIds, groupIds } = entitiesOf(events);
    expect([...userIds].sort()).toEqual(['diruser_1', 'diruser_2']);
    expect([...groupIds].sort()).toEqual(['dirgroup_a', 'dirgroup_b', 'dirgroup_c']);
  });

  it('is empty for an empty batch', () => {
    expect(entitiesOf([])).toEqual({ userIds: [], groupIds: [] });
  });
});
