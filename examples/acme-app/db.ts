import knex, { type Knex } from 'knex';
import * as initial from './migrations/20261201000000_acme';

/** Acme's database: its own schema `acme` (in its own database, or beside scimflow's tables). */

export const SCHEMA = 'acme';

const migrations: Record<string, Knex.Migration> = { '20261201000000_acme': initial };

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const m = migrations[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};

export function createAcmeDatabase(url: string, options: { maxConnections?: number; applicationName?: string } = {}): Knex {
  return knex({
    client: 'pg',
    connection: { connectionString: url, application_name: options.applicationName ?? 'acme-app' },
    // Unqualified names are Acme's: scimflow's tables (when they share the database) stay out of reach.
    searchPath: [SCHEMA],
    pool: { min: 0, max: options.maxConnections ?? 10 },
    migrations: { migrationSource, schemaName: SCHEMA, tableName: 'knex_migrations' },
  });
}

/** Creates the schema and applies pending migrations (safe to run from the server and the worker at once). */
export async function migrateAcme(db: Knex): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.raw(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
      await db.migrate.latest();
      return;
    } catch (err) {
      // The other process is creating the schema or migrating: wait for it, then find nothing to do.
      const e = err as { code?: string; name?: string; message?: string };
      const concurrent = e.code === '23505' || e.code === '42P06' || e.name === 'MigrationLocked' || /already locked/.test(e.message ?? '');
      if (!concurrent || attempt >= 40) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
