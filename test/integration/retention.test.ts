import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionActivities, DEFAULT_RETENTION_OPTIONS } from '../../activities/retention';
import { countEmailConflicts } from '../../db/repositories/conflicts';
import { lastReadSnapshot } from '../../db/repositories/run-directories';
import { lastCompletedSnapshot } from '../../db/repositories/sync-runs/runs';
import { CROSS_DIRECTORY_EMAIL_CONFLICT } from '../../domain/conflicts';
import { emptyCounts, type RetentionReport } from '../../domain/retention';
import { toEpochNanos } from '../../domain/time';
import { retentionProgress, startRetentionRun } from '../../temporal/retention';
import { organizationWorkflowId } from '../../workflows/messages';
import { RETENTION_WORKFLOW_TYPE, retentionWorkflowId, SCHEDULED_RETENTION_WORKFLOW_TYPE } from '../../workflows/retention-messages';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * Retention against real Postgres and the real Temporal dev server: what is older than each
 * period goes (in batches smaller than what is due), what a replay, an audit or exactly-once
 * still needs stays, and two runs never overlap.
 */

const DAY = 86_400;
const BATCH = 25;

let stack: Stack;
let db: Knex;

beforeAll(async () => {
  stack = await startStack({
    retention: {
      eventPayloadSeconds: 30 * DAY,
      eventLedgerSeconds: 180 * DAY,
      syncRunSeconds: 90 * DAY,
      deactivatedUserSeconds: 30 * DAY,
      batchSize: BATCH,
    },
  });
  db = stack.database.db;
});
afterAll(async () => {
  await stack?.stop();
});

const ago = (days: number) => db.raw(`now() - ? * interval '1 day'`, [days]);
const newOrg = async (prefix: string) => {
  const id = `org_${prefix}_${randomBytes(4).toString('hex')}`;
  await db('organizations').insert({ id });
  return id;
};

/** Ledger rows, `count` of each resolved outcome, resolved `days` ago, with payload (and a raw body). */
async function seedResolved(org: string, prefix: string, days: number, count: number): Promise<void> {
  await db.raw(
    `INSERT INTO directory_events (id, organization_id, type, outcome, received_at, applied_at, payload, raw_body)
     SELECT ? || '-' || o || '-' || i, ?, 'organization.directory.user_updated', o, now() - ? * interval '1 day', now() - ? * interval '1 day',
            '{"email": "someone@example.com"}'::jsonb, CASE WHEN o = 'ignored' THEN '{"raw": "someone@example.com"}' END
       FROM unnest(ARRAY['applied', 'duplicate', 'stale', 'ignored']) o, generate_series(1, ?) i`,
    [`${prefix}-${org}`, org, days, days, count],
  );
}

async function insertRun(
  org: string,
  fields: { status: string; createdDays: number; updatedDays?: number; dryRun?: boolean; kind?: 'full' | 'delta'; directoryId?: string },
): Promise<string> {
  const [row] = (await db('sync_runs')
    .insert({
      organization_id: org,
      kind: fields.kind ?? 'full',
      trigger: 'test',
      dry_run: fields.dryRun ?? false,
      directory_id: fields.directoryId ?? null,
      status: fields.status,
      snapshot_at: ago(fields.createdDays),
      snapshot_ns: '1',
      created_at: ago(fields.createdDays),
      updated_at: ago(fields.updatedDays ?? fields.createdDays),
      finished_at: ['completed', 'cancelled', 'failed'].includes(fields.status) ? ago(fields.createdDays) : null,
    })
    .returning('id')) as { id: string }[];
  return String(row!.id);
}

async function addRunRows(runId: string, rows: { plan?: number; users?: number; groups?: number }): Promise<void> {
  const series = (n: number) => Array.from({ length: n }, (_, i) => i);
  if (rows.plan) {
    await db('sync_plan_changes').insert(
      series(rows.plan).map((i) => ({
        run_id: runId,
        entity: 'user',
        entity_id: `u${i}`,
        action: 'update',
        changes: JSON.stringify({ email: { from: 'a@example.com', to: 'b@example.com' } }),
      })),
    );
  }
  if (rows.users) {
    await db('sync_snapshot_users').insert(
      series(rows.users).map((i) => ({ run_id: runId, id: `u${i}`, email: `u${i}@example.com`, updated_ns: '1', groups: [] })),
    );
  }
  if (rows.groups)
    await db('sync_snapshot_groups').insert(
      series(rows.groups).map((i) => ({ run_id: runId, id: `g${i}`, display_name: `G${i}`, updated_ns: '1' })),
    );
}

