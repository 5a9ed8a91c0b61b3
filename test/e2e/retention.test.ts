import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { describeRetentionSchedule, ensureRetentionSchedule } from '../../temporal/retention';
import { retentionScheduleId } from '../../workflows/retention-messages';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { processEnv } from '../support/process-env';
import { eventually } from '../support/stack';
import { dataConverter } from '../../temporal/codec';

/**
 * Retention as operators meet it: the worker process (`npm run start:worker`) creates the
 * retention schedule when it starts; triggering it prunes; the CLI runs it now, as a dry run or
 * for real, and shows the status. Real Temporal dev server, real Postgres.
 */

const taskQueue = `retention-${randomBytes(6).toString('hex')}`;
let database: TestDatabase;
let connection: Connection;
let client: Client;
let worker: ChildProcess | undefined;
let workerOutput = '';
let workerExited: Promise<void> | undefined;

/** The processes' environment: this run's services, and blanks for whatever a developer's .env holds. */
function env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return processEnv({
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATABASE_URL: database.url,
    SCALEKIT_ENVIRONMENT_URL: '',
    SCALEKIT_CLIENT_ID: '',
    SCALEKIT_CLIENT_SECRET: '',
    SCALEKIT_WEBHOOK_SECRET: '',
    PAYLOAD_ENCRYPTION_KEYS: '',
    OPERATOR_API_TOKEN: '',
    LOG_LEVEL: 'info',
    RETENTION_EVENT_PAYLOADS: '30d',
    RETENTION_EVENT_LEDGER: '180d',
    RETENTION_SYNC_RUNS: '',
    RETENTION_DEACTIVATED_USERS: '',
    // Far apart, so the schedule never fires by itself during the test: the test triggers it.
    RETENTION_INTERVAL: '365d',
    SCIMFLOW_EXIT_WITH_PARENT: '1',
    ...overrides,
  });
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'cli/scimflow.mjs'), ...args], {
    cwd: PROJECT_ROOT,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, dataConverter: dataConverter({}) });
  worker = spawn(join(PROJECT_ROOT, 'node_modules/.bin/tsx'), ['worker/main.ts'], {
    cwd: PROJECT_ROOT,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout?.on('data', (d: Buffer) => (workerOutput += d.toString()));
  worker.stderr?.on('data', (d: Buffer) => (workerOutput += d.toString()));
  workerExited = new Promise((r) => worker?.once('exit', () => r()));
});

afterAll(async () => {
  if (worker?.pid && worker.exitCode === null) {
    worker.kill('SIGTERM');
    const timer = setTimeout(() => worker?.kill('SIGKILL'), 30_000);
    await workerExited;
    clearTimeout(timer);
  }
  await client?.schedule
    .getHandle(retentionScheduleId(taskQueue))
    .delete()
    .catch(() => undefined);
  for await (const wf of client.workflow.list({ query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"` })) {
    await client.workflow
      .getHandle(wf.workflowId)
      .terminate('test finished')
      .catch(() => undefined);
  }
  await connection?.close();
  await database?.drop();
});

const db = () => database.db;

async function seedOld(org: string, prefix: string, count: number, days: number): Promise<void> {
  await db().raw(
    `INSERT INTO directory_events (id, organization_id, type, outcome, received_at, applied_at, payload)
     SELECT ? || i, ?, 'organization.directory.user_created', 'applied', now() - ? * interval '1 day', now() - ? * interval '1 day', '{"email": "old@example.com"}'::jsonb
       FROM generate_series(1, ?) i`,
    [prefix, org, days, days, count],
  );
}

/** The worker's JSON log lines, parsed (what is not one is left out). */
const logLines = (): Record<string, unknown>[] =>
  workerOutput.split('\n').flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line);
      return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });

const remaining = async (prefix: string) =>
  Number((await db()('directory_events').where('id', 'like', `${prefix}%`).count('* as n').first())?.n);

