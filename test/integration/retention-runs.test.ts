import { randomInt } from 'node:crypto';
import { expect, it } from 'vitest';
import { endExpiredRuns } from '../../db/repositories/retention';
import { readStateGauges } from '../../db/repositories/state-gauges';
import type { RetentionReport } from '../../domain/retention';
import { startRetentionRun } from '../../temporal/retention';
import { databaseView, reconcileAndWait, waitForRun } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually } from '../support/stack';

/**
 * Retention ends a run waiting for approval before it removes the run's snapshot. An approval
 * arriving after that must not apply the run: its plan would be made again from a snapshot that
 * is going, and a full run deactivates everyone missing from it.
 */

const DAY = 86_400;
const env = useEmulatorStack({
  stack: {
    retention: { syncRunSeconds: 90 * DAY, eventPayloadSeconds: 0, eventLedgerSeconds: 0, batchSize: 10 },
    reconcile: { deltaSkewMs: 0 },
  },
});

it('refuses to apply a run that retention has ended, and then removes it with its snapshot and plan', async () => {
  const { stack, emulator } = env;
  const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
  expect((await reconcileAndWait(stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  const users = emulator.snapshot(org.id).users;
  for (const u of users.slice(0, Math.ceil(users.length * 0.6))) emulator.deleteUser(org.id, u.id, { emit: false });
  const before = await databaseView(stack.database.db, org.id);

  const run = await stack.workflows.startReconcile(org.id, { kind: 'full', dryRun: false, trigger: 'test' });
  await eventually(async () => (await stack.workflows.status(org.id))?.reconcile?.phase === 'awaiting_approval');
  const rows = async () =>
    Number(
      (
        (
          await stack.database.db.raw(
            `SELECT (SELECT count(*) FROM sync_plan_changes WHERE run_id = :r) + (SELECT count(*) FROM sync_snapshot_users WHERE run_id = :r) AS n`,
            { r: run.runId },
          )
        ).rows as { n: string }[]
      )[0]?.n,
    );
  expect(await rows()).toBeGreaterThan(10);

  // Past the sync run retention while it waits (its workflow still holds it): retention ends it.
  await stack.database
    .db('sync_runs')
    .where('id', run.runId)
    .update({ created_at: stack.database.db.raw(`now() - interval '100 days'`) });
  expect(await endExpiredRuns(stack.database.db, 90 * DAY, 100)).toBe(1);
  expect(await stack.database.db('sync_runs').where('id', run.runId).first('status', 'error')).toEqual({
    status: 'cancelled',
    error: 'not approved within the sync run retention period; expired',
  });

  await stack.workflows.approveRun(org.id, run.runId);
  const outcome = await waitForRun(stack.workflows, org.id, run.runId);
  expect(outcome.status).toBe('failed');
  expect(outcome.error).toMatch(new RegExp(`run ${run.runId} already ended \\(cancelled\\); it cannot be applied`));
  expect(await databaseView(stack.database.db, org.id)).toEqual(before);

  const { handle } = await startRetentionRun(stack.client, stack.taskQueue, { dryRun: false, trigger: 'cli' });
  const report = (await handle.result()) as RetentionReport;
  expect(report.counts).toMatchObject({ syncRunsDeleted: 1 });
  expect(report.counts.syncRunRowsDeleted).toBeGreaterThan(10);
  expect(await stack.database.db('sync_runs').where('id', run.runId).first()).toBeUndefined();
  expect(await rows()).toBe(0);
  // The import that came before is recent: kept.
  expect(await stack.database.db('sync_runs').where('organization_id', org.id).count('* as n').first()).toEqual({ n: '1' });
});

it('leaves a scheduled delta a delta when every run is older than the period, each directory read from its own last run', async () => {
  const { stack, emulator } = env;
  const db = stack.database.db;
  const quiet = { emit: false } as const;
  const org = emulator.createOrganization({ displayName: `Old runs ${randomInt(1, 1e9)}`, provider: 'OKTA' }, quiet);
  const a = org.directoryId;
  const b = emulator.addDirectory(org.id, { provider: 'MICROSOFT_AD' }, quiet).id;
  for (const dir of [a, b])
    for (let i = 0; i < 3; i++) emulator.createUser(org.id, { email: `p${i}.${dir}@example.com`, directoryId: dir }, quiet);

  const imported = await reconcileAndWait(stack.workflows, org.id, { trigger: 'import' });
  const full = await reconcileAndWait(stack.workflows, org.id);
  // B disabled: the runs after this one read A only, so `full` stays the last run that read B.
  emulator.setDirectoryEnabled(org.id, false, { ...quiet, directoryId: b });
  const delta = await reconcileAndWait(stack.workflows, org.id, { kind: 'delta' });
  const lastFull = await reconcileAndWait(stack.workflows, org.id);
  for (const run of [imported, full, delta, lastFull]) expect(run.status).toBe('completed');
  expect(delta.kind).toBe('delta');

  // Everything happened long ago: every run is past the sync run retention.
  await db('sync_runs')
    .where('organization_id', org.id)
    .update({
      created_at: db.raw(`created_at - interval '100 days'`),
      updated_at: db.raw(`updated_at - interval '100 days'`),
      snapshot_at: db.raw(`snapshot_at - interval '100 days'`),
      finished_at: db.raw(`finished_at - interval '100 days'`),
    });
  const gauges = await readStateGauges(db);
  const { handle } = await startRetentionRun(stack.client, stack.taskQueue, { dryRun: false, trigger: 'cli' });
  expect(((await handle.result()) as RetentionReport).error).toBeNull();
  const kept = ((await db('sync_runs').where('organization_id', org.id).orderBy('id').select('id')) as { id: string }[]).map((r) =>
    String(r.id),
  );
  expect(kept).toEqual([full.runId, delta.runId, lastFull.runId]);
  // What /metrics says of reconciles is unchanged (only older by how long retention took).
  const after = await readStateGauges(db);
  // Ages move with the clock (the oldest change record's too): the rest must not move at all.
  expect(after).toEqual({
    ...gauges,
    oldestFullReconcileAgeSeconds: expect.any(Number),
    oldestChangeRecordAgeSeconds: gauges.oldestChangeRecordAgeSeconds === null ? null : expect.any(Number),
  });
  expect(Math.abs((after.oldestFullReconcileAgeSeconds ?? 0) - (gauges.oldestFullReconcileAgeSeconds ?? 0))).toBeLessThan(600);

  // B comes back: the scheduled delta is still a delta, A from the last run, B from the last that read it.
  emulator.setDirectoryEnabled(org.id, true, { ...quiet, directoryId: b });
  const next = await reconcileAndWait(stack.workflows, org.id, { kind: 'delta', trigger: 'schedule' });
  expect(next).toMatchObject({ kind: 'delta', status: 'completed' });
  const snapshotOf = async (runId: string) =>
    ((await db('sync_runs').where('id', runId).first('snapshot_at')) as { snapshot_at: Date }).snapshot_at.getTime();
  const from = Object.fromEntries(
    (
      (await db('sync_run_directories').where('run_id', next.runId).select('directory_id', 'updated_after')) as {
        directory_id: string;
        updated_after: Date | null;
      }[]
    ).map((d) => [d.directory_id, d.updated_after?.getTime() ?? null]),
  );
  expect(from[a]).toBeCloseTo(await snapshotOf(lastFull.runId), -1);
  expect(from[b]).toBeCloseTo(await snapshotOf(full.runId), -1);
});
