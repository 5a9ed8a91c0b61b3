import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../db/connection';
import { withMirrorWriter } from '../../db/mirror/writer';
import { readChanges } from '../../db/repositories/changes';
import { readDeliveryBatch } from '../../db/repositories/deliveries';
import { purgeDeactivatedUsers } from '../../db/repositories/retention';
import type { ChangeRecord } from '../../domain/changes';
import { adminUrl } from '../../scripts/lib/postgres';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * Reading the change stream while organizations commit concurrently: a transaction that takes
 * its record ids early and commits late is waited for, never passed over. Real Postgres, the
 * mirror's writer, no Temporal.
 */

let database: TestDatabase;
const db = () => database.db;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

let clock = 1_000;
/** One write that turns the organization's directory on or off: one record each. */
async function toggle(conn: Knex | Knex.Transaction, org: string, enabled: boolean): Promise<void> {
  clock += 1;
  await withMirrorWriter(conn, org, (w) =>
    w.writeDirectoryStates([
      { directoryId: `dir_${org}`, directoryType: 'SCIM', provider: 'OKTA', enabled, sourceNs: String(clock), listed: true },
    ]),
  );
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('the stream of every organization', () => {
  it('a reader polling throughout sees every record exactly once, each organization in sequence order', async () => {
    const orgs = ['org_feed_a', 'org_feed_b', 'org_feed_c'];
    for (const id of orgs) await db()('organizations').insert({ id });
    const seen: ChangeRecord[] = [];
    let cursor: string | null = null;
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const page = await readChanges(db(), { after: cursor, limit: 3 });
        seen.push(...page.records);
        cursor = page.next;
        if (!page.more) await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // A takes its ids first and commits last; B and C commit many records meanwhile.
    const holdA = deferred();
    const aWrote = deferred();
    const a = db().transaction(async (trx) => {
      await toggle(trx, 'org_feed_a', true);
      await toggle(trx, 'org_feed_a', false);
      aWrote.resolve();
      await holdA.promise;
    });
    await aWrote.promise;
    const holdB = deferred();
    const bWrote = deferred();
    const b = db().transaction(async (trx) => {
      await toggle(trx, 'org_feed_b', true);
      bWrote.resolve();
      await holdB.promise;
    });
    await bWrote.promise;
    for (let i = 0; i < 6; i++) await toggle(db(), 'org_feed_c', i % 2 === 0);
    // While A is open, nothing of a later transaction is handed out (the reader would skip A's).
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([]);
    holdB.resolve();
    await b;
    for (let i = 0; i < 3; i++) await toggle(db(), 'org_feed_b', i % 2 === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([]);
    holdA.resolve();
    await a;
    for (let i = 0; i < 4; i++) await Promise.all([toggle(db(), 'org_feed_a', i % 2 === 0), toggle(db(), 'org_feed_c', i % 2 === 0)]);

    const total = Number((await db()('change_records').count('* as n').first())?.n);
    expect(total).toBe(2 + 1 + 6 + 3 + 4 + 4);
    const deadline = Date.now() + 10_000;
    while (seen.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    reading = false;
    await reader;

    expect(seen.length).toBe(total);
    expect(new Set(seen.map((r) => r.id)).size).toBe(total);
    for (const org of orgs) {
      const sequences = seen.filter((r) => r.organizationId === org).map((r) => r.sequence);
      expect(sequences).toEqual(sequences.map((_, i) => i + 1));
    }
    // A's records come before every record of a transaction that began after A.
    expect(seen.slice(0, 2).map((r) => r.organizationId)).toEqual(['org_feed_a', 'org_feed_a']);
  });

  it('a transaction left open in another database of the cluster does not hold the stream back; one in this database does', async () => {
    const org = 'org_feed_neighbour';
    await db()('organizations').insert({ id: org });
    const tail = async (): Promise<string> => {
      let cursor: string | null = null;
      for (;;) {
        const page = await readChanges(db(), { after: cursor, limit: 1_000 });
        cursor = page.next;
        if (!page.more) return cursor;
      }
    };
    const start = await tail();
    // A neighbour (another application's database on the same server) holds a transaction id, open.
    const neighbour = createDatabase({ url: adminUrl(database.url), maxConnections: 1 });
    const holdNeighbour = deferred();
    const neighbourOpen = deferred();
    const open = neighbour.transaction(async (trx) => {
      await trx.raw('SELECT pg_current_xact_id()');
      neighbourOpen.resolve();
      await holdNeighbour.promise;
    });
    try {
      await neighbourOpen.promise;
      await toggle(db(), org, true);
      const seen = await readChanges(db(), { after: start, limit: 10 });
      expect(seen.records.map((r) => [r.organizationId, r.kind])).toEqual([[org, 'directory.enabled']]);

      // The same in this database: the stream waits for it.
      const holdHere = deferred();
      const hereOpen = deferred();
      const here = db().transaction(async (trx) => {
        await trx.raw('SELECT pg_current_xact_id()');
        hereOpen.resolve();
        await holdHere.promise;
      });
      await hereOpen.promise;
      await toggle(db(), org, false);
      expect((await readChanges(db(), { after: seen.next, limit: 10 })).records).toEqual([]);
      holdHere.resolve();
      await here;
      expect((await readChanges(db(), { after: seen.next, limit: 10 })).records.map((r) => r.kind)).toEqual(['directory.disabled']);
    } finally {
      holdNeighbour.resolve();
      await open;
      await neighbour.destroy();
    }
  });

  it('reads one organization by sequence, replayable from any cursor', async () => {
    const org = 'org_feed_one';
    await db()('organizations').insert({ id: org });
    for (let i = 0; i < 5; i++) await toggle(db(), org, i % 2 === 0);
    const all = await readChanges(db(), { organizationId: org, limit: 100 });
    expect(all.records.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(all).toMatchObject({ next: '5', more: false });
    expect(all.records.map((r) => r.kind)).toEqual([
      'directory.enabled',
      'directory.disabled',
      'directory.enabled',
      'directory.disabled',
      'directory.enabled',
    ]);
    expect(all.records[0]).toMatchObject({ subject: { type: 'directory', id: `dir_${org}` }, cause: { type: 'directory_listing' } });
    const page = await readChanges(db(), { organizationId: org, after: '2', limit: 2 });
    expect(page.records.map((r) => r.sequence)).toEqual([3, 4]);
    expect(page).toMatchObject({ next: '4', more: true });
    expect(await readChanges(db(), { organizationId: org, after: '5', limit: 2 })).toEqual({ records: [], next: '5', more: false });
  });
});

describe('a delivery batch', () => {
  it('stops before its records weigh more than the budget, always with one record, and says more are there', async () => {
    const org = 'org_feed_weight';
    await db()('organizations').insert({ id: org });
    for (let i = 0; i < 5; i++) await toggle(db(), org, i % 2 === 0);
    const all = await readDeliveryBatch(db(), org, 0, 10);
    if (!('records' in all)) throw new Error('records expected');
    expect(all.records.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(all.more).toBe(false);
    const sizes = all.records.map((r) => Buffer.byteLength(JSON.stringify(r)));

    const two = await readDeliveryBatch(db(), org, 0, 10, sizes[0]! + sizes[1]! + 1);
    expect(two).toMatchObject({ more: true });
    expect('records' in two && two.records.map((r) => r.sequence)).toEqual([1, 2]);
    const one = await readDeliveryBatch(db(), org, 3, 10, 1);
    expect(one).toMatchObject({ more: true });
    expect('records' in one && one.records.map((r) => r.sequence)).toEqual([4]);
    // The last record alone: nothing more.
    expect(await readDeliveryBatch(db(), org, 4, 10, 1)).toMatchObject({ more: false });
  });
});

describe('retention', () => {
  it('a purge of a deactivated user records which fields were cleared, not what they held', async () => {
    const org = 'org_feed_purge';
    await db()('organizations').insert({ id: org });
    const user = { organization_id: org, active: false, source_ns: '1', attributes: '{}' };
    await db()('directory_users').insert([
      {
        ...user,
        id: 'diruser_gone',
        email: 'gone@example.com',
        given_name: 'Gone',
        deactivated_at: db().raw(`now() - interval '3 days'`),
        provisioned_at: db().raw('now()'),
      },
      { ...user, id: 'diruser_recent', email: 'recent@example.com', deactivated_at: db().raw('now()'), provisioned_at: db().raw('now()') },
    ]);
    expect(await purgeDeactivatedUsers(db(), 86_400, 100, new Set())).toBe(1);
    const page = await readChanges(db(), { organizationId: org, limit: 10 });
    expect(page.records).toHaveLength(1);
    expect(page.records[0]).toMatchObject({
      kind: 'user.updated',
      subject: { type: 'user', id: 'diruser_gone' },
      view: { email: null, givenName: null, active: false },
      changes: { email: { before: null, after: null }, givenName: { before: null, after: null } },
      cause: { type: 'retention' },
    });
  });
});
