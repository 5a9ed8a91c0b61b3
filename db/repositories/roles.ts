import type { Knex } from 'knex';
import { diffGrants, resolveRoles, roleNames, type RoleGrant, type RoleMapping, type RoleSource } from '../../domain/roles';

/**
 * Role mappings (directory group → role) and the roles each user holds because of them, of
 * Scalekit, or of the organization's default role. Resolution runs in the transaction that
 * changed its inputs (an event batch, a sync run, a mapping change), under the organization lock.
 */

type Db = Knex | Knex.Transaction;

/** Users resolved per round trip when a whole organization is resolved. */
const CHUNK = 5_000;
/** Changed users reported by name in a preview or a change's result. */
const SAMPLE = 50;

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

async function loadMappings(db: Db, organizationId: string): Promise<Map<string, RoleMapping>> {
  const rows = (await db('role_mappings').where('organization_id', organizationId).select('group_id', 'role', 'precedence')) as {
    group_id: string;
    role: string;
    precedence: number;
  }[];
  return new Map(rows.map((r) => [r.group_id, { groupId: r.group_id, role: r.role, precedence: r.precedence }]));
}

export async function getDefaultRole(db: Db, organizationId: string): Promise<string | null> {
  const row = (await db('organizations').where('id', organizationId).first('default_role')) as { default_role: string | null } | undefined;
  return row?.default_role ?? null;
}

/** Resolves one chunk of users (ids known to exist or not) and writes what changed. */
async function resolveChunk(
  trx: Knex.Transaction,
  organizationId: string,
  ids: readonly string[],
  mappings: ReadonlyMap<string, RoleMapping>,
  defaultRole: string | null,
  origin: (userId: string) => string,
  out: RoleResolution,
): Promise<void> {
  const users = (await trx.raw(`SELECT id, email, active, roles FROM directory_users WHERE organization_id = ? AND id = ANY(?::text[]) ORDER BY id`, [
    organizationId,
    [...ids],
  ])).rows as { id: string; email: string | null; active: boolean; roles: string[] }[];
  if (users.length === 0) return;
  const userIds = users.map((u) => u.id);
  const groupsOf = new Map<string, string[]>();
  if (mappings.size > 0) {
    const memberships = (await trx.raw(
      `SELECT m.user_id, m.group_id FROM group_memberships m
         JOIN directory_groups g ON g.organization_id = m.organization_id AND g.id = m.group_id AND g.deleted_at IS NULL
        WHERE m.organization_id = ? AND m.user_id = ANY(?::text[])`,
      [organizationId, userIds],
    )).rows as { user_id: string; group_id: string }[];
    for (const m of memberships) {
      const list = groupsOf.get(m.user_id);
      if (list) list.push(m.group_id);
      else groupsOf.set(m.user_id, [m.group_id]);
    }
  }
  const held = new Map<string, RoleGrant[]>();
  const current = (await trx.raw(
    `SELECT user_id, role, source, group_id, precedence FROM user_roles WHERE organization_id = ? AND user_id = ANY(?::text[])`,
    [organizationId, userIds],
  )).rows as { user_id: string; role: string; source: RoleSource; group_id: string | null; precedence: number | null }[];
  for (const r of current) {
    const grant: RoleGrant = { role: r.role, source: r.source, groupId: r.group_id, precedence: r.precedence };
    const list = held.get(r.user_id);
    if (list) list.push(grant);
    else held.set(r.user_id, [grant]);
  }

  const upserts: { user: string; grant: RoleGrant; by: string }[] = [];
  const revokes: { user: string; grant: RoleGrant }[] = [];
  for (const u of users) {
    const before = held.get(u.id) ?? [];
    const after = resolveRoles({ active: u.active, scalekitRoles: u.roles, groupIds: groupsOf.get(u.id) ?? [] }, mappings, defaultRole);
    const diff = diffGrants(before, after);
    if (diff.upsert.length === 0 && diff.revoke.length === 0) continue;
    const by = origin(u.id);
    for (const grant of diff.upsert) upserts.push({ user: u.id, grant, by });
    for (const grant of diff.revoke) revokes.push({ user: u.id, grant });
    // Counted by role name: a role that changes only its reason (another group) is no change.
    const names = { before: roleNames(before), after: roleNames(after) };
    const gained = names.after.filter((r) => !names.before.includes(r)).length;
    const lost = names.before.filter((r) => !names.after.includes(r)).length;
    if (gained + lost > 0) {
      out.usersChanged += 1;
      out.granted += gained;
      out.revoked += lost;
      if (out.changes.length < SAMPLE) out.changes.push({ userId: u.id, email: u.email, ...names });
    } else {
      out.reasonsChanged += 1;
    }
  }

  if (revokes.length > 0) {
    await trx.raw(
      `DELETE FROM user_roles r
        USING unnest(?::text[], ?::text[], ?::text[]) AS v(user_id, role, source)
        WHERE r.organization_id = ? AND r.user_id = v.user_id AND r.role = v.role AND r.source = v.source`,
      [revokes.map((r) => r.user), revokes.map((r) => r.grant.role), revokes.map((r) => r.grant.source), organizationId],
    );
  }
  if (upserts.length > 0) {
    await trx.raw(
      `INSERT INTO user_roles (organization_id, user_id, role, source, group_id, precedence, granted_by)
       SELECT ?, v.user_id, v.role, v.source, v.group_id, v.precedence, v.granted_by
         FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::text[]) AS v(user_id, role, source, group_id, precedence, granted_by)
       ON CONFLICT (organization_id, user_id, role, source) DO UPDATE
          SET group_id = excluded.group_id, precedence = excluded.precedence,
              granted_by = excluded.granted_by, granted_at = now()`,
      [
        organizationId,
        upserts.map((u) => u.user),
        upserts.map((u) => u.grant.role),
        upserts.map((u) => u.grant.source),
        upserts.map((u) => u.grant.groupId),
        upserts.map((u) => u.grant.precedence),
        upserts.map((u) => u.by),
      ] as Knex.RawBinding[],
    );
  }
}

