import { describe, expect, it } from 'vitest';
import { diffDirectory, diffGroup, diffUnit, diffUser, type GroupState, type UserState } from '../../domain/change-diff';

const user = (over: Partial<UserState> = {}): UserState => ({
  id: 'usr_1',
  externalId: 'ext-1',
  directoryId: 'dir_1',
  email: 'ada@example.com',
  preferredUsername: 'ada',
  name: 'Ada Lovelace',
  givenName: 'Ada',
  familyName: 'Lovelace',
  active: true,
  held: null,
  provisioned: true,
  groups: [{ id: 'grp_eng', name: 'Engineering' }],
  grants: [{ role: 'member', source: 'mapping', groupId: 'grp_eng', groupName: 'Engineering', precedence: 10 }],
  ...over,
});

const group = (over: Partial<GroupState> = {}): GroupState => ({
  id: 'grp_eng',
  directoryId: 'dir_1',
  name: 'Engineering',
  externalId: null,
  deleted: false,
  ...over,
});

describe('users', () => {
  it('records nothing when nothing the application sees changed', () => {
    expect(diffUser(user(), user())).toEqual([]);
    // Where the user came from is bookkeeping.
    expect(diffUser(user(), user({ directoryId: 'dir_2' }))).toEqual([]);
    // A group renamed is the group's change, not the member's.
    expect(diffUser(user(), user({ groups: [{ id: 'grp_eng', name: 'Eng' }] }))).toEqual([]);
  });

  it('provisions on the first active appearance, with the whole view and nothing else', () => {
    const [r, ...rest] = diffUser(null, user({ provisioned: false }));
    expect(rest).toEqual([]);
    expect(r).toMatchObject({
      kind: 'user.provisioned',
      subject: { type: 'user', id: 'usr_1' },
      changes: {},
      view: { email: 'ada@example.com', active: true, roles: ['member'], groups: [{ id: 'grp_eng', name: 'Engineering' }] },
    });
    // Created inactive: not the application's business yet; activated later: provisioned then.
    expect(diffUser(null, user({ active: false, provisioned: false }))).toEqual([]);
    const inactive = user({ active: false, provisioned: false });
    expect(diffUser(inactive, user({ provisioned: true })).map((r) => r.kind)).toEqual(['user.provisioned']);
  });

  it("a user held by the organization's allowed e-mail domains is not provisioned; released, they are", () => {
    const reason = "e-mail domain example.com is not among the organization's allowed domains";
    expect(diffUser(null, user({ provisioned: false, held: reason }))).toEqual([]);
    // Updates while held and never told: still not the application's business.
    expect(diffUser(user({ provisioned: false, held: reason }), user({ provisioned: false, held: reason, name: 'Ada' }))).toEqual([]);
    const [r, ...rest] = diffUser(user({ provisioned: false, held: reason }), user({ provisioned: false, held: null }));
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ kind: 'user.provisioned', view: { active: true, held: null, roles: ['member'] } });
  });

  it('a user the application knew is deactivated there when held, and reactivated when released', () => {
    const reason = "e-mail domain other.example is not among the organization's allowed domains";
    const held = user({ email: 'ada@other.example', held: reason });
    const [d, ...none] = diffUser(user(), held);
    expect(none).toEqual([]);
    expect(d).toMatchObject({ kind: 'user.deactivated', view: { active: false, held: reason, roles: [] } });
    expect(d!.changes).toMatchObject({
      active: { before: true, after: false },
      held: { before: null, after: reason },
      email: { before: 'ada@example.com', after: 'ada@other.example' },
      roles: { before: ['member'], after: [] },
    });
    const [back] = diffUser(held, user());
    expect(back).toMatchObject({ kind: 'user.reactivated', view: { active: true, held: null, roles: ['member'] } });
    expect(back!.changes).toMatchObject({ active: { before: false, after: true }, held: { before: reason, after: null } });
    // Deactivated in the directory while held: the application has them deactivated already.
    expect(diffUser(held, user({ email: 'ada@other.example', active: false, held: null }))).toEqual([]);
  });

  it('reports profile changes before and after, and role changes with their reasons', () => {
    const after = user({
      email: 'ada@new.example.com',
      groups: [{ id: 'grp_ops', name: 'Ops' }],
      grants: [{ role: 'admin', source: 'mapping', groupId: 'grp_ops', groupName: 'Ops', precedence: 1 }],
    });
    const records = diffUser(user(), after);
    expect(records.map((r) => r.kind)).toEqual(['user.updated', 'user.roles_changed']);
    expect(records[0]!.changes).toEqual({
      email: { before: 'ada@example.com', after: 'ada@new.example.com' },
      groups: { before: [{ id: 'grp_eng', name: 'Engineering' }], after: [{ id: 'grp_ops', name: 'Ops' }] },
    });
    expect(records[1]!.changes.roles).toEqual({ before: ['member'], after: ['admin'] });
    const reasons = records[1]!.changes.reasons as { before: Record<string, string>; after: Record<string, string> };
    expect(reasons.before.member).toContain('"Engineering" (grp_eng)');
    expect(reasons.after.admin).toContain('"Ops" (grp_ops)');
  });

  it('a role held for another reason only is no change', () => {
    const after = user({ grants: [{ role: 'member', source: 'scalekit', groupId: null, groupName: null, precedence: null }] });
    expect(diffUser(user(), after)).toEqual([]);
  });

  it('deactivation and reactivation carry what changed with them', () => {
    const off = user({ active: false, groups: [], grants: [] });
    const [d, ...none] = diffUser(user(), off);
    expect(none).toEqual([]);
    expect(d).toMatchObject({
      kind: 'user.deactivated',
      view: { active: false, roles: [], groups: [] },
      changes: { active: { before: true, after: false }, roles: { before: ['member'], after: [] } },
    });
    const [r] = diffUser(off, user({ givenName: 'Augusta' }));
    expect(r).toMatchObject({
      kind: 'user.reactivated',
      changes: {
        active: { before: false, after: true },
        givenName: { before: 'Ada', after: 'Augusta' },
        roles: { before: [], after: ['member'] },
      },
    });
    // A deactivated user's profile changing (retention clearing it) is an update.
    expect(diffUser(off, { ...off, email: null }).map((x) => x.kind)).toEqual(['user.updated']);
  });
});

