import type { Knex } from 'knex';
import { diffGrants, resolveRoles, roleNames, type RoleGrant, type RoleMapping, type RoleSource } from '../../domain/roles';
import { emptyResolution, getDefaultRole, type RoleResolution } from '../repositories/roles';

/**
 * The roles each user holds (user_roles) because of the organization's role mappings, of
 * Scalekit, or of its default role, and the mappings and default role themselves. Only the
 * writer (db/mirror/writer.ts) calls these, in the transaction that changed their inputs (an
 * event batch, a sync run, a mapping change), under the organization's lock.
 */

type Db = Knex | Knex.Transaction;

/** Users resolved per round trip when a whole organization is resolved. */
const CHUNK = 5_000;
/** Changed users reported by name in a preview or a change's result. */
const SAMPLE = 50;

async function loadMappings(db: Db, organizationId: string): Promise<Map<string, RoleMapping>> {
  const rows = (await db('role_mappings').where('organization_id', organizationId).select('group_id', 'role', 'precedence')) as {
    group_id: string;
    role: string;
    precedence: number;
  }[];
  return new Map(rows.map((r) => [r.group_id, { groupId: r.group_id, role: r.role, precedence: r.precedence }]));
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
  const users = (
    await trx.raw(`SELECT id, email, active, roles FROM directory_users WHERE organization_id = ? AND id = ANY(?::text[]) ORDER BY id`, [
      organizationId,
      [...ids],
    ])
  ).rows as { id: string; email: string | null; active: boolean; roles: string[] }[];
  if (users.length === 0) return;
  const userIds = users.map((u) => u.id);
  const groupsOf = new Map<string, string[]>();
  if (mappings.size > 0) {
    const memberships = (
      await trx.raw(
        `SELECT m.user_id, m.group_id FROM group_memberships m
         JOIN directory_groups g ON g.organization_id = m.organization_id AND g.id = m.group_id AND g.deleted_at IS NULL
        WHERE m.organization_id = ? AND m.user_id = ANY(?::text[])`,
        [organizationId, userIds],
      )
    ).rows as { user_id: string; group_id: string }[];
    for (const m of memberships) {
      const list = groupsOf.get(m.user_id);
      if (list) list.push(m.group_id);
      else groupsOf.set(m.user_id, [m.group_id]);
    }
  }
  const held = new Map<string, RoleGrant[]>();
  const current = (
    await trx.raw(
      `SELECT user_id, role, source, group_id, precedence FROM user_roles WHERE organization_id = ? AND user_id = ANY(?::text[])`,
      [organizationId, userIds],
    )
  ).rows as { user_id: string; role: string; source: RoleSource; group_id: string | null; precedence: number | null }[];
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
  /** Told after each chunk of a whole organization: users resolved so far, of how many. */
  progress?: (done: number, total: number) => void,
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
  const total = progress
    ? Number(((await trx('directory_users').where('organization_id', organizationId).count('* as n').first()) as { n: string }).n)
    : 0;
  let done = 0;
  let after = '';
  for (;;) {
    const ids = (
      (
        await trx.raw(`SELECT id FROM directory_users WHERE organization_id = ? AND id > ? ORDER BY id LIMIT ?`, [
          organizationId,
          after,
          CHUNK,
        ])
      ).rows as { id: string }[]
    ).map((r) => r.id);
    if (ids.length === 0) break;
    await resolveChunk(trx, organizationId, ids, mappings, defaultRole, origin, out);
    after = ids[ids.length - 1]!;
    done += ids.length;
    progress?.(done, total);
  }
  return out;
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
