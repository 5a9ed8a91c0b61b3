import type { Knex } from 'knex';
import { upsertRows } from '../batch';
import type { GroupWrite, UserWrite } from '../../domain/plan';
import { before, DEACTIVATED_WITH_DATA } from '../repositories/retention-predicates';

/**
 * The mirror's users, groups and memberships as an event batch writes them (multi-row
 * statements), and retention's purge of deactivated users' personal fields; always scoped by
 * organization. Only the writer (db/mirror/writer.ts) calls these, under the
 * organization's lock.
 */

type Db = Knex | Knex.Transaction;

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
  await upsertRows(db, 'directory_groups', rows, ['organization_id', 'id']);
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
  await upsertRows(db, 'directory_users', rows, ['organization_id', 'id']);
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
export async function replaceMemberships(db: Db, organizationId: string, sets: ReadonlyMap<string, ReadonlySet<string>>): Promise<void> {
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

/** The users who are members of the given groups. */
export async function membersOfGroups(db: Db, organizationId: string, groupIds: readonly string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const { rows } = await db.raw(`SELECT DISTINCT user_id FROM group_memberships WHERE organization_id = ? AND group_id = ANY(?::text[])`, [
    organizationId,
    groupIds as string[],
  ]);
  return (rows as { user_id: string }[]).map((r) => r.user_id);
}

/**
 * Up to `limit` of the organization's users deactivated longer ago than `seconds` whose personal
 * fields are still kept, the longest deactivated first.
 */
export async function usersDueForPurge(db: Db, organizationId: string, seconds: number, limit: number): Promise<string[]> {
  const [age, s] = before(seconds);
  const { rows } = await db.raw(
    `SELECT id FROM directory_users
      WHERE organization_id = ? AND ${DEACTIVATED_WITH_DATA} AND deactivated_at < ${age}
      ORDER BY deactivated_at
      LIMIT ?`,
    [organizationId, s, limit],
  );
  return (rows as { id: string }[]).map((r) => r.id);
}

/**
 * Clears the personal fields (email, names, username, attributes) of the given users (see
 * usersDueForPurge). Ids, the active flag and the freshness clock stay, so a late event is still
 * recognized as stale and a reactivation fills the fields again. Active users are never touched.
 * Returns the users purged.
 */
export async function purgeUsers(db: Db, organizationId: string, ids: readonly string[]): Promise<number> {
  const result = await db.raw(
    `UPDATE directory_users
        SET email = NULL, name = NULL, given_name = NULL, family_name = NULL, preferred_username = NULL,
            attributes = '{}'::jsonb, updated_at = now()
      WHERE organization_id = ? AND id = ANY(?::text[]) AND NOT active`,
    [organizationId, ids as string[]],
  );
  return result.rowCount ?? 0;
}