/** The directories a run listed, and whether it read each. */
async function addRunDirectories(runId: string, directories: Record<string, boolean>): Promise<void> {
  await db('sync_run_directories').insert(
    Object.entries(directories).map(([id, read], position) => ({ run_id: runId, directory_id: id, position, read })),
  );
}

const runRows = async (runId: string) => {
  const [{ plan, users, groups } = { plan: 0, users: 0, groups: 0 }] = (
    await db.raw(
      `SELECT (SELECT count(*) FROM sync_plan_changes WHERE run_id = :r)::int AS plan,
              (SELECT count(*) FROM sync_snapshot_users WHERE run_id = :r)::int AS users,
              (SELECT count(*) FROM sync_snapshot_groups WHERE run_id = :r)::int AS groups`,
      { r: runId },
    )
  ).rows as { plan: number; users: number; groups: number }[];
  return plan + users + groups;
};

async function insertUser(org: string, id: string, active: boolean, deactivatedDays: number | null, sourceNs = '1'): Promise<void> {
  await db('directory_users').insert({
    organization_id: org,
    id,
    email: `${id}@example.com`,
    name: `Name ${id}`,
    given_name: 'Given',
    family_name: 'Family',
    preferred_username: id,
    active,
    attributes: JSON.stringify({ phone: '+1 555 0100' }),
    source_ns: sourceNs,
    deactivated_at: deactivatedDays === null ? null : ago(deactivatedDays),
  });
}

const personal = (org: string, id: string) =>
  db('directory_users')
    .where({ organization_id: org, id })
    .first('email', 'name', 'given_name', 'family_name', 'preferred_username', 'attributes', 'active');

