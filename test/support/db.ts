import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { inject } from 'vitest';
import { createDatabase } from '../../db/connection';
import { dropDatabase, ensureDatabase, withDatabase } from '../../scripts/lib/postgres';

export interface TestDatabase {
  url: string;
  db: Knex;
  drop(): Promise<void>;
}

/** A fresh database for one test file, cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `scimflow_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = withDatabase(inject('postgresUrl'), name);
  await ensureDatabase(url, inject('templateDatabase'));
  const db = createDatabase({ url, maxConnections: 5 });
  return {
    url,
    db,
    drop: async () => {
      await db.destroy();
      await dropDatabase(url);
    },
  };
}
