import { randomInt } from 'node:crypto';
import { expect, it } from 'vitest';
import { endExpiredRuns } from '../../db/repositories/retention';
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
const env = useEmulatorStack({ stack: { retention: { syncRunSeconds: 90 * DAY, eventPayloadSeconds: 0, eventLedgerSeconds: 0, batchSize: 10 } } });

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
      ((await stack.database.db.raw(
        `SELECT (SELECT count(*) FROM sync_plan_changes WHERE run_id = :r) + (SELECT count(*) FROM sync_snapshot_users WHERE run_id = :r) AS n`,
        { r: run.runId },
      )).rows as { n: string }[])[0]?.n,
    );
  expect(await rows()).toBeGreaterThan(10);

  // Past the sync run retention while it waits (its workflow still holds it): retention ends it.
  await stack.database.db('sync_runs').where('id', run.runId).update({ created_at: stack.database.db.raw(`now() - interval '100 days'`) });
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
