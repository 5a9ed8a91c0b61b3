import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDatabase, migrateLatest } from '../../db/connection';
import { dropDatabase, ensureDatabase, withDatabase } from '../../scripts/lib/postgres';

/**
 * Every migration goes up, down and up again on an empty database, and a down migration that
 * would lose data refuses with what to do instead.
 */

let url: string;
let db: Knex;

beforeAll(async () => {
  url = withDatabase(inject('postgresUrl'), `scimflow_migrations_${process.pid}_${randomBytes(4).toString('hex')}`);
  await ensureDatabase(url);
  db = createDatabase({ url, maxConnections: 2, quiet: true });
});
afterAll(async () => {
  await db?.destroy();
  if (url) await dropDatabase(url);
});

const tables = async () =>
  (
    (
      await db.raw(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE 'knex%' ORDER BY 1`,
      )
    ).rows as {
      table_name: string;
    }[]
  ).map((r) => r.table_name);

it('goes up, all the way down, and up again', async () => {
  const applied = await migrateLatest(db);
  expect(applied.length).toBeGreaterThanOrEqual(4);
  const all = await tables();
  expect(all).toEqual(
    expect.arrayContaining(['organizations', 'directory_users', 'directory_events', 'sync_runs', 'role_mappings', 'user_roles']),
  );

  await db.migrate.rollback(undefined, true);
  expect(await tables()).toEqual([]);
  expect(await migrateLatest(db)).toEqual(applied);
  expect(await tables()).toEqual(all);
});

it('refuses to undo pausing while events are kept for a paused organization', async () => {
  await migrateLatest(db);
  await db('directory_events').insert({ id: 'evt_kept', organization_id: 'org_1', outcome: 'deferred' });
  const syncPause = { name: '20261124010000_sync_pause' };
  await expect(db.migrate.down(syncPause)).rejects.toThrow(/events are kept for paused organizations: resume them/);
  expect(await db('directory_events').where('id', 'evt_kept').first('outcome')).toEqual({ outcome: 'deferred' });
  await db('directory_events').where('id', 'evt_kept').delete();
  await db.migrate.down(syncPause);
  expect(
    (await db.raw(`SELECT column_name FROM information_schema.columns WHERE table_name = 'directory_events' AND column_name = 'seq'`)).rows,
  ).toEqual([]);
});

it("leaves existing users' directory unknown (not the organization's last one), and refuses to undo an organization with two", async () => {
  await migrateLatest(db);
  const directories = { name: '20261125000000_directories' };
  await db.migrate.down(directories);
  // The schema before: one directory per organization, on its row. org_one's column names the
  // directory of its last enabled/disabled event: dir_one, disabled, while its users may come
  // from another directory (dir_other) whose events did not name it there.
  await db('organizations').insert([
    { id: 'org_one', directory_id: 'dir_one', directory_provider: 'OKTA', directory_enabled: false, directory_state_ns: 5 },
    { id: 'org_none' },
  ]);
  await db('directory_users').insert([
    { organization_id: 'org_one', id: 'diruser_1', active: true, source_ns: 1 },
    { organization_id: 'org_none', id: 'diruser_2', active: true, source_ns: 1 },
  ]);
  await db('directory_groups').insert([
    { organization_id: 'org_one', id: 'dirgroup_1', source_ns: 1 },
    { organization_id: 'org_one', id: 'dirgroup_2', directory_id: 'dir_other', source_ns: 1 },
  ]);

  await db.migrate.up(directories);
  expect(await db('directory_users').orderBy('id').select('id', 'directory_id')).toEqual([
    { id: 'diruser_1', directory_id: null },
    { id: 'diruser_2', directory_id: null },
  ]);
  // A group keeps the directory its own events named, and nothing else.
  expect(await db('directory_groups').orderBy('id').select('id', 'directory_id')).toEqual([
    { id: 'dirgroup_1', directory_id: null },
    { id: 'dirgroup_2', directory_id: 'dir_other' },
  ]);
  expect(await db('organization_directories').select('organization_id', 'id', 'provider', 'enabled', 'state_ns')).toEqual([
    { organization_id: 'org_one', id: 'dir_one', provider: 'OKTA', enabled: false, state_ns: '5' },
  ]);

  await db('organization_directories').insert({ organization_id: 'org_one', id: 'dir_two' });
  await expect(db.migrate.down(directories)).rejects.toThrow(/organization org_one has more than one directory/);
  expect(await db('organization_directories').count('* as n').first()).toEqual({ n: '2' });
  await db('organization_directories').where('id', 'dir_two').delete();
  await db.migrate.down(directories);
  expect(await db('organizations').where('id', 'org_one').first('directory_id', 'directory_provider', 'directory_enabled')).toEqual({
    directory_id: 'dir_one',
    directory_provider: 'OKTA',
    directory_enabled: false,
  });
});