it('the worker creates the retention schedule; triggering it prunes; the CLI runs it now and shows it', async () => {
  const org = 'org_retention_e2e';
  await db()('organizations').insert({ id: org });
  await seedOld(org, 'scheduled-', 3, 200);
  await seedOld(org, 'cleared-', 2, 40);

  const schedule = await eventually(
    async () => {
      if (worker?.exitCode !== null) throw new Error(`the worker exited:\n${workerOutput}`);
      const s = await describeRetentionSchedule(client, taskQueue);
      return s.exists ? s : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  expect(schedule).toMatchObject({ paused: false, id: `scimflow-retention:${taskQueue}` });
  // The worker says so once it has made it (in the background, beside its start).
  await eventually(async () => /"msg":"retention schedule created"/.test(workerOutput), { timeoutMs: 120_000, intervalMs: 250 });

  await client.schedule.getHandle(schedule.id).trigger();
  await eventually(async () => (await remaining('scheduled-')) === 0, { timeoutMs: 120_000, intervalMs: 250 });
  expect(await db()('directory_events').where('id', 'like', 'cleared-%').whereNotNull('payload').count('* as n').first()).toEqual({
    n: '0',
  });
  expect(await remaining('cleared-')).toBe(2);
  await eventually(async () => logLines().some((l) => l.msg === 'retention run finished' && l.ledgerEventsDeleted === 3), {
    timeoutMs: 180_000,
    intervalMs: 250,
  });

  // Run it now from the CLI: a dry run counts and changes nothing; a run prunes and says what.
  await seedOld(org, 'by-hand-', 4, 365);
  const dry = await cli(['retention', 'run', '--dry-run', '--json']);
  expect(dry.code, dry.stderr).toBe(0);
  expect(JSON.parse(dry.stdout)).toMatchObject({
    dryRun: true,
    trigger: 'cli',
    complete: true,
    counts: { ledgerEventsDeleted: 4, eventPayloadsCleared: 0 },
  });
  expect(await remaining('by-hand-')).toBe(4);

  const real = await cli(['retention', 'run']);
  expect(real.code, real.stderr).toBe(0);
  expect(real.stdout).toMatch(/retention run finished/);
  expect(real.stdout).toMatch(/event ledger rows deleted\s+4/);
  expect(real.stdout).toMatch(/event ledger\s+180d\s+\(RETENTION_EVENT_LEDGER\)/);
  expect(await remaining('by-hand-')).toBe(0);

  const status = await cli(['retention', 'status', '--json']);
  expect(status.code, status.stderr).toBe(0);
  const parsed = JSON.parse(status.stdout) as {
    schedule: { exists: boolean };
    runs: { trigger: string; dryRun: boolean }[];
    oldest: Record<string, number | null>;
  };
  expect(parsed.schedule.exists).toBe(true);
  expect(parsed.runs.map((r) => [r.trigger, r.dryRun])).toEqual([
    ['cli', false],
    ['cli', true],
    ['schedule', false],
  ]);
  expect(parsed.oldest.oldestEventPayloadAgeSeconds).toBeNull();
  expect(parsed.oldest.oldestLedgerEventAgeSeconds).toBeGreaterThanOrEqual(40 * 86_400 - 60);
  const text = await cli(['retention', 'status']);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout).toMatch(/schedule\s+active/);
  expect(text.stdout).toMatch(/event ledger row\s+40d 0h/);

  // Starting the worker again (or another one) brings the schedule up to date, and keeps an
  // operator's pause.
  await client.schedule.getHandle(schedule.id).pause('audit in progress');
  expect(await ensureRetentionSchedule(client, { taskQueue, interval: '12h' })).toBe('updated');
  const described = await client.schedule.getHandle(schedule.id).describe();
  expect(described.state).toMatchObject({ paused: true, note: 'audit in progress' });
  expect(described.spec.intervals?.map((i) => i.every)).toEqual([12 * 3_600_000]);
}, 600_000);
