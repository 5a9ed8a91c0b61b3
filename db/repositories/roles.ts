import type { Knex } from 'knex';
import { grantReason, type RoleChangeAudience, type RoleMapping, type RoleSource } from '../../domain/roles';

/**
 * Reads of role mappings (directory group → role) and of the roles each user holds because of
 * them, of Scalekit, or of the organization's default role. Mappings change, and roles are
 * resolved, through the mirror's writer (db/mirror/writer.ts).
 */

type Db = Knex | Knex.Transaction;

export interface RoleChange {
  userId: string;
  email: string | null;
  before: string[];
  after: string[];
}

export interface RoleResolution {
  usersChanged: number;
  /** Users whose roles stay the same but now hold one of them for another reason (say, a new mapping). */
  reasonsChanged: number;
  granted: number;
  revoked: number;
  /** The first changed users (by id), with their roles before and after. */
  changes: RoleChange[];
}

export const emptyResolution = (): RoleResolution => ({ usersChanged: 0, reasonsChanged: 0, granted: 0, revoked: 0, changes: [] });

export async function getDefaultRole(db: Db, organizationId: string): Promise<string | null> {
  const row = (await db('organizations').where('id', organizationId).first('default_role')) as { default_role: string | null } | undefined;
  return row?.default_role ?? null;
}

/** Users who hold a role because of one of these groups' mappings. */
export async function holdersOfGroupMappings(db: Db, organizationId: string, groupIds: readonly string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const { rows } = await db.raw(`SELECT DISTINCT user_id FROM user_roles WHERE organization_id = ? AND group_id = ANY(?::text[])`, [
    organizationId,
    [...groupIds],
  ]);
  return (rows as { user_id: string }[]).map((r) => r.user_id);
}

// ---------------------------------------------------------------------------------------------
// Mappings

export interface RoleMappingView extends RoleMapping {
  groupName: string | null;
  groupDeleted: boolean;
  /** Active members of the group. */
  members: number;
  /** Users who hold the role because of this mapping (it won over their other groups). */
  granted: number;
  updatedAt: string;
}

export async function listRoleMappings(db: Db, organizationId: string): Promise<RoleMappingView[]> {
  const { rows } = await db.raw(
    `SELECT rm.group_id, rm.role, rm.precedence, rm.updated_at, g.display_name, g.deleted_at IS NOT NULL AS deleted,
            (SELECT count(*) FROM group_memberships m JOIN directory_users u ON u.organization_id = m.organization_id AND u.id = m.user_id
              WHERE m.organization_id = rm.organization_id AND m.group_id = rm.group_id AND u.active)::int AS members,
            (SELECT count(*) FROM user_roles r
              WHERE r.organization_id = rm.organization_id AND r.source = 'mapping' AND r.group_id = rm.group_id)::int AS granted
       FROM role_mappings rm
       LEFT JOIN directory_groups g ON g.organization_id = rm.organization_id AND g.id = rm.group_id
      WHERE rm.organization_id = ?
      ORDER BY rm.precedence, rm.role, rm.group_id`,
    [organizationId],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    groupId: r.group_id as string,
    role: r.role as string,
    precedence: r.precedence as number,
    groupName: (r.display_name as string | null) ?? null,
    groupDeleted: (r.deleted as boolean | null) ?? false,
    members: r.members as number,
    granted: r.granted as number,
    updatedAt: (r.updated_at as Date).toISOString(),
  }));
}

// ---------------------------------------------------------------------------------------------
// Why does this user have this role?

export interface RoleExplanation {
  role: string;
  source: RoleSource;
  group: { id: string; name: string | null } | null;
  precedence: number | null;
  grantedBy: string;
  grantedAt: string;
  /** In words, for people. */
  reason: string;
}

export async function explainUserRoles(db: Db, organizationId: string, userId: string): Promise<RoleExplanation[]> {
  const { rows } = await db.raw(
    `SELECT r.role, r.source, r.group_id, r.precedence, r.granted_by, r.granted_at, g.display_name
       FROM user_roles r
       LEFT JOIN directory_groups g ON g.organization_id = r.organization_id AND g.id = r.group_id
      WHERE r.organization_id = ? AND r.user_id = ?
      ORDER BY CASE r.source WHEN 'mapping' THEN 0 WHEN 'scalekit' THEN 1 ELSE 2 END, r.role`,
    [organizationId, userId],
  );
  return (rows as Record<string, unknown>[]).map((r) => {
    const source = r.source as RoleSource;
    const group = r.group_id ? { id: r.group_id as string, name: (r.display_name as string | null) ?? null } : null;
    const reason = grantReason(
      { role: r.role as string, source, groupId: group?.id ?? null, precedence: r.precedence as number | null },
      group?.name ?? null,
    );
    return {
      role: r.role as string,
      source,
      group,
      precedence: (r.precedence as number | null) ?? null,
      grantedBy: r.granted_by as string,
      grantedAt: (r.granted_at as Date).toISOString(),
      reason,
    };
  });
}

/** A directory user with the roles they hold and why; undefined when the user is not in the directory. */
export async function userRoleReport(
  db: Db,
  organizationId: string,
  userId: string,
): Promise<{ userId: string; email: string | null; active: boolean; roles: RoleExplanation[] } | undefined> {
  const user = (await db('directory_users').where({ organization_id: organizationId, id: userId }).first('id', 'email', 'active')) as
    { id: string; email: string | null; active: boolean } | undefined;
  if (!user) return undefined;
  return { userId: user.id, email: user.email, active: user.active, roles: await explainUserRoles(db, organizationId, userId) };
}

/**
 * Who a role change reaches, as the tables hold them now (after it): a group's members, or every
 * user (`groupId` null). `role` narrows the Scalekit bucket to that role (null: any role).
 */
export async function roleChangeAudience(
  db: Db,
  organizationId: string,
  groupId: string | null,
  role: string | null,
): Promise<RoleChangeAudience> {
  const { rows } = await db.raw(
    `WITH audience AS (
       SELECT u.id, u.active FROM directory_users u
        WHERE u.organization_id = :org
          AND (:group::text IS NULL OR EXISTS (SELECT 1 FROM group_memberships m
                                               WHERE m.organization_id = u.organization_id AND m.user_id = u.id AND m.group_id = :group))
     ),
     held AS (
       SELECT a.active,
              EXISTS (SELECT 1 FROM user_roles r WHERE r.organization_id = :org AND r.user_id = a.id
                         AND r.source = 'scalekit' AND (:role::text IS NULL OR r.role = :role)) AS scalekit,
              EXISTS (SELECT 1 FROM user_roles r WHERE r.organization_id = :org AND r.user_id = a.id
                         AND r.source = 'mapping' AND r.group_id IS DISTINCT FROM :group) AS other_group
         FROM audience a
     )
     SELECT count(*) FILTER (WHERE active)::int AS active,
            count(*) FILTER (WHERE NOT active)::int AS inactive,
            count(*) FILTER (WHERE active AND scalekit)::int AS scalekit,
            count(*) FILTER (WHERE active AND NOT scalekit AND other_group)::int AS other_group
       FROM held`,
    { org: organizationId, group: groupId, role },
  );
  const r = (rows as { active: number; inactive: number; scalekit: number; other_group: number }[])[0]!;
  return { active: r.active, inactive: r.inactive, scalekit: r.scalekit, otherGroup: r.other_group };
}
