import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createDatabase, migrateLatest } from '../../db/connection';
import { freePort } from '../../scripts/lib/ports';
import { canConnect, closedFolderOnTheWay, startEmbeddedPostgres } from '../../scripts/lib/postgres';

/** A laptop without PostgreSQL: `npm run dev` starts the embedded one, and it keeps its data. */
// As root, PostgreSQL runs as the `postgres` system user, which must be able to reach the folder.
const dataDir = mkdtempSync(join(tmpdir(), 'scimflow-embedded-'));
chmodSync(dataDir, 0o755);
const closedDir = mkdtempSync(join(tmpdir(), 'scimflow-embedded-closed-'));
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(closedDir, { recursive: true, force: true });
});

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

it('says which folder keeps the postgres system user out of the data folder (as root), without waiting', async () => {
  // mkdtemp makes a folder only its owner may enter.
  expect(closedFolderOnTheWay(join(closedDir, 'data', 'postgres'))).toBe(closedDir);
  expect(closedFolderOnTheWay(dataDir)).toBeNull();
  const port = await freePort();
  const started = startEmbeddedPostgres(join(closedDir, 'data'), 'scimflow', port);
  if (process.getuid?.() === 0) {
    await expect(started).rejects.toThrow(
      new RegExp(`runs as the "postgres" system user, which may not enter ${closedDir}\\. Let it in \\(chmod o\\+x ${closedDir}\\)`),
    );
  } else {
    // Anyone else runs PostgreSQL as themselves, who may enter it.
    const server = await started;
    await server.stop();
  }
}, 120_000);
