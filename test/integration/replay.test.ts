import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { NativeConnection, Worker, type ReplayResult } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { ChangeBatch, ChangeBatchResult } from '../../contract/index';
import { deliverySettings } from '../../domain/delivery';
import { controlSchedule } from '../../temporal/schedules';
import { deliveryWorkflowId } from '../../workflows/delivery-messages';
import { organizationWorkflowId } from '../../workflows/messages';
import { reconcileAndWait, waitForRun } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually, workflowBundle } from '../support/stack';
import { dataConverter } from '../../temporal/codec';

/**
 * Workflow code must stay deterministic for the histories already running in production: a
 * change that schedules different commands for an old history breaks every open organization
 * workflow at its next replay. The committed histories in test/fixtures/histories were recorded
 * from earlier versions of the workflows; each must replay against today's code. Record new ones
 * (after a deliberate, patched change) with `npm run record-histories`.
 */

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'histories');

// Delivery to an application on a queue of its own is on, so its workflow's histories are recorded too.
const appQueue = `replay-app-${randomBytes(6).toString('hex')}`;
const env = useEmulatorStack({
  webhooks: true,
  stack: { delivery: deliverySettings(appQueue, { batch: 20, maxAttempts: 2, maxRetryInterval: '1 second', idleCheck: '3 seconds' }) },
});
const delivered: number[] = [];
let appConnection: NativeConnection | undefined;
let appWorker: Worker | undefined;
let appRunning: Promise<void> | undefined;
beforeAll(async () => {
  appConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  appWorker = await Worker.create({
    connection: appConnection,
    taskQueue: appQueue,
    // scimflow compresses its payloads: the application's worker reads them with scimflow's codec.
    dataConverter: env.stack.dataConverter,
    activities: {
      async applyDirectoryChanges(batch: ChangeBatch): Promise<ChangeBatchResult> {
        delivered.push(...batch.records.map((r) => r.sequence));
        return { applied: batch.records.length, alreadyApplied: 0 };
      },
    },
    shutdownGraceTime: '1 second',
  });
  appRunning = appWorker.run();
});
afterAll(async () => {
  appWorker?.shutdown();
  await appRunning;
  await appConnection?.close();
});

async function replay(histories: { workflowId: string; history: History }[]): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  // Histories of compressed payloads (scimflow's default) replay through scimflow's codec; older plain ones pass through it.
  const options = { workflowBundle: await workflowBundle(), replayName: 'scimflow-replay', dataConverter: dataConverter({}) };
  for await (const r of Worker.runReplayHistories(options, histories)) results.push(r);
  return results;
}

async function committedHistories(): Promise<{ file: string; workflowId: string; history: History }[]> {
  const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({
      file,
      workflowId: file.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(await readFile(path.join(FIXTURES, file), 'utf8'))),
    })),
  );
}

