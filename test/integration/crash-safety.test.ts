import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { OrganizationWorkflows } from '../../temporal/client';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { databaseView, directoryView, waitForRun } from '../support/reconcile';
import { eventually } from '../support/stack';
import { dataConverter } from '../../temporal/codec';

/**
 * The worker is a real process here, killed with SIGKILL in the middle of an import and started
 * again: the import completes with the same result as an uninterrupted one.
 */

let emulator: EmulatorHandle;
let database: TestDatabase;
let connection: Connection;
let workflows: OrganizationWorkflows;
const taskQueue = `crash-${randomBytes(4).toString('hex')}`;
const workers: ChildProcess[] = [];

function startWorkerProcess(): ChildProcess {
  const child = spawn(join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'), ['worker/main.ts'], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      SCALEKIT_ENVIRONMENT_URL: emulator.url,
      SCALEKIT_CLIENT_ID: emulator.clientId,
      SCALEKIT_CLIENT_SECRET: emulator.clientSecret,
      SCALEKIT_WEBHOOK_SECRET: '',
      OPERATOR_API_TOKEN: '',
      LOG_LEVEL: 'warn',
    },
  });
  // Drain the pipes; a failing test shows the worker's own log through the run's outcome.
  child.stdout?.resume();
  child.stderr?.resume();
  workers.push(child);
  return child;
}

function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      resolve();
    }
  });
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  workflows = new OrganizationWorkflows(new Client({ connection, dataConverter: dataConverter({}) }), taskQueue);
});
afterAll(async () => {
  for (const w of workers) await kill(w, 'SIGKILL');
  await connection?.close();
  await database?.drop();
  await emulator?.close();
});

it('an import survives the worker being killed mid-run and ends as an uninterrupted one does', async () => {
  const seed = randomInt(1, 2 ** 31);
  const interrupted = emulator.generateLarge({ users: 8_000, groups: 80, seed }).organization.id;
  const uninterrupted = emulator.generateLarge({ users: 8_000, groups: 80, seed }).organization.id;

  let worker = startWorkerProcess();
  const run = await workflows.startReconcile(interrupted, { kind: 'full', dryRun: false, trigger: 'import' });
  const midway = await eventually(
    async () => {
      const s = await workflows.status(interrupted);
      const fetched = s?.reconcile?.usersFetched ?? 0;
      return fetched >= 1_500 && fetched < 8_000 ? s : undefined;
    },
    { intervalMs: 25, timeoutMs: 60_000 },
  );
  await kill(worker, 'SIGKILL');
  expect(midway.reconcile?.phase).toBe('users');
  const killedAt = midway.reconcile?.usersFetched ?? 0;

  worker = startWorkerProcess();
  const outcome = await waitForRun(workflows, interrupted, run.runId, 180_000);
  expect(outcome.status).toBe('completed');
  expect(await databaseView(database.db, interrupted)).toEqual(directoryView(emulator, interrupted));

  const reference = await workflows.startReconcile(uninterrupted, { kind: 'full', dryRun: false, trigger: 'import' });
  const referenceOutcome = await waitForRun(workflows, uninterrupted, reference.runId, 180_000);
  expect(outcome.result).toEqual(referenceOutcome.result);
  expect(outcome.result?.users.created).toBe(8_000);
  const row = await database.db('sync_runs').where('id', run.runId).first();
  expect(row.users_fetched).toBe(8_000);
  console.log(`crash safety: worker killed after ${killedAt} of 8000 users; the import resumed and completed with the reference result`);
  await kill(worker, 'SIGTERM');
}, 300_000);
