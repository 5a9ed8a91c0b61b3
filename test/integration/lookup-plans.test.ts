import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * An organization's first import writes tens of thousands of users and memberships in one
 * transaction, for an organization the table statistics have never seen. Every membership's
 * foreign-key check looks its user up by (organization_id, id): that lookup must use the primary
 * key, not an index that finds the organization and then filters every one of its users.
 */

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function scans(node: PlanNode): string[] {
  const own = node['Node Type'].includes('Scan') ? [`${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`] : [];
  return [...own, ...(node.Plans ?? []).flatMap(scans)];
}

describe('looking a user up by organization and id', () => {
  it('uses the primary key for an organization the statistics have not seen, with many of its users written in the same transaction', async () => {
    const db = database.db;
    // A small, analyzed table: an earlier, small organization.
    await db('organizations').insert([{ id: 'org_small' }, { id: 'org_new' }]);
    await db.raw(
      `INSERT INTO directory_users (organization_id, id, directory_id, active, source_ns)
       SELECT 'org_small', 'diruser_' || i, 'dir_small', true, 1 FROM generate_series(1, 20) i`,
    );
    await db.raw('ANALYZE directory_users');

    const plan = await db.transaction(async (trx) => {
      await trx.raw(
        `INSERT INTO directory_users (organization_id, id, directory_id, active, source_ns)
         SELECT 'org_new', 'diruser_' || i, 'dir_new', true, 1 FROM generate_series(1, 5000) i`,
      );
      const { rows } = await trx.raw(
        `EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY directory_users x WHERE organization_id = 'org_new' AND id = 'diruser_77' FOR KEY SHARE OF x`,
      );
      return (rows as { 'QUERY PLAN': { Plan: PlanNode }[] }[])[0]!['QUERY PLAN'][0]!.Plan;
    });
    expect(scans(plan)).toEqual(['Index Scan directory_users_pkey']);

    // Looking users up by directory still has an index of its own.
    const byDirectory = await db.transaction(async (trx) => {
      await trx.raw('SET LOCAL enable_seqscan = off');
      const { rows } = await trx.raw(
        `EXPLAIN (FORMAT JSON) SELECT id FROM directory_users WHERE organization_id = 'org_small' AND directory_id = 'dir_small'`,
      );
      return (rows as { 'QUERY PLAN': { Plan: PlanNode }[] }[])[0]!['QUERY PLAN'][0]!.Plan;
    });
    expect(scans(byDirectory).join(' ')).toContain('directory_users_known_directory');
  });
});
