import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { findUser, type User } from './users';

/**
 * API tokens: opaque bearer tokens (`acme_` and 32 random bytes), stored only as their SHA-256.
 * A token authenticates while it is not revoked and its user is active.
 */

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Issues a token for the user; the token is returned once and never stored. */
export async function issueToken(db: Knex | Knex.Transaction, userId: string): Promise<string> {
  const token = `acme_${randomBytes(32).toString('base64url')}`;
  await db('api_tokens').insert({ user_id: userId, token_hash: hashToken(token) });
  return token;
}

/** The user a bearer token stands for, or null: unknown, revoked, or its user inactive. */
export async function authenticate(db: Knex, token: string): Promise<User | null> {
  const row = await db('api_tokens as t')
    .join('users as u', 'u.id', 't.user_id')
    .where('t.token_hash', hashToken(token))
    .whereNull('t.revoked_at')
    .where('u.active', true)
    .first<{ id: string; user_id: string } | undefined>('t.id', 't.user_id');
  if (!row) return null;
  await db('api_tokens').where({ id: row.id }).update({ last_used_at: db.fn.now() });
  return findUser(db, row.user_id);
}