describe('groups and directories', () => {
  it('creates, updates, deletes and restores groups', () => {
    expect(diffGroup(null, group()).map((r) => r.kind)).toEqual(['group.created']);
    expect(diffGroup(group(), group({ name: 'Eng' }))[0]).toMatchObject({
      kind: 'group.updated',
      changes: { name: { before: 'Engineering', after: 'Eng' } },
    });
    expect(diffGroup(group(), group({ directoryId: 'dir_2' }))).toEqual([]);
    expect(diffGroup(group(), group({ deleted: true })).map((r) => r.kind)).toEqual(['group.deleted']);
    expect(diffGroup(group({ deleted: true }), group()).map((r) => r.kind)).toEqual(['group.created']);
    expect(diffGroup(null, group({ deleted: true }))).toEqual([]);
    expect(diffGroup(group(), group())).toEqual([]);
  });

  it('turns directories on and off', () => {
    const d = { id: 'dir_1', enabled: true, type: 'SCIM', provider: 'OKTA' };
    expect(diffDirectory(null, d).map((r) => r.kind)).toEqual(['directory.enabled']);
    expect(diffDirectory(d, { ...d, enabled: false }).map((r) => r.kind)).toEqual(['directory.disabled']);
    expect(diffDirectory(null, { ...d, enabled: false })).toEqual([]);
    expect(diffDirectory(d, d)).toEqual([]);
  });
});

describe('one write', () => {
  it('a subject named but never written (its savepoint rolled back) records nothing', () => {
    expect(diffUnit({ users: [{ before: null, after: null }], groups: [{ before: null, after: null }], directories: [] })).toEqual([]);
  });

  it('orders: directories enabled, groups created or updated, users by id, groups deleted, directories disabled', () => {
    const records = diffUnit({
      directories: [
        { before: null, after: { id: 'dir_b', enabled: false, type: null, provider: null } },
        {
          before: { id: 'dir_x', enabled: true, type: null, provider: null },
          after: { id: 'dir_x', enabled: false, type: null, provider: null },
        },
        { before: null, after: { id: 'dir_a', enabled: true, type: null, provider: null } },
      ],
      groups: [
        { before: group({ id: 'grp_old' }), after: group({ id: 'grp_old', deleted: true }) },
        { before: null, after: group({ id: 'grp_new' }) },
      ],
      users: [
        { before: null, after: user({ id: 'usr_2', provisioned: false }) },
        { before: user({ id: 'usr_1' }), after: user({ id: 'usr_1', active: false, grants: [] }) },
        { before: user({ id: 'usr_3' }), after: user({ id: 'usr_3' }) },
      ],
    });
    expect(records.map((r) => `${r.kind} ${r.subject.id}`)).toEqual([
      'directory.enabled dir_a',
      'group.created grp_new',
      'user.deactivated usr_1',
      'user.provisioned usr_2',
      'group.deleted grp_old',
      'directory.disabled dir_x',
    ]);
  });
});