/** Every run of a workflow id that ran on this stack's task queue, oldest first. */
async function histories(client: Client, taskQueue: string, workflowId: string): Promise<History[]> {
  const out: { start: number; history: History }[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = "${workflowId}" AND TaskQueue = "${taskQueue}"` })) {
    out.push({ start: wf.startTime.getTime(), history: await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory() });
  }
  return out.sort((a, b) => a.start - b.start).map((h) => h.history);
}

it('replays every committed history against the current workflow code', async () => {
  const committed = await committedHistories();
  expect(committed.map((c) => c.file)).toEqual(
    expect.arrayContaining([expect.stringMatching(/^organization-/), expect.stringMatching(/^scheduled-/)]),
  );
  const results = await replay(committed);
  for (const r of results)
    expect({ workflowId: r.workflowId, error: r.error?.message }).toEqual({ workflowId: r.workflowId, error: undefined });
  expect(results).toHaveLength(committed.length);
});

it('catches a workflow change that is not deterministic', async () => {
  // The same history with one activity renamed is what a changed workflow would meet: the
  // replay must refuse it, or the check above proves nothing.
  const [first] = (await committedHistories()).filter((c) => c.file.startsWith('organization-'));
  expect(first).toBeDefined();
  const tampered = historyFromJSON(JSON.parse(historyToJSON(first!.history)));
  const scheduled = tampered.events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
  expect(scheduled).toBeDefined();
  scheduled!.activityTaskScheduledEventAttributes!.activityType!.name = 'renamedActivity';
  const [result] = await replay([{ workflowId: first!.workflowId, history: tampered }]);
  expect(result?.error?.name).toBe('DeterminismViolationError');
});

it('replays the histories of a session that uses every workflow feature', async () => {
  // Events (with a duplicate), an import, a role mapping previewed and changed, a pause with
  // events kept and a resume, a retry of quarantined events, a dry run approved, a guarded run cancelled, a delta, a scheduled reconcile,
  // a continue-as-new on request, and a workflow an unknown id started ending by itself: the histories this code writes today replay against it.
  const org = env.emulator.seedDemo({ seed: randomInt(1, 2 ** 31), emitWebhooks: true });
  await env.emulator.settled(30_000);
  await eventually(async () => ((await env.stack.workflows.status(org.id))?.applied ?? 0) > 0);
  expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');

  const [group] = env.emulator.snapshot(org.id).groups;
  const mapping = { action: 'map', groupId: group!.id, role: 'admin', precedence: 10 } as const;
  expect((await env.stack.workflows.changeRoles(org.id, { change: mapping, dryRun: true })).dryRun).toBe(true);
  expect((await env.stack.workflows.changeRoles(org.id, { change: mapping, dryRun: false })).usersChanged).toBeGreaterThan(0);

  const users = env.emulator.snapshot(org.id).users;
  await env.stack.workflows.pauseSync(org.id, 'replay');
  env.emulator.setFaults({ seed: 7, duplicateRate: 0.5 });
  env.emulator.updateUser(org.id, users[0]!.id, { givenName: 'Replayed' });
  env.emulator.deleteUser(org.id, users[1]!.id);
  await env.emulator.settled(30_000);
  env.emulator.setFaults({});
  await eventually(async () => ((await env.stack.workflows.status(org.id))?.deferred ?? 0) >= 2);
  await env.stack.workflows.resumeSync(org.id);
  await eventually(async () => (await env.stack.workflows.status(org.id))?.resuming === false);
  expect((await env.stack.workflows.retryQuarantined(org.id, null)).notFound).toBe(0);

  const dry = await reconcileAndWait(env.stack.workflows, org.id, { dryRun: true });
  expect(dry.status).toBe('planned');
  await env.stack.workflows.approveRun(org.id, dry.runId);
  expect((await waitForRun(env.stack.workflows, org.id, dry.runId)).status).toBe('completed');

  for (const u of users.slice(2, 40)) env.emulator.deleteUser(org.id, u.id, { emit: false });
  const guarded = await env.stack.workflows.startReconcile(org.id, { kind: 'full', dryRun: false, trigger: 'test' });
  await eventually(async () => (await env.stack.workflows.status(org.id))?.reconcile?.phase === 'awaiting_approval');
  await env.stack.workflows.cancelRun(org.id, guarded.runId);
  expect((await waitForRun(env.stack.workflows, org.id, guarded.runId)).status).toBe('cancelled');
  const delta = await reconcileAndWait(env.stack.workflows, org.id, { kind: 'delta' });
  expect(delta.status).toBe('completed');

  // The delivery: paused and resumed, rewound, and caught up.
  const deliveries = env.stack.deliveries;
  const records = async () =>
    Number((await env.stack.database.db('change_records').where('organization_id', org.id).max('sequence as m').first())?.m);
  await eventually(async () => ((await deliveries.status(org.id))?.deliveredSequence ?? 0) === (await records()), { timeoutMs: 60_000 });
  await deliveries.pause(org.id, 'replay');
  await deliveries.resume(org.id);
  expect((await deliveries.rewind(org.id, { toSequence: 2, dryRun: false })).fromSequence).toBe(2);
  await eventually(async () => ((await deliveries.status(org.id))?.deliveredSequence ?? 0) === (await records()), { timeoutMs: 60_000 });
  expect(new Set(delivered)).toEqual(new Set(Array.from({ length: await records() }, (_, i) => i + 1)));

  await controlSchedule(env.stack.client, org.id, 'delta', 'trigger');
  const scheduled = await eventually(async () => {
    for await (const wf of env.stack.client.workflow.list({
      query: `WorkflowType = "scheduledReconcileWorkflow" AND TaskQueue = "${env.stack.taskQueue}" AND ExecutionStatus = "Completed"`,
    })) {
      return wf;
    }
    return undefined;
  });
  await eventually(async () => {
    const s = await env.stack.workflows.status(org.id);
    return s && !s.reconcile && s.lastReconcile && s.lastReconcile.runId !== delta.runId;
  });

  // Continued as new on request: the next run carries on.
  const renewals = (await env.stack.workflows.status(org.id))!.continuedAsNew;
  await env.stack.workflows.requestContinueAsNew(org.id);
  await eventually(async () => (await env.stack.workflows.status(org.id))?.continuedAsNew === renewals + 1);

  // An id nobody knows: the workflow its refused command started ends by itself.
  const unknown = organizationWorkflowId(`org_unknown_${randomInt(1, 2 ** 31)}`);
  await expect(
    env.stack.workflows.startReconcile(unknown.slice(organizationWorkflowId('').length), { kind: 'full', dryRun: false, trigger: 'test' }),
  ).rejects.toThrow(/does not know organization/);
  await eventually(async () => (await env.stack.client.workflow.getHandle(unknown).describe()).status.name === 'COMPLETED');

  const recorded = [
    ...(await histories(env.stack.client, env.stack.taskQueue, organizationWorkflowId(org.id))).map((history, i) => ({
      name: `organization-${i + 1}`,
      workflowId: organizationWorkflowId(org.id),
      history,
    })),
    ...(await histories(env.stack.client, env.stack.taskQueue, deliveryWorkflowId(org.id))).map((history, i) => ({
      name: `delivery-${i + 1}`,
      workflowId: deliveryWorkflowId(org.id),
      history,
    })),
    { name: 'unknown-organization', workflowId: unknown, history: await env.stack.client.workflow.getHandle(unknown).fetchHistory() },
    {
      name: 'scheduled-reconcile',
      workflowId: scheduled.workflowId,
      history: await env.stack.client.workflow.getHandle(scheduled.workflowId, scheduled.runId).fetchHistory(),
    },
  ];
  const results = await replay(recorded);
  expect(results.map((r) => r.error?.message)).toEqual(recorded.map(() => undefined));
  // Activities scheduled through the server, and local ones (their markers name them).
  const localActivity = (e: NonNullable<History['events']>[number]) => {
    const marker = e.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0]?.data : undefined;
    return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type : undefined;
  };
  const kinds = new Set(
    recorded.flatMap((r) =>
      (r.history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? localActivity(e)).filter(Boolean),
    ),
  );
  expect([...kinds]).toEqual(
    expect.arrayContaining([
      'applyDirectoryEvents',
      'beginSyncRun',
      'planSyncRun',
      'applySyncRun',
      'finishSyncRun',
      'changeRoleMappings',
      'deferDirectoryEvents',
      'applyDeferredEvents',
      'retryQuarantinedEvents',
      'readDeliveryBatch',
      'applyDirectoryChanges',
      'saveDelivered',
    ]),
  );

  if (process.env.SCIMFLOW_RECORD_HISTORIES === '1') {
    // Named with the time of recording: histories of older code stay beside them and keep replaying.
    const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '');
    await mkdir(FIXTURES, { recursive: true });
    for (const r of recorded) await writeFile(path.join(FIXTURES, `${r.name}.${stamp}.json`), historyToJSON(r.history) + '\n');
    console.log(`recorded ${recorded.length} histories into ${path.relative(process.cwd(), FIXTURES)}`);
  }
}, 120_000);
