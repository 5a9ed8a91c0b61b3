import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { parseConfig } from '../../config/index';
import { createDatabase, migrateLatest } from '../../db/connection';
import { freePort } from '../../scripts/lib/ports';
import {
  adminUrl,
  dropDatabase,
  ensureDatabase,
  serverReachable,
  startEmbeddedPostgres,
  withDatabase,
  type EmbeddedPostgres,
} from '../../scripts/lib/postgres';
import { resolveTemporalCli, startDevServer } from '../../scripts/lib/temporal-server';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCli: string;
    postgresUrl: string;
    templateDatabase: string;
    tmpRoot: string;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Drops test databases left behind by runs that crashed. */
async function dropStaleTestDatabases(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl(url) });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'scimflow_test_%'`);
    for (const { datname } of rows) {
      const pid = Number(/^scimflow_test_(?:tpl_)?(\d+)/.exec(datname)?.[1]);
      if (Number.isFinite(pid) && !pidAlive(pid)) {
        await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * One real Temporal dev server (headless, in memory, on a free port) and one migrated template
 * database for the whole run; each test file clones its own database from the template.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = parseConfig(process.env);
  const tmpRoot = mkdtempSync(join(tmpdir(), 'scimflow-test-'));
  const cli = resolveTemporalCli(config.dev.temporalCli);
  if (!cli) throw new Error('No Temporal CLI found: run `npm run bootstrap` (npm test does) or set TEMPORAL_CLI.');

  let embedded: EmbeddedPostgres | undefined;
  let baseUrl = config.databaseUrl;
  if (!(await serverReachable(baseUrl))) {
    if (!config.databaseUrlIsDefault) throw new Error(`PostgreSQL at DATABASE_URL does not answer`);
    embedded = await startEmbeddedPostgres(config.dev.dataDir, 'postgres');
    baseUrl = embedded.url;
  }
  await dropStaleTestDatabases(baseUrl);
  const templateDatabase = `scimflow_test_tpl_${process.pid}`;
  const templateUrl = withDatabase(baseUrl, templateDatabase);
  await dropDatabase(templateUrl);
  await ensureDatabase(templateUrl);
  const db = createDatabase({ url: templateUrl });
  await migrateLatest(db);
  await db.destroy();

  const port = await freePort();
  const server = await startDevServer({ cli, port, watchPid: process.pid, logFile: join(tmpRoot, 'temporal.log') });

  project.provide('temporalAddress', server.address);
  project.provide('temporalCli', cli);
  project.provide('postgresUrl', baseUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('tmpRoot', tmpRoot);

  return async () => {
    await server.stop();
    await dropDatabase(templateUrl).catch(() => undefined);
    await embedded?.stop();
  };
}
