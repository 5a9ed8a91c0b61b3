import { describe, expect, it } from 'vitest';
import {
  describeRoleChange,
  diffGrants,
  explainUnchangedRoles,
  precedenceProblem,
  resolveRoles,
  roleChangeProblem,
  roleNameProblem,
  type RoleGrant,
  type RoleMapping,
} from '../../domain/roles';

const mappings = (...list: RoleMapping[]) => new Map(list.map((m) => [m.groupId, m]));
const mapping = (groupId: string, role: string, precedence: number): RoleMapping => ({ groupId, role, precedence });
const user = (groupIds: string[], scalekitRoles: string[] = [], active = true) => ({ active, scalekitRoles, groupIds });

describe('resolveRoles', () => {
  const m = mappings(mapping('g_admins', 'admin', 10), mapping('g_eng', 'developer', 20), mapping('g_sales', 'seller', 20));

  it('grants the role of the mapped group with the lowest precedence, and only that one', () => {
    expect(resolveRoles(user(['g_eng', 'g_admins']), m, null)).toEqual([
      { role: 'admin', source: 'mapping', groupId: 'g_admins', precedence: 10 },
    ]);
    expect(resolveRoles(user(['g_admins', 'g_eng']), m, null)).toEqual([
      { role: 'admin', source: 'mapping', groupId: 'g_admins', precedence: 10 },
    ]);
  });

  it('breaks a precedence tie by role name, then group id, whatever the membership order', () => {
    expect(resolveRoles(user(['g_sales', 'g_eng']), m, null)[0]?.role).toBe('developer');
    expect(resolveRoles(user(['g_eng', 'g_sales']), m, null)[0]?.role).toBe('developer');
    const sameRole = mappings(mapping('g_b', 'viewer', 5), mapping('g_a', 'viewer', 5));
    expect(resolveRoles(user(['g_b', 'g_a']), sameRole, null)[0]?.groupId).toBe('g_a');
  });

  it('keeps each Scalekit role once, beside a mapped role', () => {
    expect(resolveRoles(user(['g_eng'], ['billing_admin', 'billing_admin', '']), m, 'member')).toEqual([
      { role: 'developer', source: 'mapping', groupId: 'g_eng', precedence: 20 },
      { role: 'billing_admin', source: 'scalekit', groupId: null, precedence: null },
    ]);
  });

  it('grants the default role only when nothing else grants one', () => {
    expect(resolveRoles(user(['g_unmapped']), m, 'member')).toEqual([
      { role: 'member', source: 'default', groupId: null, precedence: null },
    ]);
    expect(resolveRoles(user([], ['support_agent']), m, 'member').map((g) => g.source)).toEqual(['scalekit']);
    expect(resolveRoles(user(['g_unmapped']), m, null)).toEqual([]);
  });

  it('grants a deactivated user nothing', () => {
    expect(resolveRoles(user(['g_admins'], ['billing_admin'], false), m, 'member')).toEqual([]);
  });
});

describe('diffGrants', () => {
  const admin: RoleGrant = { role: 'admin', source: 'mapping', groupId: 'g_admins', precedence: 10 };
  const member: RoleGrant = { role: 'member', source: 'default', groupId: null, precedence: null };

  it('is empty when nothing changes', () => {
    expect(diffGrants([admin, member], [member, admin])).toEqual({ upsert: [], revoke: [] });
  });

  it('upserts new grants and revokes lost ones', () => {
    expect(diffGrants([member], [admin])).toEqual({ upsert: [admin], revoke: [member] });
  });

  it('rewrites a grant whose group or precedence changed, so "why" stays true', () => {
    const viaOther = { ...admin, groupId: 'g_it' };
    expect(diffGrants([admin], [viaOther])).toEqual({ upsert: [viaOther], revoke: [] });
    expect(diffGrants([admin], [{ ...admin, precedence: 1 }])).toEqual({ upsert: [{ ...admin, precedence: 1 }], revoke: [] });
  });
});

