import type { Knex } from 'knex';
import { chunkRows } from '../batch';
import type {
  GroupWrite,
  StoredDirectoryState,
  StoredGroup,
  StoredUser,
  UserWrite,
} from '../../domain/plan';

/** Directory users, groups, memberships and organization state, always scoped by organization. */

type Db = Knex | Knex.Transaction;

const USER_COLUMNS = `id, email, preferred_username, name, given_name, family_name, dp_id, directory_id, active, roles,
  attributes, source_ns, deactivated_at`;

function toStoredUser(r: Record<string, unknown>): StoredUser {
  return {
    id: r.id as string,
    email: r.email as string | null,
    preferredUsername: r.preferred_username as string | null,
    name: r.name as string | null,
    givenName: r.given_name as string | null,
    familyName: r.family_name as string | null,
    dpId: r.dp_id as string | null,
    directoryId: r.directory_id as string | null,
    active: r.active as boolean,
    roles: r.roles as string[],
    attributes: r.attributes as Record<string, unknown>,
    sourceNs: r.source_ns as string,
    deactivatedAt: r.deactivated_at ? (r.deactivated_at as Date).toISOString() : null,
  };
}

function toStoredGroup(r: Record<string, unknown>): StoredGroup {
  return {
    id: r.id as string,
    displayName: r.display_name as string | null,
    directoryId: r.directory_id as string | null,
    externalId: r.external_id as string | null,
    attributes: r.attributes as Record<string, unknown>,
    deleted: r.deleted_at !== null,
    deletedAt: r.deleted_at ? (r.deleted_at as Date).toISOString() : null,
    sourceNs: r.source_ns as string,
  };
}

export async function ensureOrganization(db: Db, organizationId: string): Promise<void> {
  await db.raw(`INSERT INTO organizations (id) VALUES (?) ON CONFLICT (id) DO NOTHING`, [organizationId]);
}

/**
 * Locks the organization row for the transaction (writers of one organization queue up here) and
 * returns the organization's directories.
 */
export async function lockOrganization(db: Knex.Transaction, organizationId: string): Promise<StoredDirectoryState[]> {
  await db.raw(`SELECT 1 FROM organizations WHERE id = ? FOR UPDATE`, [organizationId]);
  const { rows } = await db.raw(
    `SELECT id, enabled, state_ns, removed_at FROM organization_directories WHERE organization_id = ? ORDER BY created_at, id`,
    [organizationId],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    directoryId: r.id as string,
    enabled: r.enabled as boolean | null,
    sourceNs: r.state_ns as string | null,
    removed: r.removed_at !== null,
  }));
}

export async function loadUsers(db: Db, organizationId: string, ids: readonly string[]): Promise<Map<string, StoredUser>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.raw(
    `SELECT ${USER_COLUMNS} FROM directory_users WHERE organization_id = ? AND id = ANY(?::text[])`,
    [organizationId, ids as string[]],
  );
  return new Map((rows as Record<string, unknown>[]).map((r) => [r.id as string, toStoredUser(r)]));
}

export async function loadGroups(db: Db, organizationId: string, ids: readonly string[]): Promise<Map<string, StoredGroup>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.raw(
    `SELECT id, display_name, directory_id, external_id, attributes, deleted_at, source_ns
       FROM directory_groups WHERE organization_id = ? AND id = ANY(?::text[])`,
    [organizationId, ids as string[]],
  );
  return new Map((rows as Record<string, unknown>[]).map((r) => [r.id as string, toStoredGroup(r)]));
}

export async function upsertGroups(db: Db, organizationId: string, groups: readonly GroupWrite[]): Promise<void> {
  const rows = groups.map((g) => ({
    organization_id: organizationId,
    id: g.id,
    display_name: g.displayName,
    directory_id: g.directoryId,
    external_id: g.externalId,
    attributes: JSON.stringify(g.attributes),
    deleted_at: g.deletedAt,
    source_ns: g.sourceNs,
    source_event_id: g.sourceEventId,
  }));
  for (const part of chunkRows(rows)) {
    await db('directory_groups')
      .insert(part)
      .onConflict(['organization_id', 'id'])
      .merge({
        display_name: db.raw('excluded.display_name'),
        directory_id: db.raw('excluded.directory_id'),
        external_id: db.raw('excluded.external_id'),
        attributes: db.raw('excluded.attributes'),
        deleted_at: db.raw('excluded.deleted_at'),
        source_ns: db.raw('excluded.source_ns'),
        source_event_id: db.raw('excluded.source_event_id'),
        updated_at: db.raw('now()'),
      });
  }
}

export async function upsertUsers(db: Db, organizationId: string, users: readonly UserWrite[]): Promise<void> {
  const rows = users.map((u) => ({
    organization_id: organizationId,
    id: u.id,
    email: u.email,
    preferred_username: u.preferredUsername,
    name: u.name,
    given_name: u.givenName,
    family_name: u.familyName,
    dp_id: u.dpId,
    directory_id: u.directoryId,
    active: u.active,
    roles: u.roles,
    attributes: JSON.stringify(u.attributes),
    source_ns: u.sourceNs,
    source_event_id: u.sourceEventId,
    deactivated_at: u.deactivatedAt,
  }));
  for (const part of chunkRows(rows)) {
    await db('directory_users')
      .insert(part)
      .onConflict(['organization_id', 'id'])
      .merge({
        email: db.raw('excluded.email'),
        preferred_username: db.raw('excluded.preferred_username'),
        name: db.raw('excluded.name'),
        given_name: db.raw('excluded.given_name'),
        family_name: db.raw('excluded.family_name'),
        dp_id: db.raw('excluded.dp_id'),
        directory_id: db.raw('excluded.directory_id'),
        active: db.raw('excluded.active'),
        roles: db.raw('excluded.roles'),
        attributes: db.raw('excluded.attributes'),
        source_ns: db.raw('excluded.source_ns'),
        source_event_id: db.raw('excluded.source_event_id'),
        deactivated_at: db.raw('excluded.deactivated_at'),
        updated_at: db.raw('now()'),
      });
  }
}

