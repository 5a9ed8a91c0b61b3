import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Knex } from 'knex';
import { createAcmeApp } from '../../examples/acme-app/app';
import { createAcmeDatabase, migrateAcme } from '../../examples/acme-app/db';
import { applyDirectoryChanges } from '../../examples/acme-app/directory-changes';
import { issueToken } from '../../examples/acme-app/tokens';
import { findByDirectoryId } from '../../examples/acme-app/users';
import type { ChangeBatch, ChangeBatchResult, ChangeRecord } from '../../contract/index';
import { createTestDatabase, type TestDatabase } from './db';

/** The reference application (examples/acme-app) on a fresh database, its API on a free port. */
export interface Acme {
  baseUrl: string;
  db: Knex;
  logs: string[];
  apply(organizationId: string, records: ChangeRecord[]): Promise<ChangeBatchResult>;
  /** A token for the user with this directory user id. */
  tokenFor(organizationId: string, directoryUserId: string): Promise<string>;
  /** A request with a bearer token (or none), answering the status and JSON body. */
  call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Another API over the same database, with other options, for the length of `fn`. */
  withApp<T>(options: { webhookSecrets?: string[]; devLogin?: boolean }, fn: (baseUrl: string) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export function memoryChangeLogger(lines: string[]) {
  const write =
    (level: string) =>
    (message: string, meta: Record<string, unknown> = {}) => {
      lines.push(`${level} ${message} ${JSON.stringify(meta)}`);
    };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

async function listen(app: ReturnType<typeof createAcmeApp>): Promise<{ server: Server; baseUrl: string }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startAcme(
  options: { webhookSecrets?: string[]; devLogin?: boolean } = {},
): Promise<Acme & { database: TestDatabase }> {
  const database = await createTestDatabase();
  const db = createAcmeDatabase(database.url, { maxConnections: 5 });
  await migrateAcme(db);
  const logs: string[] = [];
  const logger = memoryChangeLogger(logs);
  const { server, baseUrl } = await listen(createAcmeApp({ db, logger, ...options }));
  return {
    database,
    baseUrl,
    db,
    logs,
    apply: (organizationId, records) => applyDirectoryChanges(db, { organizationId, records } satisfies ChangeBatch, logger),
    async tokenFor(organizationId, directoryUserId) {
      const user = await findByDirectoryId(db, organizationId, directoryUserId);
      if (!user) throw new Error(`no Acme user for ${directoryUserId}`);
      return issueToken(db, user.id);
    },
    async call(method, path, token, body) {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
    async withApp(appOptions, fn) {
      const other = await listen(createAcmeApp({ db, logger, ...appOptions }));
      try {
        return await fn(other.baseUrl);
      } finally {
        await close(other.server);
      }
    },
    async stop() {
      await close(server);
      await db.destroy();
      await database.drop();
    },
  };
}
