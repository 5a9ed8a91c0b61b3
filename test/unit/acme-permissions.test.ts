import { describe, expect, it } from 'vitest';
import {
  can,
  DIRECTORY_ROLE_MAP,
  mapDirectoryRoles,
  PERMISSIONS,
  permissionsOf,
  ROLE_PERMISSIONS,
  ROLES,
  type Permission,
  type Role,
} from '../../examples/acme-app/permissions';

/** The matrix, cell by cell: ✓ where the role holds the permission. */
const MATRIX: Record<Permission, Record<Role, boolean>> = {
  'projects:read': { viewer: true, member: true, manager: true, admin: true },
  'projects:write': { viewer: false, member: true, manager: true, admin: true },
  'members:read': { viewer: false, member: true, manager: true, admin: true },
  'members:invite': { viewer: false, member: false, manager: true, admin: true },
  'billing:manage': { viewer: false, member: false, manager: false, admin: true },
};

describe("Acme's role → permission matrix", () => {
  it('has four levels, each holding everything below it and more', () => {
    expect(ROLES).toEqual(['viewer', 'member', 'manager', 'admin']);
    for (let i = 1; i < ROLES.length; i++) {
      const below = ROLE_PERMISSIONS[ROLES[i - 1]!];
      const level = ROLE_PERMISSIONS[ROLES[i]!];
      for (const p of below) expect(level.has(p)).toBe(true);
      expect(level.size).toBeGreaterThan(below.size);
    }
    expect(ROLE_PERMISSIONS.admin.size).toBe(PERMISSIONS.length);
  });

  it.each(PERMISSIONS.flatMap((p) => ROLES.map((r) => [p, r] as const)))('%s for %s is as the matrix says', (permission, role) => {
    expect(can([role], permission)).toBe(MATRIX[permission][role]);
  });

  it('grants nothing without a role, and the union of several roles', () => {
    for (const p of PERMISSIONS) expect(can([], p)).toBe(false);
    expect(permissionsOf([])).toEqual(new Set());
    expect(permissionsOf(['viewer', 'manager'])).toEqual(ROLE_PERMISSIONS.manager);
  });

  it("maps scimflow's role names to Acme's, and unknown ones to nothing", () => {
    expect(mapDirectoryRoles(['admin'])).toEqual({ roles: ['admin'], unknown: [] });
    expect(mapDirectoryRoles(['support_agent', 'engineer', 'auditor', 'toString'])).toEqual({
      roles: ['viewer', 'member'],
      unknown: ['auditor', 'toString'],
    });
    expect(mapDirectoryRoles([])).toEqual({ roles: [], unknown: [] });
    for (const role of Object.values(DIRECTORY_ROLE_MAP)) expect(ROLES).toContain(role);
  });
});
