import type { Knex } from 'knex';

/**
 * Everything the database holds for one organization, counted and removed (`orgs remove --data`).
 * The tables are listed in an order the foreign keys allow deleting in: what refers to a row
 * before that row. A run's snapshot, plan and directories have no organization column; they are
 * found through the organization's runs.
 */

/** Tables with an `organization_id` column, children first; the organization's own row last. */
export const ORGANIZATION_TABLES = [
  'group_memberships',
  'user_roles',
  'role_mappings',
  'directory_users',
  'directory_groups',
  'directory_events',
  'change_delivery_skips',
  'change_deliveries',
  'change_records',
  'settings_link_uses',
  'organization_directories',
] as const;

/** Tables of a run's details, keyed by `run_id` (deleted before the runs). */
export const RUN_TABLES = ['sync_snapshot_users', 'sync_snapshot_groups', 'sync_plan_changes', 'sync_run_directories'] as const;

export type OrganizationRowCounts = Record<string, number>;

type Db = Knex | Knex.Transaction;

/** Every table in deletion order, with the query of its rows of the organization. */
const STEPS: { table: string; rows: (db: Db, organizationId: string) => Knex.QueryBuilder }[] = [
  ...RUN_TABLES.map((table) => ({
    table,
    rows: (db: Db, org: string) => db(table).whereIn('run_id', db('sync_runs').select('id').where('organization_id', org)),
  })),
  ...ORGANIZATION_TABLES.map((table) => ({ table, rows: (db: Db, org: string) => db(table).where('organization_id', org) })),
  { table: 'sync_runs', rows: (db, org) => db('sync_runs').where('organization_id', org) },
  { table: 'organizations', rows: (db, org) => db('organizations').where('id', org) },
];

/** How many rows of each table belong to the organization (tables with none are left out). */
export async function countOrganizationRows(db: Knex, organizationId: string): Promise<OrganizationRowCounts> {
  const counts: OrganizationRowCounts = {};
  for (const { table, rows } of STEPS) {
    const row = (await rows(db, organizationId).count({ count: '*' }).first()) as { count: string | number };
    const count = Number(row.count);
    if (count > 0) counts[table] = count;
  }
  return counts;
}

/**
 * Deletes every row of the organization in one transaction, returning how many went from each
 * table. The organization's row is locked first: a batch or run of it still being written waits,
 * then fails on the missing organization rather than leaving rows behind.
 */
export async function deleteOrganizationData(db: Knex, organizationId: string): Promise<OrganizationRowCounts> {
  return db.transaction(async (trx) => {
    await trx('organizations').where('id', organizationId).forUpdate().first('id');
    const deleted: OrganizationRowCounts = {};
    for (const { table, rows } of STEPS) {
      const count = await rows(trx, organizationId).delete();
      if (count > 0) deleted[table] = count;
    }
    return deleted;
  });
}

/** Runs of the organization still in progress in the database (not ended, not a finished dry run). */
export async function runsInProgress(db: Knex, organizationId: string): Promise<{ id: string; kind: string; status: string }[]> {
  const rows = (await db('sync_runs')
    .where('organization_id', organizationId)
    .whereIn('status', ['running', 'needs_approval', 'applying'])
    .orderBy('id')
    .select('id', 'kind', 'status')) as { id: string | number; kind: string; status: string }[];
  return rows.map((r) => ({ id: String(r.id), kind: r.kind, status: r.status }));
}