async function gauges(): Promise<Record<string, number>> {
  const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^(scimflow_retention_[a-z_]+) (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
}

async function runRetention(dryRun: boolean): Promise<RetentionReport> {
  const { handle, started } = await startRetentionRun(stack.client, stack.taskQueue, { dryRun, trigger: 'cli' });
  expect(started).toBe(true);
  return (await handle.result()) as RetentionReport;
}

describe('a retention run', () => {
  it('prunes what is older than each period, in batches, keeps the rest, and a dry run only counts', async () => {
    const org = await newOrg('prune');
    await seedResolved(org, 'old', 200, 15); // 60 ledger rows past 180 days: deleted
    await seedResolved(org, 'mid', 40, 15); // 60 past 30 days: payload cleared, row kept
    await seedResolved(org, 'new', 1, 2); // kept whole
    await db('directory_events').insert([
      // Received long ago but resolved only recently (a quarantined event retried): kept whole.
      {
        id: `late-${org}`,
        organization_id: org,
        outcome: 'stale',
        received_at: ago(200),
        applied_at: ago(10),
        payload: '{"email": "late@example.com"}',
      },
      // Waiting for a person or a resume: never pruned, whatever their age.
      {
        id: `quarantined-${org}`,
        organization_id: org,
        outcome: 'quarantined',
        received_at: ago(400),
        raw_body: '{"id": broken',
        detail: 'body is not valid JSON',
      },
      { id: `deferred-${org}`, organization_id: org, outcome: 'deferred', received_at: ago(400), payload: '{"email": "kept@example.com"}' },
    ]);

    const oldRun = await insertRun(org, { status: 'completed', createdDays: 100 });
    await addRunRows(oldRun, { plan: 60 });
    const newRun = await insertRun(org, { status: 'completed', createdDays: 10 });
    await addRunRows(newRun, { plan: 5 });
    const oldPlan = await insertRun(org, { status: 'planned', createdDays: 100, dryRun: true });
    await addRunRows(oldPlan, { plan: 10, users: 30, groups: 5 });
    const awaiting = await insertRun(org, { status: 'needs_approval', createdDays: 0 });
    await addRunRows(awaiting, { plan: 3, users: 3 });
    const abandoned = await insertRun(org, { status: 'running', createdDays: 100, updatedDays: 95 });
    await addRunRows(abandoned, { users: 3 });
    const progressing = await insertRun(org, { status: 'running', createdDays: 100, updatedDays: 0 });
    await addRunRows(progressing, { users: 2 });
    const leftover = await insertRun(org, { status: 'cancelled', createdDays: 2 });
    await addRunRows(leftover, { users: 30 });

    await insertUser(org, 'diruser_gone', false, 40);
    await insertUser(org, 'diruser_recent', false, 5);
    await insertUser(org, 'diruser_active', true, null);
    await db('settings_link_uses').insert([
      { nonce: `spent-${org}`, organization_id: org, expires_at: db.raw(`now() - interval '2 hours'`) },
      { nonce: `live-${org}`, organization_id: org, expires_at: db.raw(`now() + interval '10 minutes'`) },
    ]);

    const before = await gauges();
    expect(before.scimflow_retention_oldest_ledger_event_age_seconds).toBeGreaterThanOrEqual(200 * DAY - 60);
    expect(before.scimflow_retention_oldest_event_payload_age_seconds).toBeGreaterThanOrEqual(200 * DAY - 60);
    expect(before.scimflow_retention_oldest_sync_run_age_seconds).toBeGreaterThanOrEqual(100 * DAY - 60);
    expect(before.scimflow_retention_oldest_deactivated_user_data_age_seconds).toBeGreaterThanOrEqual(40 * DAY - 60);
    expect(before).not.toHaveProperty('scimflow_retention_last_run_age_seconds');

    const expected = {
      ledgerEventsDeleted: 60,
      eventPayloadsCleared: 60,
      syncRunsEnded: 2,
      syncRunsDeleted: 3,
      syncRunRowsDeleted: 60 + 45 + 3 + 30,
      deactivatedUsersPurged: 1,
      settingsLinkUsesDeleted: 1,
    };
    const ledgerCount = async () => Number((await db('directory_events').where('organization_id', org).count('* as n').first())?.n);
    const dry = await runRetention(true);
    expect(dry).toMatchObject({ dryRun: true, complete: true, counts: expected, error: null });
    expect(dry.periods).toMatchObject({ eventLedgerSeconds: 180 * DAY, deactivatedUserSeconds: 30 * DAY });
    expect(await ledgerCount()).toBe(60 + 60 + 8 + 3);
    expect(await runRows(oldPlan)).toBe(45);
    expect((await personal(org, 'diruser_gone'))?.email).toBe('diruser_gone@example.com');

    const report = await runRetention(false);
    expect(report).toMatchObject({ dryRun: false, trigger: 'cli', complete: true, counts: expected, error: null });

    // The event ledger: past 180 days gone, past 30 days without payload, the rest whole.
    const rows = (await db('directory_events').where('organization_id', org).select('id', 'outcome', 'payload', 'raw_body')) as {
      id: string;
      outcome: string;
      payload: unknown;
      raw_body: string | null;
    }[];
    const byPrefix = (p: string) => rows.filter((r) => r.id.startsWith(`${p}-`));
    expect(byPrefix('old')).toEqual([]);
    expect(byPrefix('mid')).toHaveLength(60);
    expect(byPrefix('mid').every((r) => r.payload === null && r.raw_body === null)).toBe(true);
    expect(byPrefix('new')).toHaveLength(8);
    expect(byPrefix('new').every((r) => r.payload !== null)).toBe(true);
    expect(byPrefix('late')[0]?.payload).toEqual({ email: 'late@example.com' });
    expect(byPrefix('quarantined')[0]).toMatchObject({ outcome: 'quarantined', raw_body: '{"id": broken' });
    expect(byPrefix('deferred')[0]).toMatchObject({ outcome: 'deferred', payload: { email: 'kept@example.com' } });

    // Sync runs: old ones gone with their rows; an expired plan and an abandoned run ended first.
    const runs = (await db('sync_runs').where('organization_id', org).select('id', 'status')) as { id: string; status: string }[];
    expect(new Map(runs.map((r) => [String(r.id), r.status]))).toEqual(
      new Map([
        [newRun, 'completed'],
        [awaiting, 'needs_approval'],
        [progressing, 'running'],
        [leftover, 'cancelled'],
      ]),
    );
    for (const gone of [oldRun, oldPlan, abandoned]) expect(await runRows(gone)).toBe(0);
    expect(await runRows(newRun)).toBe(5);
    expect(await runRows(awaiting)).toBe(6);
    expect(await runRows(progressing)).toBe(2);
    expect(await runRows(leftover)).toBe(0);

    // Deactivated long ago: personal fields cleared; recently, or active: untouched.
    expect(await personal(org, 'diruser_gone')).toEqual({
      email: null,
      name: null,
      given_name: null,
      family_name: null,
      preferred_username: null,
      attributes: {},
      active: false,
    });
    expect((await personal(org, 'diruser_recent'))?.email).toBe('diruser_recent@example.com');
    expect(await personal(org, 'diruser_active')).toMatchObject({
      email: 'diruser_active@example.com',
      active: true,
      attributes: { phone: '+1 555 0100' },
    });
    expect((await db('settings_link_uses').where('organization_id', org).select('nonce')).map((r: { nonce: string }) => r.nonce)).toEqual([
      `live-${org}`,
    ]);

    const after = await gauges();
    expect(after.scimflow_retention_oldest_ledger_event_age_seconds).toBeLessThan(41 * DAY);
    expect(after.scimflow_retention_oldest_event_payload_age_seconds).toBeLessThan(11 * DAY);
    expect(after.scimflow_retention_oldest_sync_run_age_seconds).toBeLessThan(11 * DAY);
    expect(after.scimflow_retention_oldest_deactivated_user_data_age_seconds).toBeLessThan(6 * DAY);
    expect(after.scimflow_retention_last_run_age_seconds).toBeLessThan(300);
    expect(after.scimflow_retention_last_run_rows).toBe(Object.values(expected).reduce((a, b) => a + b, 0));
    expect(await db('retention_runs').orderBy('id').select('trigger', 'dry_run', 'complete')).toEqual([
      { trigger: 'cli', dry_run: true, complete: true },
      { trigger: 'cli', dry_run: false, complete: true },
    ]);

    // Nothing is due any more: a second run prunes nothing.
    expect((await runRetention(false)).counts).toEqual(emptyCounts());
  });

  it('keeps, whatever their age, the completed runs that deltas, /metrics and the e-mail conflicts read', async () => {
    const org = await newOrg('keep');
    // A and B read by the full runs, until B was disabled; the only delta run an approved dry run.
    const full0 = await insertRun(org, { status: 'completed', createdDays: 400 });
    await addRunDirectories(full0, { dir_a: true, dir_b: true });
    await addRunRows(full0, { plan: 3 });
    const full1 = await insertRun(org, { status: 'completed', createdDays: 300 });
    await addRunDirectories(full1, { dir_a: true, dir_b: true });
    const full2 = await insertRun(org, { status: 'completed', createdDays: 250 });
    await addRunDirectories(full2, { dir_a: true, dir_b: false });
    await db('sync_plan_changes').insert({
      run_id: full2,
      entity: 'user',
      entity_id: 'diruser_held',
      action: 'create',
      changes: '{}',
      outcome: 'failed',
      detail: `unique constraint violated: ${CROSS_DIRECTORY_EMAIL_CONFLICT}: …`,
    });
    const delta0 = await insertRun(org, { status: 'completed', createdDays: 245, kind: 'delta', dryRun: true });
    await addRunDirectories(delta0, { dir_a: true, dir_b: false });
    const delta1 = await insertRun(org, { status: 'completed', createdDays: 240, kind: 'delta', dryRun: true });
    await addRunDirectories(delta1, { dir_a: true, dir_b: false });
    const failed = await insertRun(org, { status: 'failed', createdDays: 100 });
    // Runs recorded before directories were recorded per run: each read its one directory.
    const legacy = await newOrg('legacy');
    const legacy0 = await insertRun(legacy, { status: 'completed', createdDays: 400, directoryId: 'dir_x' });
    const legacy1 = await insertRun(legacy, { status: 'completed', createdDays: 300, directoryId: 'dir_x' });
    const legacy2 = await insertRun(legacy, { status: 'completed', createdDays: 250, directoryId: 'dir_y' });

    const whatDeltasRead = async () => ({
      since: await lastCompletedSnapshot(db, org),
      a: await lastReadSnapshot(db, org, 'dir_a'),
      b: await lastReadSnapshot(db, org, 'dir_b'),
      legacySince: await lastCompletedSnapshot(db, legacy),
      x: await lastReadSnapshot(db, legacy, 'dir_x'),
      y: await lastReadSnapshot(db, legacy, 'dir_y'),
      conflicts: await countEmailConflicts(db, org),
    });
    const before = await whatDeltasRead();
    expect(before).toMatchObject({ conflicts: 1 });
    expect(Object.values(before).every((v) => v !== null)).toBe(true);

    const expected = { ...emptyCounts(), syncRunsDeleted: 4, syncRunRowsDeleted: 3 };
    expect((await runRetention(true)).counts).toEqual(expected);
    expect((await runRetention(false)).counts).toEqual(expected);
    const left = async (o: string) =>
      ((await db('sync_runs').where('organization_id', o).orderBy('id').select('id')) as { id: string }[]).map((r) => String(r.id));
    expect(await left(org)).toEqual([full1, full2, delta1]);
    expect(await left(legacy)).toEqual([legacy1, legacy2]);
    for (const gone of [full0, delta0, failed, legacy0]) expect(await runRows(gone)).toBe(0);
    expect(await whatDeltasRead()).toEqual(before);
    // Kept because they are still read, not because retention fell behind: the gauge leaves them out.
    expect((await gauges()).scimflow_retention_oldest_sync_run_age_seconds).toBeLessThan(90 * DAY);
    expect((await runRetention(false)).counts).toEqual(emptyCounts());
  });

  it('keeps forever what a period of 0 covers', async () => {
    const org = await newOrg('forever');
    await seedResolved(org, 'ancient', 3_000, 2);
    const run = await insertRun(org, { status: 'completed', createdDays: 3_000 });
    await addRunRows(run, { plan: 4 });
    const plan = await insertRun(org, { status: 'planned', createdDays: 3_000, dryRun: true });
    await addRunRows(plan, { users: 4 });
    await insertUser(org, 'diruser_left', false, 3_000);
    const keepAll = createRetentionActivities({
      db,
      options: {
        ...DEFAULT_RETENTION_OPTIONS,
        eventPayloadSeconds: 0,
        eventLedgerSeconds: 0,
        syncRunSeconds: 0,
        deactivatedUserSeconds: 0,
      },
    });
    for (const dryRun of [true, false]) {
      const step = await keepAll.pruneRetentionStep({ dryRun });
      expect(step).toMatchObject({
        done: true,
        counts: { eventPayloadsCleared: 0, ledgerEventsDeleted: 0, syncRunsEnded: 0, syncRunsDeleted: 0, deactivatedUsersPurged: 0 },
      });
    }
    const events = (await db('directory_events').where('organization_id', org).select('payload')) as { payload: unknown }[];
    expect(events).toHaveLength(8);
    expect(events.every((e) => e.payload !== null)).toBe(true);
    expect(await db('sync_runs').where('organization_id', org).orderBy('id').select('status')).toEqual([
      { status: 'completed' },
      { status: 'planned' },
    ]);
    expect(await runRows(run)).toBe(4);
    expect(await runRows(plan)).toBe(4);
    expect((await personal(org, 'diruser_left'))?.email).toBe('diruser_left@example.com');
  });
});

describe('deactivated users', () => {
  it("purges their personal fields under the organization's lock, skipping a busy organization, and a late event stays stale", async () => {
    const busyOrg = await newOrg('busy');
    const freeOrg = await newOrg('free');
    const sourceNs = toEpochNanos(nanoTime(10_000))!;
    await insertUser(busyOrg, 'diruser_left', false, 60, sourceNs);
    await insertUser(busyOrg, 'diruser_here', true, null, sourceNs);
    await insertUser(freeOrg, 'diruser_left', false, 60, sourceNs);
    const purgeOnly = createRetentionActivities({
      db,
      options: {
        ...DEFAULT_RETENTION_OPTIONS,
        eventPayloadSeconds: 0,
        eventLedgerSeconds: 0,
        syncRunSeconds: 0,
        deactivatedUserSeconds: 30 * DAY,
      },
    });

    // A batch being applied to the busy organization holds its lock: the purge neither waits nor touches it.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = db.transaction(async (trx) => {
      await trx.raw('SELECT 1 FROM organizations WHERE id = ? FOR UPDATE', [busyOrg]);
      locked();
      await released;
    });
    await isLocked;
    let first: Awaited<ReturnType<typeof purgeOnly.pruneRetentionStep>>;
    try {
      first = await purgeOnly.pruneRetentionStep({ dryRun: false });
    } finally {
      release();
      await holder;
    }
    // (Users of other tests' organizations may be purged alongside.)
    expect(first).toMatchObject({ done: true, busyOrganizations: 1 });
    expect(first.counts.deactivatedUsersPurged).toBeGreaterThanOrEqual(1);
    expect((await personal(freeOrg, 'diruser_left'))?.email).toBeNull();
    expect((await personal(busyOrg, 'diruser_left'))?.email).toBe('diruser_left@example.com');

    expect(await purgeOnly.pruneRetentionStep({ dryRun: false })).toMatchObject({
      busyOrganizations: 0,
      counts: { deactivatedUsersPurged: 1 },
    });
    expect((await personal(busyOrg, 'diruser_left'))?.email).toBeNull();
    expect(await personal(busyOrg, 'diruser_here')).toMatchObject({ email: 'diruser_here@example.com', active: true });
    expect(await db('directory_users').where({ organization_id: busyOrg, id: 'diruser_left' }).first('source_ns')).toEqual({
      source_ns: sourceNs,
    });

    // The freshness clock stays: an update older than the deactivation is stale, not applied …
    const late = envelope(
      T.userUpdated,
      busyOrg,
      { id: 'diruser_left', email: 'resurrected@example.com', given_name: 'Late', active: true },
      nanoTime(5_000),
    );
    expect((await stack.deliver(late)).status).toBe(202);
    await eventually(async () => (await db('directory_events').where('id', late.id).first('outcome'))?.outcome === 'stale');
    expect(await personal(busyOrg, 'diruser_left')).toMatchObject({ email: null, active: false });
    // … and a newer creation brings the user back with their fields.
    const back = envelope(
      T.userCreated,
      busyOrg,
      { id: 'diruser_left', email: 'back@example.com', given_name: 'Back', family_name: 'Again', active: true },
      nanoTime(20_000),
    );
    expect((await stack.deliver(back)).status).toBe(202);
    await eventually(async () => (await personal(busyOrg, 'diruser_left'))?.active === true);
    expect(await personal(busyOrg, 'diruser_left')).toMatchObject({ email: 'back@example.com', given_name: 'Back' });
  });
});

