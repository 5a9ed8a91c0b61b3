import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { buildProduction } from '../../scripts/build';
import { freePort } from '../../scripts/lib/ports';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { OrganizationWorkflows } from '../../temporal/client';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { databaseView, directoryView, reconcileAndWait } from '../support/reconcile';
import { eventually } from '../support/stack';
import { dataConverter } from '../../temporal/codec';

/**
 * The production build (`npm run build`): plain `node` runs the built API, worker and CLI, with no
 * TypeScript loader, and the worker runs the workflow bundle built ahead of time.
 */

// One level below the project, as dist/ is: the built code finds node_modules and the project as there.
const out = join(PROJECT_ROOT, `.build-test-${process.pid}-${randomBytes(3).toString('hex')}`);
const taskQueue = `built-${randomBytes(4).toString('hex')}`;
let emulator: EmulatorHandle;
let database: TestDatabase;
let connection: Connection;
const children: ChildProcess[] = [];

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: taskQueue,
    SCALEKIT_ENVIRONMENT_URL: emulator.url,
    SCALEKIT_CLIENT_ID: emulator.clientId,
    SCALEKIT_CLIENT_SECRET: emulator.clientSecret,
    SCALEKIT_WEBHOOK_SECRET: '',
    OPERATOR_API_TOKEN: '',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** Starts `node <built file>`, collecting what it prints. */
function start(file: string, extra: Record<string, string> = {}): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [join(out, file)], {
    cwd: PROJECT_ROOT,
    detached: true,
    env: env(extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  children.push(child);
  return { child, output: () => output };
}

beforeAll(async () => {
  await buildProduction(out);
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
}, 120_000);

afterAll(async () => {
  for (const c of children) {
    try {
      if (c.pid && c.exitCode === null) process.kill(-c.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await connection?.close();
  await database?.drop();
  await emulator?.close();
  await rm(out, { recursive: true, force: true });
});

it('runs the API, the worker (with the prebuilt workflow bundle) and the CLI with plain node', async () => {
  const worker = start('worker.js');
  await eventually(async () => worker.output().includes('the bundle built ahead of time') || worker.child.exitCode !== null, {
    timeoutMs: 60_000,
  });
  expect(worker.output()).toContain('the bundle built ahead of time');

  // An import through the built worker: workflows from the bundle, activities from worker.js.
  const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
  const workflows = new OrganizationWorkflows(new Client({ connection, dataConverter: dataConverter({}) }), taskQueue);
  const imported = await reconcileAndWait(workflows, org.id, { trigger: 'import' });
  expect(imported.status, worker.output()).toBe('completed');
  expect(await databaseView(database.db, org.id)).toEqual(directoryView(emulator, org.id));

  const port = await freePort();
  const api = start('api.js', {
    PORT: String(port),
    SCALEKIT_WEBHOOK_SECRET: emulator.webhookSecrets[0]!,
    OPERATOR_API_TOKEN: `op-${randomBytes(16).toString('hex')}`,
  });
  const ready = await eventually(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      return res?.status === 200 || api.child.exitCode !== null ? { status: res?.status ?? null } : null;
    },
    { timeoutMs: 60_000 },
  ).catch(() => ({ status: null }));
  expect(ready.status, api.output()).toBe(200);

  const cli = spawnSync(process.execPath, [join(out, 'cli.js'), 'runs', org.id, '--json'], {
    cwd: PROJECT_ROOT,
    env: env(),
    encoding: 'utf8',
  });
  expect(cli.status, cli.stderr).toBe(0);
  expect((JSON.parse(cli.stdout) as { runs: { id: string; status: string }[] }).runs).toEqual([
    expect.objectContaining({ id: imported.runId, status: 'completed' }),
  ]);
}, 240_000);