/** Drops every membership of the given groups. */
export async function clearGroupMemberships(db: Db, organizationId: string, groupIds: readonly string[]): Promise<void> {
  if (groupIds.length === 0) return;
  await db.raw(`DELETE FROM group_memberships WHERE organization_id = ? AND group_id = ANY(?::text[])`, [
    organizationId,
    groupIds as string[],
  ]);
}

/**
 * Makes each listed user's memberships exactly the given set: removes the rest, adds the missing.
 * Two statements for the whole batch.
 */
export async function replaceMemberships(
  db: Db,
  organizationId: string,
  sets: ReadonlyMap<string, ReadonlySet<string>>,
): Promise<void> {
  if (sets.size === 0) return;
  const userIds: string[] = [];
  const pairUsers: string[] = [];
  const pairGroups: string[] = [];
  for (const [userId, groups] of sets) {
    userIds.push(userId);
    for (const g of groups) {
      pairUsers.push(userId);
      pairGroups.push(g);
    }
  }
  await db.raw(
    `DELETE FROM group_memberships m
      WHERE m.organization_id = ? AND m.user_id = ANY(?::text[])
        AND NOT EXISTS (
          SELECT 1 FROM unnest(?::text[], ?::text[]) AS d(user_id, group_id)
           WHERE d.user_id = m.user_id AND d.group_id = m.group_id)`,
    [organizationId, userIds, pairUsers, pairGroups],
  );
  if (pairUsers.length > 0) {
    await db.raw(
      `INSERT INTO group_memberships (organization_id, group_id, user_id)
       SELECT ?, d.group_id, d.user_id FROM unnest(?::text[], ?::text[]) AS d(user_id, group_id)
       ON CONFLICT DO NOTHING`,
      [organizationId, pairUsers, pairGroups],
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Reads for the operator API

export interface UserView {
  id: string;
  email: string | null;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  /** The directory that provisioned the user (null while unknown). */
  directoryId: string | null;
  active: boolean;
  groups: string[];
  /** Scalekit's roles[] for the user. */
  roles: string[];
  /** The roles the user holds in the application: Scalekit's, mapped from groups, or the default. */
  effectiveRoles: string[];
  updatedAt: string;
}

export interface UserQuery {
  organizationId: string;
  active?: boolean;
  limit: number;
  /** Keyset cursor: users with an id greater than this. */
  after?: string;
}

export async function listUsers(db: Db, q: UserQuery): Promise<UserView[]> {
  const bindings: unknown[] = [q.organizationId];
  let filter = '';
  if (q.active !== undefined) {
    filter += ' AND u.active = ?';
    bindings.push(q.active);
  }
  if (q.after) {
    filter += ' AND u.id > ?';
    bindings.push(q.after);
  }
  bindings.push(q.limit);
  const { rows } = await db.raw(
    `SELECT u.id, u.email, u.name, u.given_name, u.family_name, u.directory_id, u.active, u.roles, u.updated_at,
            coalesce((SELECT array_agg(m.group_id ORDER BY m.group_id) FROM group_memberships m
                       WHERE m.organization_id = u.organization_id AND m.user_id = u.id), '{}') AS groups,
            coalesce((SELECT array_agg(DISTINCT r.role ORDER BY r.role) FROM user_roles r
                       WHERE r.organization_id = u.organization_id AND r.user_id = u.id), '{}') AS effective_roles
       FROM directory_users u
      WHERE u.organization_id = ?${filter}
      ORDER BY u.id
      LIMIT ?`,
    bindings as Knex.RawBinding[],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    id: r.id as string,
    email: r.email as string | null,
    name: r.name as string | null,
    givenName: r.given_name as string | null,
    familyName: r.family_name as string | null,
    directoryId: r.directory_id as string | null,
    active: r.active as boolean,
    groups: r.groups as string[],
    roles: r.roles as string[],
    effectiveRoles: r.effective_roles as string[],
    updatedAt: (r.updated_at as Date).toISOString(),
  }));
}

export interface GroupView {
  id: string;
  displayName: string | null;
  directoryId: string | null;
  deleted: boolean;
  memberCount: number;
}

export async function listGroups(db: Db, organizationId: string): Promise<GroupView[]> {
  const { rows } = await db.raw(
    `SELECT g.id, g.display_name, g.directory_id, g.deleted_at IS NOT NULL AS deleted,
            (SELECT count(*) FROM group_memberships m WHERE m.organization_id = g.organization_id AND m.group_id = g.id)::int AS member_count
       FROM directory_groups g
      WHERE g.organization_id = ?
      ORDER BY g.id`,
    [organizationId],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    id: r.id as string,
    displayName: r.display_name as string | null,
    directoryId: r.directory_id as string | null,
    deleted: r.deleted as boolean,
    memberCount: r.member_count as number,
  }));
}
