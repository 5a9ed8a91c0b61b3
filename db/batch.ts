import type { Knex } from 'knex';

/**
 * PostgreSQL counts a statement's bind parameters in 16 bits: a multi-row INSERT of knex binds
 * one parameter per column per row, and past 65,535 the server refuses the statement. Every
 * multi-row write is cut into statements that stay well under the limit, whatever an event or a
 * directory page holds. (Statements that pass a whole column as one array, `unnest(?::text[])`,
 * bind one parameter per column and need no cutting.)
 */
export const MAX_BIND_PARAMETERS = 65_535;

/** Parameters one statement of ours binds at most: half the limit leaves room for the rest. */
const BIND_BUDGET = 30_000;

/** Rows of `columns` values each that one statement can carry. */
export function rowsPerStatement(columns: number, budget = BIND_BUDGET): number {
  return Math.max(1, Math.floor(budget / Math.max(1, columns)));
}

/**
 * `rows` cut into runs that each bind at most `budget` parameters. knex writes every row with the
 * columns of all the rows together, so the columns counted are the union of the rows' keys.
 */
export function chunkRows<T extends object>(rows: readonly T[], budget = BIND_BUDGET): T[][] {
  if (rows.length === 0) return [];
  const columns = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) columns.add(k);
  const size = rowsPerStatement(columns.size, budget);
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

type Db = Knex | Knex.Transaction;

/** Inserts `rows` into `table` in statements under the parameter limit; a row whose `key` exists is left as it is. */
export async function insertNew(db: Db, table: string, rows: readonly object[], key: readonly string[]): Promise<void> {
  for (const part of chunkRows(rows)) {
    await db(table).insert(part).onConflict(key).ignore();
  }
}

/**
 * Inserts `rows` into `table` in statements under the parameter limit; a row whose `key` exists
 * takes the new value of every other column it carries, and `updated_at` the time of the write.
 */
export async function upsertRows(db: Db, table: string, rows: readonly object[], key: readonly string[]): Promise<void> {
  for (const part of chunkRows(rows)) {
    const columns = new Set(part.flatMap((r) => Object.keys(r)));
    const merge: Record<string, Knex.Raw> = {};
    for (const c of columns) if (!key.includes(c)) merge[c] = db.raw('excluded.??', [c]);
    merge.updated_at = db.raw('now()');
    await db(table).insert(part).onConflict(key).merge(merge);
  }
}