describe('exactly once', () => {
  it('still counts a redelivered event as a duplicate after its payload was cleared', async () => {
    const org = `org_once_${randomBytes(4).toString('hex')}`;
    const created = envelope(
      T.userCreated,
      org,
      { id: 'diruser_once', email: 'first@example.com', given_name: 'First', active: true },
      nanoTime(1_000),
    );
    expect((await stack.deliver(created)).status).toBe(202);
    await eventually(async () => (await db('directory_events').where('id', created.id).first('outcome'))?.outcome === 'applied');
    await db('directory_events')
      .where('id', created.id)
      .update({ received_at: ago(40), applied_at: ago(40) });

    await runRetention(false);
    expect(await db('directory_events').where('id', created.id).first('outcome', 'payload', 'duplicate_count')).toEqual({
      outcome: 'applied',
      payload: null,
      duplicate_count: 0,
    });

    // A new run of the organization workflow remembers no recent ids: only the ledger can tell.
    await stack.client.workflow.getHandle(organizationWorkflowId(org)).terminate('forget the recent event ids');
    const again = { ...created, data: { ...created.data, email: 'changed@example.com' } };
    expect((await stack.deliver(again)).status).toBe(202);
    await eventually(async () => (await db('directory_events').where('id', created.id).first('duplicate_count'))?.duplicate_count === 1);
    expect(await db('directory_users').where({ organization_id: org, id: 'diruser_once' }).first('email')).toEqual({
      email: 'first@example.com',
    });
  });
});