describe('validation', () => {
  it.each([
    ['admin', null],
    ['billing_admin', null],
    ['org:viewer.v2-beta', null],
    ['A'.repeat(64), null],
    ['', 'a role name is required'],
    ['A'.repeat(65), /is not a role name/],
    ['has space', /is not a role name/],
    ['-leading', /is not a role name/],
    ['rôle', /is not a role name/],
  ])('role name %j', (role, expected) => {
    const problem = roleNameProblem(role);
    if (expected === null) expect(problem).toBeNull();
    else if (typeof expected === 'string') expect(problem).toBe(expected);
    else expect(problem).toMatch(expected);
  });

  it.each([
    [0, true],
    [1_000_000, true],
    [-1, false],
    [1_000_001, false],
    [1.5, false],
    ['10', false],
    [Number.NaN, false],
  ])('precedence %j acceptable: %s', (precedence, ok) => {
    expect(precedenceProblem(precedence) === null).toBe(ok);
  });

  it('checks a whole change, and describes it in words', () => {
    expect(roleChangeProblem({ action: 'map', groupId: 'g', role: 'admin', precedence: 1 })).toBeNull();
    expect(roleChangeProblem({ action: 'map', groupId: '', role: 'admin', precedence: 1 })).toBe('a directory group id is required');
    expect(roleChangeProblem({ action: 'map', groupId: 'g', role: 'admin', precedence: -3 })).toMatch(/precedence must be/);
    expect(roleChangeProblem({ action: 'default', role: null })).toBeNull();
    expect(roleChangeProblem({ action: 'default', role: 'bad role' })).toMatch(/is not a role name/);
    expect(roleChangeProblem({ action: 'drop' } as never)).toBe('unknown role change "drop"');
    expect(describeRoleChange({ action: 'map', groupId: 'g1', role: 'admin', precedence: 10 })).toBe('g1 → admin (precedence 10)');
    expect(describeRoleChange({ action: 'unmap', groupId: 'g1' })).toBe('g1 unmapped');
    expect(describeRoleChange({ action: 'default', role: null })).toBe('no default role');
  });
});

describe('explainUnchangedRoles', () => {
  const none = { active: 0, inactive: 0, scalekit: 0, otherGroup: 0 };
  const map = { action: 'map', groupId: 'grp_1', role: 'admin', precedence: 10 } as const;

  it('says a group has no active members, counting the deactivated ones', () => {
    expect(explainUnchangedRoles(map, 'admin', none)).toBe('group grp_1 has no active members');
    expect(explainUnchangedRoles(map, 'admin', { ...none, inactive: 2 })).toBe(
      'group grp_1 has no active members; 2 users deactivated, holding no role',
    );
  });

  it("names Scalekit's roles, other groups' mappings and the rest, each once", () => {
    expect(explainUnchangedRoles(map, 'admin', { active: 1, inactive: 0, scalekit: 1, otherGroup: 0 })).toBe(
      'of the 1 user in group grp_1: 1 user holds admin already: Scalekit assigns it to them',
    );
    expect(explainUnchangedRoles(map, 'admin', { active: 6, inactive: 1, scalekit: 3, otherGroup: 2 })).toBe(
      'of the 6 users in group grp_1: 3 users hold admin already: Scalekit assigns it to them; ' +
        '2 users keep the role of another of their groups, whose mapping has a lower precedence; ' +
        "1 user held admin already, through a mapping (this one as it was, or another group's) or the organization's default; 1 user deactivated, holding no role",
    );
    expect(
      explainUnchangedRoles({ action: 'unmap', groupId: 'grp_1' }, 'admin', { active: 2, inactive: 0, scalekit: 0, otherGroup: 2 }),
    ).toBe('of the 2 users in group grp_1: 2 users keep the role of another of their groups, whose mapping has a lower precedence');
  });

  it('says the default role goes only to users who hold no other role', () => {
    expect(explainUnchangedRoles({ action: 'default', role: 'member' }, null, { active: 4, inactive: 0, scalekit: 1, otherGroup: 3 })).toBe(
      'the default role goes only to active users with no other role, and all 4 users hold one from a mapping or from Scalekit',
    );
    expect(explainUnchangedRoles({ action: 'default', role: null }, null, { active: 4, inactive: 0, scalekit: 1, otherGroup: 3 })).toBe(
      'no active user held the default role: all 4 users hold a role from a mapping or from Scalekit',
    );
    expect(explainUnchangedRoles({ action: 'default', role: 'member' }, null, none)).toBe('the organization has no active users');
  });
});