/**
 * Brings `user_roles` in line with the users' state, the organization's mappings and default
 * role: for the given users, or for every user of the organization. `origin` names what caused
 * a user's change (kept as `granted_by`). Call it inside the transaction that changed the inputs.
 */
export async function resolveUserRoles(
  trx: Knex.Transaction,
  organizationId: string,
  scope: readonly string[] | 'all',
  origin: (userId: string) => string,
): Promise<RoleResolution> {
  const out = emptyResolution();
  if (scope !== 'all' && scope.length === 0) return out;
  const mappings = await loadMappings(trx, organizationId);
  const defaultRole = await getDefaultRole(trx, organizationId);
  if (scope !== 'all') {
    const ids = [...new Set(scope)].sort();
    for (let i = 0; i < ids.length; i += CHUNK) {
      await resolveChunk(trx, organizationId, ids.slice(i, i + CHUNK), mappings, defaultRole, origin, out);
    }
    return out;
  }
  let after = '';
  for (;;) {
    const ids = ((await trx.raw(`SELECT id FROM directory_users WHERE organization_id = ? AND id > ? ORDER BY id LIMIT ?`, [organizationId, after, CHUNK]))
      .rows as { id: string }[]).map((r) => r.id);
    if (ids.length === 0) break;
    await resolveChunk(trx, organizationId, ids, mappings, defaultRole, origin, out);
    after = ids[ids.length - 1]!;
  }
  return out;
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

export async function upsertRoleMapping(trx: Knex.Transaction, organizationId: string, m: RoleMapping): Promise<void> {
  await trx.raw(
    `INSERT INTO role_mappings (organization_id, group_id, role, precedence) VALUES (?, ?, ?, ?)
     ON CONFLICT (organization_id, group_id) DO UPDATE SET role = excluded.role, precedence = excluded.precedence, updated_at = now()`,
    [organizationId, m.groupId, m.role, m.precedence],
  );
}

/** Removes the group's mapping; false when it had none. */
export async function deleteRoleMapping(trx: Knex.Transaction, organizationId: string, groupId: string): Promise<boolean> {
  return (await trx('role_mappings').where({ organization_id: organizationId, group_id: groupId }).delete()) > 0;
}

export async function setDefaultRole(trx: Knex.Transaction, organizationId: string, role: string | null): Promise<void> {
  await trx('organizations').where('id', organizationId).update({ default_role: role, updated_at: trx.fn.now() });
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
    const label = group ? `"${group.name ?? group.id}" (${group.id})` : '';
    const reason =
      source === 'mapping'
        ? `member of group ${label}, which maps to ${String(r.role)} with precedence ${String(r.precedence)}, the lowest among the user's mapped groups`
        : source === 'scalekit'
          ? 'assigned in Scalekit (the roles[] Scalekit sends for the user)'
          : "the organization's default role: no mapping and no Scalekit role applies";
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
    | { id: string; email: string | null; active: boolean }
    | undefined;
  if (!user) return undefined;
  return { userId: user.id, email: user.email, active: user.active, roles: await explainUserRoles(db, organizationId, userId) };
}
