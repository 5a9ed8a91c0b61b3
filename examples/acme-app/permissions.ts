/**
 * Who may do what in Acme: four roles, each with everything the one below it has and more, and the
 * permissions its endpoints ask for. The one place that answers "may this user do that".
 */

export const ROLES = ['viewer', 'member', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = ['projects:read', 'projects:write', 'members:read', 'members:invite', 'billing:manage'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** What each role adds to the role below it. */
const GRANTS: Record<Role, readonly Permission[]> = {
  viewer: ['projects:read'],
  member: ['projects:write', 'members:read'],
  manager: ['members:invite'],
  admin: ['billing:manage'],
};

/** The matrix: every permission each role holds (its own grants and those of the roles below it). */
export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  viewer: upTo('viewer'),
  member: upTo('member'),
  manager: upTo('manager'),
  admin: upTo('admin'),
};

function upTo(role: Role): ReadonlySet<Permission> {
  return new Set(ROLES.slice(0, ROLES.indexOf(role) + 1).flatMap((r) => GRANTS[r]));
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Everything a user with these roles may do (the union of their roles' permissions). */
export function permissionsOf(roles: readonly Role[]): Set<Permission> {
  return new Set(roles.flatMap((role) => [...ROLE_PERMISSIONS[role]]));
}

export function can(roles: readonly Role[], permission: Permission): boolean {
  return roles.some((role) => ROLE_PERMISSIONS[role].has(permission));
}

/**
 * scimflow's role names (the effective roles of a change record, as the organization's groups and
 * role mappings resolve them) → Acme's. A role not listed grants nothing in Acme.
 */
export const DIRECTORY_ROLE_MAP: Readonly<Record<string, Role>> = {
  admin: 'admin',
  // Acme has no billing-only role; finance gets manager, not the whole of admin.
  billing_admin: 'manager',
  manager: 'manager',
  member: 'member',
  engineer: 'member',
  support_agent: 'viewer',
  viewer: 'viewer',
};

/** Acme's roles for a user's directory roles, and the directory roles that map to none. */
export function mapDirectoryRoles(directoryRoles: readonly string[]): { roles: Role[]; unknown: string[] } {
  const roles = new Set<Role>();
  const unknown: string[] = [];
  for (const name of directoryRoles) {
    const role = Object.hasOwn(DIRECTORY_ROLE_MAP, name) ? DIRECTORY_ROLE_MAP[name] : undefined;
    if (role) roles.add(role);
    else unknown.push(name);
  }
  return { roles: ROLES.filter((r) => roles.has(r)), unknown };
}
