import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createDatabase, migrateLatest } from '../../db/connection';
import { freePort } from '../../scripts/lib/ports';
import { canConnect, startEmbeddedPostgres } from '../../scripts/lib/postgres';

/** A laptop without PostgreSQL: `npm run dev` starts the embedded one, and it keeps its data. */
// As root, PostgreSQL runs as the `postgres` system user, which must be able to reach the folder.
const dataDir = mkdtempSync(join(tmpdir(), 'scimflow-embedded-'));
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it('initialises a new data folder, migrates, stops, and starts again with the data kept', async () => {
  const port = await freePort();
  const first = await startEmbeddedPostgres(dataDir, 'scimflow', port);
  expect(first.url).toBe(`postgres://postgres:postgres@127.0.0.1:${port}/scimflow`);
  const db = createDatabase({ url: first.url });
  expect(await migrateLatest(db)).toContain('20261123000000_directory');
  await db.raw(`INSERT INTO organizations (id) VALUES ('org_kept')`);
  await db.destroy();
  await first.stop();
  expect(await canConnect(first.url)).toBe(false);

  const second = await startEmbeddedPostgres(dataDir, 'scimflow', port);
  const again = createDatabase({ url: second.url });
  try {
    expect(await migrateLatest(again)).toEqual([]);
    expect((await again('organizations').select('id')).map((r: { id: string }) => r.id)).toEqual(['org_kept']);
  } finally {
    await again.destroy();
    await second.stop();
  }
}, 120_000);
