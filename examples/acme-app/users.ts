import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { ROLES, type Role } from './permissions';

/**
 * Acme's own user management: the functions its sign-up, admin screens and now the directory all
 * go through. Each takes the caller's transaction, so a directory change and the record of having
 * applied it commit together.
 */

/** Rows per multi-row statement (under PostgreSQL's 65,535 parameters). */
const CHUNK = 1_000;

export interface User {
  id: string;
  organizationId: string;
  directoryUserId: string | null;
  email: string | null;
  name: string | null;
  active: boolean;
  roles: Role[];
}

export interface Profile {
  email: string | null;
  name: string | null;
}

interface UserRow {
  id: string;
  organization_id: string;
  directory_user_id: string | null;
  email: string | null;
  name: string | null;
  active: boolean;
}

async function withRoles(db: Knex | Knex.Transaction, row: UserRow): Promise<User> {
  const roles = (await db('user_roles').where({ user_id: row.id }).pluck('role')) as Role[];
  return {
    id: row.id,
    organizationId: row.organization_id,
    directoryUserId: row.directory_user_id,
    email: row.email,
    name: row.name,
    active: row.active,
    roles: ROLES.filter((r) => roles.includes(r)),
  };
}

export async function findUser(db: Knex | Knex.Transaction, id: string): Promise<User | null> {
  const row = await db<UserRow>('users').where({ id }).first();
  return row ? withRoles(db, row) : null;
}

export async function findByDirectoryId(
  db: Knex | Knex.Transaction,
  organizationId: string,
  directoryUserId: string,
): Promise<User | null> {
  const row = await db<UserRow>('users').where({ organization_id: organizationId, directory_user_id: directoryUserId }).first();
  return row ? withRoles(db, row) : null;
}

export interface NewUser extends Profile {
  organizationId: string;
  directoryUserId: string | null;
  roles: readonly Role[];
}

export async function createUser(trx: Knex.Transaction, input: NewUser): Promise<string> {
  const [id] = await createUsers(trx, [input]);
  return id!;
}

/** Creates many users at once (an import): a few multi-row statements instead of a few per user. */
export async function createUsers(trx: Knex.Transaction, inputs: readonly NewUser[]): Promise<string[]> {
  const ids = inputs.map(() => randomUUID());
  for (let i = 0; i < inputs.length; i += CHUNK) {
    const chunk = inputs.slice(i, i + CHUNK);
    await trx('users').insert(
      chunk.map((u, j) => ({
        id: ids[i + j],
        organization_id: u.organizationId,
        directory_user_id: u.directoryUserId,
        email: u.email,
        name: u.name,
      })),
    );
    const roles = chunk.flatMap((u, j) => u.roles.map((role) => ({ user_id: ids[i + j], role })));
    if (roles.length > 0) await trx('user_roles').insert(roles);
  }
  return ids;
}

export async function updateProfile(trx: Knex.Transaction, userId: string, profile: Profile): Promise<void> {
  await trx('users').where({ id: userId }).update({ email: profile.email, name: profile.name, updated_at: trx.fn.now() });
}

/** Replaces the user's roles. */
export async function setRoles(trx: Knex.Transaction, userId: string, roles: readonly Role[]): Promise<void> {
  await trx('user_roles').where({ user_id: userId }).whereNotIn('role', roles).delete();
  if (roles.length > 0) {
    await trx('user_roles')
      .insert(roles.map((role) => ({ user_id: userId, role })))
      .onConflict(['user_id', 'role'])
      .ignore();
  }
}

/** Disables the account and ends every session: its API tokens are revoked in the same transaction. */
export async function deactivateUser(trx: Knex.Transaction, userId: string, reason: string): Promise<number> {
  await trx('users').where({ id: userId }).update({ active: false, deactivated_at: trx.fn.now(), updated_at: trx.fn.now() });
  return revokeTokens(trx, userId, reason);
}

/** Enables the account again. Tokens revoked at deactivation stay revoked: the user signs in anew. */
export async function reactivateUser(trx: Knex.Transaction, userId: string): Promise<void> {
  await trx('users').where({ id: userId }).update({ active: true, deactivated_at: null, updated_at: trx.fn.now() });
}

export async function revokeTokens(trx: Knex.Transaction, userId: string, reason: string): Promise<number> {
  return trx('api_tokens').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: trx.fn.now(), revoked_reason: reason });
}
