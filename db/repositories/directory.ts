import type { Knex } from 'knex';
import type { StoredGroup, StoredUser } from '../../domain/plan';

/**
 * Reads of the directory mirror (users, groups, memberships), always scoped by organization.
 * Writes go through the mirror's writer (db/mirror/writer.ts).
 */

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

export async function loadUsers(db: Db, organizationId: string, ids: readonly string[]): Promise<Map<string, StoredUser>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.raw(`SELECT ${USER_COLUMNS} FROM directory_users WHERE organization_id = ? AND id = ANY(?::text[])`, [
    organizationId,
    ids as string[],
  ]);
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

/** Another active user of the organization who holds the e-mail (the first by id), if any. */
export async function activeEmailHolder(
  db: Db,
  organizationId: string,
  email: string,
  exceptUserId: string,
): Promise<{ id: string; directory_id: string | null } | undefined> {
  const { rows } = await db.raw(
    `SELECT id, directory_id FROM directory_users
      WHERE organization_id = ? AND active AND lower(email) = lower(?) AND id <> ?
      ORDER BY id LIMIT 1`,
    [organizationId, email, exceptUserId],
  );
  return (rows as { id: string; directory_id: string | null }[])[0];
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
  /** Why the user is held out of the application by the organization's allowed e-mail domains, or null. */
  heldReason: string | null;
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
    `SELECT u.id, u.email, u.name, u.given_name, u.family_name, u.directory_id, u.active, u.held_reason, u.roles, u.updated_at,
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
    heldReason: (r.held_reason as string | null) ?? null,
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
