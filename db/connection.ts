import knex, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from './migrations/index';

// bigint columns (nanosecond freshness clocks, counts) come back as strings; keep them exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export interface DatabaseOptions {
  url: string;
  /** Pool size; the worker's activities and the API share nothing, each has its own pool. */
  maxConnections?: number;
  applicationName?: string;
  /** Keep knex's own warnings off stdout (the CLI's --json output must stay parseable). */
  quiet?: boolean;
}

export function createDatabase(options: DatabaseOptions): Knex {
  return knex({
    client: 'pg',
    connection: { connectionString: options.url, application_name: options.applicationName ?? 'scimflow' },
    pool: { min: 0, max: options.maxConnections ?? 10 },
    migrations: { migrationSource, tableName: 'knex_migrations' },
    ...(options.quiet ? { log: { warn() {}, error() {}, deprecate() {}, debug() {} } } : {}),
  });
}

/** Applies pending migrations; returns the names applied. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}

/** A round trip that touches nothing: whether the database answers. */
export async function ping(db: Knex | Knex.Transaction): Promise<void> {
  await db.raw('SELECT 1');
}

/**
 * Runs `fn` in a transaction of its own: committed when it returns, rolled back when it throws.
 * (Writes to the directory mirror take the mirror's writer instead: db/mirror/writer.ts.)
 */
export async function inTransaction<T>(db: Knex, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(fn);
}