describe('overlap', () => {
  it('never runs two retention runs at once: a scheduled one is skipped, one started by hand follows the running one', async () => {
    // A run that never ends: the retention id, on a task queue no worker polls.
    const id = retentionWorkflowId(stack.taskQueue);
    const stuck = await stack.client.workflow.start(RETENTION_WORKFLOW_TYPE, {
      workflowId: id,
      taskQueue: `nobody-${randomBytes(4).toString('hex')}`,
      args: [{ dryRun: false, trigger: 'cli' }],
    });
    try {
      const scheduled = await stack.client.workflow.execute(SCHEDULED_RETENTION_WORKFLOW_TYPE, {
        workflowId: `scheduled-${randomBytes(4).toString('hex')}`,
        taskQueue: stack.taskQueue,
        args: [],
      });
      expect(scheduled).toBeNull();
      const byHand = await startRetentionRun(stack.client, stack.taskQueue, { dryRun: false, trigger: 'cli' });
      expect(byHand.started).toBe(false);
      expect(byHand.handle.workflowId).toBe(id);
    } finally {
      await stuck.terminate('test finished');
    }
    // Once it has ended, a scheduled run goes ahead, and its progress can be asked while it runs.
    const next = await stack.client.workflow.execute(SCHEDULED_RETENTION_WORKFLOW_TYPE, {
      workflowId: `scheduled-${randomBytes(4).toString('hex')}`,
      taskQueue: stack.taskQueue,
      args: [],
    });
    expect(next).toMatchObject({ trigger: 'schedule', complete: true, error: null });
    expect(await retentionProgress(stack.client.workflow.getHandle(id))).toMatchObject({ trigger: 'schedule', complete: true });
  });
});
