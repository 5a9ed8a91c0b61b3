import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { freePort } from '../../scripts/lib/ports';
import { describeSchedules } from '../../temporal/schedules';
import { ORGANIZATION_TABLES } from '../../db/repositories/organization-data';
import { processEnv } from '../support/process-env';
import { databaseView, directoryView, waitForRun } from '../support/reconcile';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, T } from '../support/webhooks';

// Every test here starts CLI processes (a TypeScript program each): on a busy two-core machine one
// start takes seconds, and the --help test alone starts thirty.
vi.setConfig({ testTimeout: 240_000 });

/**
 * The engineers' CLI, run as a process the way an engineer runs it (the `scimflow` bin and
 * `npm run cli`), against the emulator's Directory API, the in-process API + worker of the stack,
 * the real Temporal dev server and real Postgres.
 */

let emulator: EmulatorHandle;
let stack: Stack;
/** Everything every CLI process printed: checked at the end for secrets. */
const transcript: string[] = [];

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  stack = await startStack({
    scalekit: { environmentUrl: emulator.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
  });
});
afterAll(async () => {
  await stack?.stop();
  await emulator?.close();
});

const noEmit = { emit: false } as const;

/** The CLI's environment: this run's services, and blanks for whatever a developer's .env holds. */
function cliEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return processEnv({
    TEMPORAL_TASK_QUEUE: stack.taskQueue,
    DATABASE_URL: stack.database.url,
    SCALEKIT_ENVIRONMENT_URL: emulator.url,
    SCALEKIT_CLIENT_ID: emulator.clientId,
    SCALEKIT_CLIENT_SECRET: emulator.clientSecret,
    SCALEKIT_WEBHOOK_SECRET: '',
    OPERATOR_API_TOKEN: '',
    RECONCILE_FULL_INTERVAL: '',
    RECONCILE_DELTA_INTERVAL: '',
    DEPROVISION_GUARD_SHARE: '',
    DEPROVISION_GUARD_MIN: '',
    LOG_LEVEL: '',
    PORT: '',
    SCIMFLOW_DATA_DIR: '',
    TEMPORAL_CLI: '',
    TEMPORAL_DEV_PORT: '',
    TEMPORAL_UI_PORT: '',
    EMULATOR_PORT: '',
    SCIMFLOW_EXIT_WITH_PARENT: '0',
    ...overrides,
  });
}

interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliResult>;
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts the CLI through its bin shim (asynchronously: the stack's worker lives in this process and
 * must keep running while the CLI waits for it).
 */
function startCli(
  args: string[],
  env: Record<string, string> = {},
  command: string[] = [process.execPath, join(PROJECT_ROOT, 'cli/scimflow.mjs')],
): CliProcess {
  const [bin, ...pre] = command as [string, ...string[]];
  const child = spawn(bin, [...pre, ...args], { cwd: PROJECT_ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<CliResult>((resolve) =>
    child.once('close', (code) => {
      transcript.push(out, err);
      resolve({ code, stdout: out, stderr: err });
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForStderr(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(err)) {
        if (child.exitCode !== null) throw new Error(`CLI exited (${child.exitCode}) before ${String(pattern)}:\n${out}\n${err}`);
        if (Date.now() > deadline) throw new Error(`${String(pattern)} did not appear within ${timeoutMs} ms:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).exited;
}

function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON object (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const PROGRESS_USERS = /run (\d+) \(full\) users \[[█░]+\] ([\d,]+) \/ ([\d,?]+) fetched/;
const num = (s: string) => Number(s.replace(/,/g, ''));

describe('usage', () => {
  it('every command has --help (exit 0), a wrong command or argument exits 2', async () => {
    const commands = [
      [],
      ['orgs'],
      ['orgs', 'add'],
      ['orgs', 'list'],
      ['orgs', 'remove'],
      ['import'],
      ['reconcile'],
      ['runs'],
      ['plan'],
      ['approve'],
      ['cancel'],
      ['status'],
      ['schedule'],
      ['schedule', 'pause'],
      ['schedule', 'resume'],
      ['schedule', 'trigger'],
      ['pause'],
      ['resume'],
      ['events'],
      ['events', 'list'],
      ['events', 'retry'],
      ['roles'],
      ['roles', 'list'],
      ['roles', 'map'],
      ['roles', 'unmap'],
      ['roles', 'default'],
      ['roles', 'why'],
      ['domains'],
      ['domains', 'show'],
      ['domains', 'set'],
      ['domains', 'clear'],
      ['domains', 'held'],
      ['delivery'],
      ['delivery', 'status'],
      ['delivery', 'retry'],
      ['delivery', 'skip'],
      ['delivery', 'pause'],
      ['delivery', 'resume'],
      ['delivery', 'rewind'],
      ['workflows'],
      ['workflows', 'list'],
      ['workflows', 'continue-as-new'],
    ];
    for (let i = 0; i < commands.length; i += 5) {
      const batch = commands.slice(i, i + 5);
      const results = await Promise.all(batch.map((c) => cli([...c, '--help'])));
      results.forEach((r, j) => {
        const c = batch[j] ?? [];
        expect(r.code, `${c.join(' ')} --help: ${r.stderr}`).toBe(0);
        expect(r.stdout).toContain(`Usage: npm run cli --${c.length ? ` ${c.join(' ')}` : ''}`);
        expect(r.stdout.split('\n')[2]?.trim().length, `${c.join(' ')} has a description`).toBeGreaterThan(10);
      });
    }
    const [wrong, missing, badOrg, badRun, badKind, viaNpm] = await Promise.all([
      cli(['imprt', 'org_1']),
      cli(['import']),
      cli(['status', 'org.1']),
      cli(['plan', 'org_1', 'latest']),
      cli(['schedule', 'trigger', 'org_1', '--kind', 'weekly']),
      startCli(['cli', '--', 'frobnicate'], {}, ['npm', 'run', '--silent']).exited,
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/unknown command 'imprt'/);
    expect(wrong.stderr).toMatch(/Did you mean import\?/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'orgId'/);
    expect(badOrg.code).toBe(2);
    expect(badOrg.stderr).toMatch(/expected an organization id such as org_123/);
    expect(badRun.code).toBe(2);
    expect(badRun.stderr).toMatch(/expected a run number/);
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(/Allowed choices are full, delta/);
    expect(viaNpm.code).toBe(2);
    expect(viaNpm.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('ends quietly with 0 when the reader of its output goes away (`… | head`)', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    // The reader closes before the CLI writes anything, so its first line meets a closed pipe.
    const piped = startCli(['orgs', 'list']);
    piped.child.stdout?.destroy();
    const r = await piped.exited;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('says what to do when Temporal, the database or Scalekit credentials are missing', async () => {
    const closed = await freePort();
    const [noTemporal, noDatabase, noScalekit] = await Promise.all([
      cli(['status', 'org_1'], { TEMPORAL_ADDRESS: `127.0.0.1:${closed}` }),
      cli(['runs', 'org_1', '--json'], { DATABASE_URL: `postgres://scim:hunter2secret@127.0.0.1:${closed}/scimflow` }),
      cli(['orgs', 'add', 'org_1'], { SCALEKIT_ENVIRONMENT_URL: '', SCALEKIT_CLIENT_ID: '', SCALEKIT_CLIENT_SECRET: '' }),
    ]);
    expect(noTemporal.code).toBe(1);
    expect(noTemporal.stderr).toMatch(
      new RegExp(`cannot reach Temporal at 127.0.0.1:${closed}.*is \`npm run dev\` running\\?.*TEMPORAL_ADDRESS`),
    );
    expect(noDatabase.code).toBe(1);
    expect(noDatabase.stdout).toBe('');
    expect(noDatabase.stderr).toMatch(/cannot use the database .*DATABASE_URL/);
    expect(noDatabase.stderr).not.toContain('hunter2secret');
    expect(noScalekit.code).toBe(1);
    expect(noScalekit.stderr).toMatch(
      /needs Scalekit credentials: set SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET/,
    );
  });
});

describe('onboarding import', () => {
  it('registers the organization, shows progress, and ends with counts equal to the directory', async () => {
    // 10,000 users: a few seconds here, so the progress (polled 4×/s) shows several updates.
    const { organization: org } = emulator.generateLarge({ users: 10_000, groups: 50, seed: randomInt(1, 2 ** 31) });
    const snap = emulator.snapshot(org.id);
    const r = await cli(['import', org.id]);
    expect(r.code, r.stderr).toBe(0);

    // Registration, then acceptance.
    expect(r.stdout).toMatch(new RegExp(`registered ${org.id} "${org.displayName}"`));
    expect(r.stdout).toContain(`directory   ${org.directoryId}`);
    expect(r.stdout).toMatch(/schedules\s+created scim-reconcile:/);
    const runId = /accepted: run (\d+) \(full\)/.exec(r.stdout)?.[1];
    expect(runId).toBeDefined();

    // Not a terminal: progress lines (no carriage returns), with users fetched of the total, rising.
    expect(r.stderr).not.toContain('\r');
    const userLines = r.stderr.split('\n').flatMap((l) => {
      const m = PROGRESS_USERS.exec(l);
      return m ? [{ run: m[1], fetched: num(m[2] ?? ''), total: m[3] ?? '' }] : [];
    });
    // Several updates (a line per tenth fetched), all of this run, rising, against the directory's total.
    expect(userLines.length, r.stderr).toBeGreaterThanOrEqual(3);
    expect(
      userLines.every((l) => l.run === runId && l.total === '10,000'),
      r.stderr,
    ).toBe(true);
    const fetched = userLines.map((l) => l.fetched);
    expect([...fetched].sort((a, b) => a - b)).toEqual(fetched);
    expect(fetched.at(-1)).toBeGreaterThan(fetched[0] ?? 0);
    // Later phases show up as their own lines (each is caught if it lasts longer than a poll).
    expect(r.stderr).toMatch(
      new RegExp(`run ${runId} \\(full\\) (groups .* / 50 fetched|plan: comparing 10,000 users|apply: create 10,000)`),
    );

    // The end: the run's counts, equal to the directory.
    expect(r.stdout).toMatch(
      new RegExp(
        `run ${runId} completed in [\\d.]+m?s: full \\(import\\) of ${org.id}, 10,000 users and 50 groups fetched in \\d+ pages \\([\\d,]+ users/s\\)`,
      ),
    );
    expect(r.stdout).toMatch(
      /users {3}created 10,000 · updated 0 · deactivated 0 · reactivated 0 · unchanged 0 · skipped \(newer events\) 0 · failed 0/,
    );
    expect(r.stdout).toMatch(/groups {2}created 50 · updated 0/);
    expect(r.stdout).toMatch(/drift {3}10,050 changes/);
    expect(snap.users).toHaveLength(10_000);

    const db = stack.database.db;
    expect(await databaseView(db, org.id)).toEqual(directoryView(emulator, org.id));
    const row = await db('organizations').where('id', org.id).first();
    expect(row).toMatchObject({ display_name: org.displayName });
    expect(await db('organization_directories').where('organization_id', org.id).select('id')).toEqual([{ id: org.directoryId }]);
    const run = await db('sync_runs').where('id', runId).first();
    expect(run).toMatchObject({ trigger: 'import', status: 'completed', users_fetched: 10_000 });
    expect((await describeSchedules(stack.client, org.id)).every((s) => s.exists && !s.paused)).toBe(true);
    // The plan and the apply said where they were as they went: the apply's last step is recorded.
    expect(await db('sync_run_steps').where('run_id', runId).first()).toMatchObject({ phase: 'apply', step: 'change records' });
    // Steps seen by the progress lines are in order, each with its position.
    const steps = r.stderr.split('\n').flatMap((l) => {
      const m = / (plan|apply)\b.* · step (\d+)\/(\d+) /.exec(l);
      return m ? [`${m[1]}:${m[2]}/${m[3]}`] : [];
    });
    const order = (k: string) => (k.startsWith('plan') ? 0 : 100) + Number(k.split(':')[1]!.split('/')[0]);
    expect(steps.length, r.stderr).toBeGreaterThan(0);
    expect(
      [...steps].sort((a, b) => order(a) - order(b)),
      r.stderr,
    ).toEqual(steps);
  });

  it('imports every enabled directory of an organization; the report, orgs list and status show each directory', async () => {
    const { organization: org } = emulator.generateLarge({ users: 400, groups: 6, directories: 2, seed: randomInt(1, 2 ** 31) });
    const [a, b] = org.directoryIds as [string, string];
    const c = emulator.addDirectory(org.id, { provider: 'GOOGLE', enabled: false }, noEmit).id;
    const r = await cli(['import', org.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`directory   ${a} (SCIM, MICROSOFT_AD, enabled)`);
    expect(r.stdout).toContain(`directory   ${b} (SCIM, MICROSOFT_AD, enabled)`);
    expect(r.stdout).toContain(`directory   ${c} (SCIM, GOOGLE, disabled)`);
    expect(r.stdout).toMatch(/users {3}created 400 · updated 0 · deactivated 0/);
    expect(r.stdout).toContain(`  directory ${a} (MICROSOFT_AD): read, 200 users fetched: deactivate 0 of 0 active users`);
    expect(r.stdout).toContain(`  directory ${c} (GOOGLE): disabled, not read: its 0 active users are left as they are`);
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));

    const list = await cli(['orgs', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').find((l) => l.startsWith(org.id))).toContain(
      `${a} MICROSOFT_AD, ${b} MICROSOFT_AD, ${c} GOOGLE (disabled)`,
    );
    // An event the webhook itself quarantines (never signalled) counts too.
    const unreadable = envelope(T.userCreated, org.id, { id: 'not-a-directory-user', email: 'q@example.com' }, new Date().toISOString());
    expect((await stack.deliver(unreadable)).status).toBe(202);
    const status = await cli(['status', org.id]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(
      `quarantined 1 event(s) wait for a look: \`npm run cli -- events list ${org.id} --outcome quarantined\``,
    );
    expect(status.stdout).toMatch(
      new RegExp(
        `^directories\\n  ${a}  SCIM, MICROSOFT_AD, enabled · 200 active users of 200 · 3 groups\\n  ${b}  SCIM, MICROSOFT_AD, enabled · 200 active users of 200 · 3 groups\\n  ${c}  SCIM, GOOGLE, disabled · 0 active users of 0 · 0 groups$`,
        'm',
      ),
    );
    const statusJson = json<{ directories: { id: string; enabled: boolean }[]; emailConflicts: number }>(
      await cli(['status', org.id, '--json']),
    );
    expect(statusJson.directories.map((d) => [d.id, d.enabled])).toEqual([
      [a, true],
      [b, true],
      [c, false],
    ]);
    expect(statusJson.emailConflicts).toBe(0);
  });

  it('--json prints one object with the outcome, and no progress', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    const r = await cli(['import', org.id, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = json<{
      runId: string;
      status: string;
      trigger: string;
      kind: string;
      dryRun: boolean;
      usersFetched: number;
      durationMs: number;
      result: { users: Record<string, number>; groups: Record<string, number>; drift: number };
      registration: { directory: { id: string } };
    }>(r);
    const snap = emulator.snapshot(org.id);
    expect(out).toMatchObject({ status: 'completed', trigger: 'import', kind: 'full', dryRun: false, usersFetched: snap.users.length });
    expect(out.result.users).toMatchObject({ created: snap.users.length, updated: 0, deactivated: 0, failed: 0 });
    expect(out.result.groups.created).toBe(snap.groups.length);
    expect(out.result.drift).toBe(snap.users.length + snap.groups.length);
    expect(out.durationMs).toBeGreaterThan(0);
    expect(out.registration.directory.id).toBe(org.directoryId);
    const run = await stack.database.db('sync_runs').where('id', out.runId).first();
    expect(run.result).toEqual(out.result);
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));

    // The duration the import reported is the one runs shows; orgs list shows the run and the directory.
    const listed = json<{ runs: { id: string; createdAt: string; finishedAt: string }[] }>(await cli(['runs', org.id, '--json'])).runs.find(
      (r) => r.id === out.runId,
    );
    expect(Date.parse(listed!.finishedAt) - Date.parse(listed!.createdAt)).toBe(out.durationMs);
    const list = await cli(['orgs', 'list']);
    const row = list.stdout.split('\n').find((l) => l.startsWith(org.id)) ?? '';
    expect(row).toContain(org.directoryId);
    expect(row).not.toMatch(/\bnone\b/);
    expect(row).toMatch(new RegExp(`#${out.runId} full completed`));
  });

  it('refuses an unknown organization (exit 1) without registering it', async () => {
    const [r, asJson] = await Promise.all([cli(['import', 'org_doesnotexist']), cli(['import', 'org_doesnotexist', '--json'])]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: refused: Scalekit does not know organization org_doesnotexist: check the id/m);
    expect(r.stdout).not.toContain('accepted');
    expect(asJson.code).toBe(1);
    expect(json(asJson)).toMatchObject({
      organizationId: 'org_doesnotexist',
      status: 'refused',
      error: expect.stringMatching(/does not know/),
    });
    expect(await stack.database.db('organizations').where('id', 'org_doesnotexist').first()).toBeUndefined();
    expect(await stack.workflows.status('org_doesnotexist')).toBeNull();

    const bare = emulator.createOrganization({ displayName: 'No directory yet', withoutDirectory: true });
    const none = await cli(['import', bare.id]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/refused: .*has no directory in Scalekit yet/);
  });

  it('refuses a second import while one runs; Ctrl-C detaches and the run goes on', async () => {
    // Large enough to still run while a second CLI process starts (imports run at thousands of users/s here).
    const { organization: org } = emulator.generateLarge({ users: 30_000, groups: 100, seed: randomInt(1, 2 ** 31) });
    const watching = startCli(['import', org.id]);
    await watching.waitForStderr(PROGRESS_USERS);
    const runId = /accepted: run (\d+)/.exec(watching.stdout())?.[1] ?? '';
    expect(runId).not.toBe('');

    const second = await cli(['import', org.id]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`refused: a run is already in progress for ${org.id}: run ${runId}`));

    watching.child.kill('SIGINT');
    const detached = await watching.exited;
    expect(detached.code).toBe(130);
    expect(detached.stdout).toMatch(new RegExp(`detached: run ${runId} goes on`));
    expect(detached.stdout).toContain(`npm run cli -- status ${org.id}`);
    expect(detached.stdout).toContain(`npm run cli -- runs ${org.id}`);

    // The run's speed is not what this test is about: on a busy machine 30,000 users take minutes.
    const outcome = await waitForRun(stack.workflows, org.id, runId, 480_000);
    expect(outcome.status).toBe('completed');
    expect(outcome.result?.users.created).toBe(30_000);
  }, 600_000);
});

describe('removing an organization, renewing workflows', () => {
  const noScalekit = { SCALEKIT_ENVIRONMENT_URL: '', SCALEKIT_CLIENT_ID: '', SCALEKIT_CLIENT_SECRET: '' };
  const describeWorkflow = (org: string) => stack.client.workflow.getHandle(`scim-org:${org}`).describe();

  it('an import refused because nobody knows the organization leaves no workflow behind (the worker looks it up)', async () => {
    const org = `org_nope_${randomInt(1, 2 ** 31)}`;
    const r = await cli(['import', org], noScalekit);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`refused: Scalekit does not know organization ${org}`));
    // The workflow the refused request started ends by itself.
    await eventually(async () => (await describeWorkflow(org)).status.name === 'COMPLETED');
    const status = await cli(['status', org]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(
      new RegExp(`no organization workflow running for ${org} \\(scim-org:${org}: ended completed .*orgs add ${org}`),
    );
    expect(await stack.database.db('organizations').where('id', org).first()).toBeUndefined();
    expect((await describeSchedules(stack.client, org)).some((s) => s.exists)).toBe(false);
    const remove = await cli(['orgs', 'remove', org, '--data', '--yes']);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout).toContain(`nothing to remove for ${org}`);
  });

  it('orgs remove: a dry run lists it all, a run in progress and a missing --yes refuse, then everything goes, once', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const users = emulator.snapshot(org.id).users;
    // A run the deprovision guard stops stays in progress, waiting for a person.
    for (const u of users.slice(0, Math.ceil(users.length * 0.6))) emulator.deleteUser(org.id, u.id, noEmit);
    const stopped = await cli(['reconcile', org.id]);
    const runId = /accepted: run (\d+)/.exec(stopped.stdout)?.[1] ?? '';
    expect(runId).not.toBe('');

    const dry = await cli(['orgs', 'remove', org.id, '--dry-run', '--data']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`workflow  scim-org:${org.id}  organizationWorkflow, running since`);
    expect(dry.stdout).toContain(`schedule  scim-reconcile:${org.id}`);
    expect(dry.stdout).toContain(`schedule  scim-reconcile-delta:${org.id}`);
    expect(dry.stdout).toContain(`run       ${runId} (full) needs_approval`);
    expect(dry.stdout).toMatch(new RegExp(`data {6}.*directory_users ${users.length}\\b.*organizations 1`));
    expect(dry.stdout).toContain(`npm run cli -- orgs remove ${org.id} --data --yes`);

    const busy = await cli(['orgs', 'remove', org.id, '--data', '--yes']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(
      new RegExp(
        `refused: run ${runId} \\(full, needs_approval\\) is in progress for ${org.id}: .*cancel ${org.id} ${runId}.*--yes --force`,
      ),
    );
    expect(json(await cli(['orgs', 'remove', org.id, '--yes', '--json']))).toMatchObject({
      status: 'refused',
      error: expect.stringMatching(new RegExp(`^run ${runId} `)),
    });
    const unconfirmed = await cli(['orgs', 'remove', org.id, '--data', '--force']);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(
      /refused: removing cannot be undone; to remove the above, run `npm run cli -- orgs remove .* --data --yes`/,
    );
    // Refusals and the dry run changed nothing.
    expect((await describeWorkflow(org.id)).status.name).toBe('RUNNING');
    expect((await describeSchedules(stack.client, org.id)).map((s) => s.exists)).toEqual([true, true]);
    expect(await stack.database.db('organizations').where('id', org.id).first()).toBeDefined();

    const removed = json<{
      status: string;
      workflowsTerminated: string[];
      schedulesDeleted: string[];
      rowsDeleted: Record<string, number>;
    }>(await cli(['orgs', 'remove', org.id, '--data', '--yes', '--force', '--json']));
    expect(removed.status).toBe('removed');
    expect(removed.workflowsTerminated).toContain(`scim-org:${org.id}`);
    expect(removed.schedulesDeleted).toEqual([`scim-reconcile:${org.id}`, `scim-reconcile-delta:${org.id}`]);
    expect(removed.rowsDeleted).toMatchObject({ organizations: 1, directory_users: users.length });
    // The import and the stopped run (and a scheduled one, should its moment have come meanwhile).
    expect(removed.rowsDeleted.sync_runs).toBeGreaterThanOrEqual(2);
    expect((await describeWorkflow(org.id)).status.name).toBe('TERMINATED');
    expect((await describeSchedules(stack.client, org.id)).some((s) => s.exists)).toBe(false);
    // No table with an organization column keeps a row of it, and every such table is one the removal knows.
    const { rows: tables } = (await stack.database.db.raw(
      `SELECT table_name FROM information_schema.columns WHERE column_name = 'organization_id' AND table_schema = current_schema()`,
    )) as { rows: { table_name: string }[] };
    for (const { table_name } of tables) {
      expect([...ORGANIZATION_TABLES, 'sync_runs'], table_name).toContain(table_name);
      expect(Number((await stack.database.db(table_name).where('organization_id', org.id).count({ c: '*' }))[0]?.c), table_name).toBe(0);
    }
    expect(await stack.database.db('sync_plan_changes').where('run_id', runId).first()).toBeUndefined();

    const again = await cli(['orgs', 'remove', org.id, '--data', '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`nothing to remove for ${org.id}`);
    const status = await cli(['status', org.id]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/ended terminated/);
  });

  it('workflows continue-as-new renews a workflow now; workflows list --started-before shows which have not yet', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const before = (await stack.workflows.status(org.id))!;
    const listed = async (startedBefore: string) =>
      json<{ workflows: { organizationId: string }[] }>(
        await cli(['workflows', 'list', '--started-before', startedBefore, '--json']),
      ).workflows.map((w) => w.organizationId);
    await eventually(async () => (await listed(new Date().toISOString())).includes(org.id));

    const asked = await cli(['workflows', 'continue-as-new', org.id]);
    expect(asked.code, asked.stderr).toBe(0);
    expect(asked.stdout).toContain('asked 1 organization workflow(s) and 0 delivery workflow(s) to continue as new');
    const askedAt = /workflows list --started-before (\S+)`/.exec(asked.stdout)?.[1] ?? '';
    expect(askedAt).not.toBe('');
    const after = await eventually(async () => {
      const s = await stack.workflows.status(org.id);
      return s && s.continuedAsNew === before.continuedAsNew + 1 ? s : undefined;
    });
    // Its state went along: its counters since it first started.
    expect(after.firstStartedAt).toBe(before.firstStartedAt);
    expect(after.applied).toBe(before.applied);
    expect(Date.parse(after.runStartedAt)).toBeGreaterThan(Date.parse(before.runStartedAt));
    await eventually(async () => !(await listed(askedAt)).includes(org.id));

    const all = json<{ asked: string[] }>(await cli(['workflows', 'continue-as-new', '--all', '--json']));
    expect(all.asked).toContain(org.id);
    const [none, neither] = await Promise.all([
      cli(['workflows', 'continue-as-new', 'org_never_started']),
      cli(['workflows', 'continue-as-new']),
    ]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no workflow of org_never_started is running/);
    expect(neither.code).toBe(2);
  });
});

describe('dry run, plan, approve, runs, status and schedules', () => {
  it('a dry run prints the plan and changes nothing; approve applies it; runs and plan list them', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    const first = await cli(['import', org.id]);
    expect(first.code, first.stderr).toBe(0);
    const importRun = /accepted: run (\d+)/.exec(first.stdout)?.[1] ?? '';
    // A scheduled run coming due at the organization's moment of the hour would apply the drift
    // below before the approval does: this test's runs are its own.
    expect((await cli(['schedule', 'pause', org.id, '--note', 'dry-run test'])).code).toBe(0);
    const importDrift = emulator.snapshot(org.id).users.length + emulator.snapshot(org.id).groups.length;

    // Changes whose webhooks never arrived.
    const [a, b] = emulator.snapshot(org.id).users;
    emulator.updateUser(org.id, a!.id, { givenName: 'Renamed' }, noEmit);
    emulator.deleteUser(org.id, b!.id, noEmit);
    const joiner = emulator.createUser(
      org.id,
      { email: `late.${randomInt(1e6)}@example.com`, givenName: 'Late', familyName: 'Joiner' },
      noEmit,
    );
    const before = await databaseView(stack.database.db, org.id);

    const dry = await cli(['reconcile', org.id, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const dryRun = /accepted: run (\d+) \(full, dry run\)/.exec(dry.stdout)?.[1] ?? '';
    expect(dryRun).not.toBe('');
    expect(dry.stdout).toMatch(new RegExp(`run ${dryRun} planned in .*nothing was changed`));
    expect(dry.stdout).toMatch(/users {3}create 1 · update 1 · deactivate 1 · reactivate 0/);
    expect(dry.stdout).toMatch(/drift {3}3\b/);
    expect(dry.stdout).toContain(`npm run cli -- approve ${org.id} ${dryRun}`);
    expect(await databaseView(stack.database.db, org.id)).toEqual(before);

    // The plan, a page at a time.
    const page1 = await cli(['plan', org.id, dryRun, '--limit', '2']);
    expect(page1.code, page1.stderr).toBe(0);
    expect(page1.stdout).toMatch(/users {3}create 1 · update 1 · deactivate 1/);
    const next = /--after (\S+)/.exec(page1.stdout)?.[1] ?? '';
    expect(next).toMatch(/^user:/);
    const page2 = await cli(['plan', org.id, dryRun, '--limit', '2', '--after', next]);
    const all = json<{ changes: { entityId: string; action: string; changes: Record<string, unknown> }[]; nextCursor: string | null }>(
      await cli(['plan', org.id, dryRun, '--json']),
    );
    expect(all.nextCursor).toBeNull();
    expect(all.changes.map((c) => [c.entityId, c.action]).sort()).toEqual(
      [
        [a!.id, 'update'],
        [b!.id, 'deactivate'],
        [joiner.id, 'create'],
      ].sort(),
    );
    for (const c of all.changes) expect(page1.stdout.includes(c.entityId) !== page2.stdout.includes(c.entityId)).toBe(true);
    expect(page1.stdout + page2.stdout).toMatch(/given_name: "[^"]*" → "Renamed"|givenName: "[^"]*" → "Renamed"/);
    // The person beside the id; a value that did not exist before says so.
    const plan = page1.stdout + page2.stdout;
    expect(plan).toMatch(/ENTITY\s+ID\s+WHO\s+ACTION/);
    expect(plan).toMatch(new RegExp(`${joiner.id}\\s+${joiner.email.replace(/[.+]/g, '\\$&')}\\s+create`));
    expect(plan).toContain(`email: (none) → "${joiner.email}"`);
    expect(plan).not.toContain('undefined');

    const approved = await cli(['approve', org.id, dryRun, '--wait']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`approved: run ${dryRun} is applying`);
    expect(approved.stdout).toMatch(
      new RegExp(`run ${dryRun} completed in .*\\n  users   created 1 · updated 1 · deactivated 1 · reactivated 0`),
    );
    expect((await waitForRun(stack.workflows, org.id, dryRun)).status).toBe('completed');
    expect(await databaseView(stack.database.db, org.id)).toEqual(directoryView(emulator, org.id));
    const again = await cli(['approve', org.id, dryRun]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: refused: /m);
    const unknownRun = await cli(['cancel', org.id, '999999']);
    expect(unknownRun.code).toBe(1);
    expect(unknownRun.stderr).toMatch(/run 999999 of .* does not exist/);

    const runs = await cli(['runs', org.id]);
    expect(runs.code).toBe(0);
    // Newest first; a scheduled run that came due meanwhile is not this test's.
    const [header, ...rest] = runs.stdout.split('\n');
    const lines = [header, ...rest.filter((l) => !/^\s*\d+\s+\w+\s+schedule\s/.test(l))];
    expect(lines[0]).toMatch(/^RUN\s+KIND\s+TRIGGER\s+DRY RUN\s+STATUS\s+STARTED\s+DURATION\s+USERS FETCHED\s+DRIFT$/);
    expect(lines[1]).toMatch(new RegExp(`^\\s*${dryRun}\\s+full\\s+cli\\s+yes\\s+completed\\s.*\\s3$`));
    expect(lines[2]).toMatch(new RegExp(`^\\s*${importRun}\\s+full\\s+import\\s+no\\s+completed\\s`));
    const runsJson = json<{ runs: { id: string; trigger: string; status: string; drift: number }[] }>(
      await cli(['runs', org.id, '--json']),
    );
    expect(runsJson.runs.filter((r) => r.trigger !== 'schedule').map((r) => [r.id, r.status, r.drift])).toEqual([
      [dryRun, 'completed', 3],
      [importRun, 'completed', importDrift],
    ]);
  });

  it('a run the deprovision guard stops ends the command with the numbers and the decisions; cancel discards it', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const users = emulator.snapshot(org.id).users;
    const gone = Math.ceil(users.length * 0.6);
    for (const u of users.slice(0, gone)) emulator.deleteUser(org.id, u.id, noEmit);
    const before = await databaseView(stack.database.db, org.id);

    const r = await cli(['reconcile', org.id]);
    expect(r.code, r.stderr).toBe(0);
    const runId = /accepted: run (\d+)/.exec(r.stdout)?.[1] ?? '';
    expect(r.stdout).toMatch(
      new RegExp(
        `run ${runId} stopped before applying anything: it would deactivate ${gone} of ${users.length} active users \\(\\d+%\\), beyond the guard \\(more than 20% and at least 10\\)`,
      ),
    );
    expect(r.stdout).toContain(`npm run cli -- approve ${org.id} ${runId}`);
    expect(r.stdout).toContain(`npm run cli -- cancel ${org.id} ${runId}`);
    expect(r.stderr).toMatch(new RegExp(`run ${runId} \\(full\\) awaiting approval: it would deactivate ${gone} of ${users.length}`));
    expect(await databaseView(stack.database.db, org.id)).toEqual(before);

    const cancelled = await cli(['cancel', org.id, runId]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain(`cancelled: run ${runId} is cancelled`);
    expect((await stack.database.db('sync_runs').where('id', runId).first()).status).toBe('cancelled');
    expect(await databaseView(stack.database.db, org.id)).toEqual(before);
    // status (and the workflow's status query under it) says what runs says: cancelled.
    const [status, statusJson, runs] = await Promise.all([
      cli(['status', org.id]),
      cli(['status', org.id, '--json']),
      cli(['runs', org.id]),
    ]);
    expect(status.stdout).toMatch(new RegExp(`last run   run ${runId} full cancelled `));
    expect(status.stdout).toMatch(/run {8}none in progress/);
    expect(json<{ status: { lastReconcile: { runId: string; status: string } } }>(statusJson).status.lastReconcile).toMatchObject({
      runId,
      status: 'cancelled',
    });
    expect(runs.stdout).toMatch(new RegExp(`^\\s*${runId}\\s+full\\s+cli\\s+no\\s+cancelled\\s`, 'm'));
  });

  it('status shows the workflow and its schedules; pause shows in status and orgs list; trigger causes a run', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    const imported = json<{ runId: string; result: { users: { created: number } } }>(await cli(['import', org.id, '--json']));
    const users = emulator.snapshot(org.id).users.length;
    expect(imported.result.users.created).toBe(users);

    const status = await cli(['status', org.id]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`organization ${org.id}  (workflow scim-org:${org.id}`);
    expect(status.stdout).toMatch(/events {5}queued 0 · received \d+ · applied \d+ · duplicates 0/);
    expect(status.stdout).toMatch(/full {3}active · next \d{4}-/);
    // A worker (the stack's) polls the task queue; none polls a queue no worker serves.
    expect(status.stdout).toMatch(new RegExp(`worker {5}\\d+ polling task queue "${stack.taskQueue}", last seen .* ago`));
    const elsewhere = await cli(['status', org.id], { TEMPORAL_TASK_QUEUE: `${stack.taskQueue}-nobody` });
    expect(elsewhere.stdout).toMatch(new RegExp(`WORKER {5}none polls task queue "${stack.taskQueue}-nobody" .*npm run start:worker`));
    const statusJson = json<{ schedules: { exists: boolean }[] }>(await cli(['status', org.id, '--json']));
    expect(statusJson.schedules.map((s) => s.exists)).toEqual([true, true]);

    // The organization's scheduled runs fall at its own moment of the hour, which may come during
    // this test: once its schedules are paused (and a run begun before has ended), the last run
    // stays the last, the import or a scheduled one.
    const paused = await cli(['schedule', 'pause', org.id, '--note', 'customer migration']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain(`paused scim-reconcile:${org.id}, scim-reconcile-delta:${org.id}`);
    const last = await eventually(async () => {
      const s = await stack.workflows.status(org.id);
      return s && s.reconcile === null ? s.lastReconcile : undefined;
    });
    const lastRun = (await stack.database.db('sync_runs').where('id', last.runId).first()) as { kind: string; trigger: string };
    expect(last.runId === imported.runId || lastRun.trigger === 'schedule', `last run ${last.runId}: ${lastRun.trigger}`).toBe(true);

    const pausedStatus = (await cli(['status', org.id])).stdout;
    expect(pausedStatus).toMatch(/full {3}paused \(customer migration\)/);
    expect(pausedStatus).toMatch(/run {8}none in progress/);
    expect(pausedStatus).toMatch(
      new RegExp(`last run   run ${last.runId} ${lastRun.kind} completed .*created ${last.result?.users.created ?? 'none'}`),
    );
    expect(json<{ status: { lastReconcile: { runId: string } } }>(await cli(['status', org.id, '--json'])).status.lastReconcile.runId).toBe(
      last.runId,
    );
    const list = await cli(['orgs', 'list']);
    expect(list.code, list.stderr).toBe(0);
    const row = list.stdout.split('\n').find((l) => l.startsWith(org.id)) ?? '';
    expect(row).toMatch(new RegExp(`${users}/${users}\\s+#${last.runId} ${lastRun.kind} completed .* ago\\s+live\\s+paused$`));
    expect(row).toContain(org.directoryId);
    expect((await cli(['runs', org.id])).stdout).toMatch(new RegExp(`${imported.runId}\\s+full\\s+import\\s+no\\s+completed`));

    expect((await cli(['schedule', 'resume', org.id])).code).toBe(0);
    expect((await describeSchedules(stack.client, org.id)).map((s) => s.paused)).toEqual([false, false]);
    const trigger = await cli(['schedule', 'trigger', org.id]);
    expect(trigger.code, trigger.stderr).toBe(0);
    expect(trigger.stdout).toContain(`triggered scim-reconcile:${org.id}`);
    // The triggered full run (a scheduled delta may come before or after it).
    const scheduled = await eventually(
      async () => {
        const r = await stack.database
          .db('sync_runs')
          .where({ organization_id: org.id, trigger: 'schedule', kind: 'full', status: 'completed' })
          .andWhere('id', '>', last.runId)
          .first();
        return r as { id: string; drift: number } | undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(scheduled.drift).toBe(0);
    expect((await cli(['runs', org.id])).stdout).toMatch(new RegExp(`${scheduled.id}\\s+full\\s+schedule\\s+no\\s+completed`));

    const missing = await cli(['schedule', 'pause', 'org_never_registered']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/has no full and delta schedule .*npm run cli -- orgs add org_never_registered/);
    // Where it runs says how it is run (Compose sets SCIMFLOW_CLI_PREFIX for its cli service).
    const inCompose = await cli(['schedule', 'pause', 'org_never_registered'], { SCIMFLOW_CLI_PREFIX: 'docker compose run --rm cli' });
    expect(inCompose.stderr).toContain('docker compose run --rm cli orgs add org_never_registered');
  });

  it('orgs add registers a new organization with its schedules and workflow', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    const r = await cli(['orgs', 'add', org.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`registered ${org.id} "${org.displayName}"`);
    expect(r.stdout).toMatch(new RegExp(`directory   ${org.directoryId} \\(SCIM, .*enabled\\)`));
    expect(r.stdout).toContain('organizations row created');
    expect(r.stdout).toContain(`created scim-reconcile:${org.id}, scim-reconcile-delta:${org.id} (full every 6h, delta every 1h)`);
    expect(r.stdout).toContain(`next: import its directory with \`npm run cli -- import ${org.id}\``);
    const schedules = await describeSchedules(stack.client, org.id);
    expect(schedules.map((s) => [s.kind, s.exists, s.paused])).toEqual([
      ['full', true, false],
      ['delta', true, false],
    ]);
    expect(await stack.database.db('organizations').where('id', org.id).first()).toMatchObject({ display_name: org.displayName });
    expect(await stack.database.db('organization_directories').where('organization_id', org.id).select('id', 'enabled')).toEqual([
      { id: org.directoryId, enabled: true },
    ]);
    expect(await stack.workflows.status(org.id)).not.toBeNull();

    const again = await cli(['orgs', 'add', org.id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('organizations row updated');
    expect(again.stdout).toContain('schedules   already there');

    const unknown = await cli(['orgs', 'add', 'org_nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/refused: Scalekit does not know organization org_nobody/);
  });

  it('roles: list the groups, preview a mapping, apply it, explain a user, refuse bad input', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const groups = emulator.snapshot(org.id).groups;
    const eng = groups.find((g) => g.displayName === 'Engineering')!;
    const engineer = emulator.snapshot(org.id).users.find((u) => u.groupIds.includes(eng.id))!;
    const mapped = () => stack.database.db('user_roles').where({ organization_id: org.id, source: 'mapping' }).count('* as n').first();

    const list = await cli(['roles', 'list', org.id]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/default role: \(none/);
    expect(list.stdout).toMatch(new RegExp(`${eng.id}\\s+Engineering\\s+\\d+\\s+-`));

    const preview = await cli(['roles', 'map', org.id, eng.id, 'developer', '--precedence', '5', '--dry-run']);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain(`dry run: ${eng.id} → developer (precedence 5)`);
    expect(preview.stdout).toMatch(/would change the roles of \d+ users/);
    expect(preview.stdout).toContain('nothing was changed');
    expect(Number((await mapped())?.n)).toBe(0);

    const applied = await cli(['roles', 'map', org.id, eng.id, 'developer', '--precedence', '5', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    const result = json<{ status: string; usersChanged: number }>(applied);
    expect(result.status).toBe('applied');
    expect(Number((await mapped())?.n)).toBe(result.usersChanged);

    const why = await cli(['roles', 'why', org.id, engineer.id]);
    expect(why.code, why.stderr).toBe(0);
    expect(why.stdout).toMatch(/developer: member of group "Engineering" .* precedence 5/);
    expect(why.stdout).toContain(`by role mapping: ${eng.id} → developer (precedence 5)`);

    // The same mapping again changes no one, and says why.
    const again = await cli(['roles', 'map', org.id, eng.id, 'developer', '--precedence', '5', '--dry-run']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/would change the roles of 0 users/);
    expect(again.stdout).toMatch(new RegExp(`no one's roles would change: of the \\d+ users? in group ${eng.id}: .*developer already`));

    const [neither, badRole, unknownGroup, unknownUser] = await Promise.all([
      cli(['roles', 'default', org.id]),
      cli(['roles', 'map', org.id, eng.id, 'two words']),
      cli(['roles', 'map', org.id, 'dirgroup_nope', 'admin']),
      cli(['roles', 'why', org.id, 'diruser_nope']),
    ]);
    expect([neither.code, neither.stderr]).toEqual([2, expect.stringMatching(/give either a role name or --none/)]);
    expect([badRole.code, badRole.stderr]).toEqual([2, expect.stringMatching(/"two words" is not a role name/)]);
    expect([unknownGroup.code, unknownGroup.stderr]).toEqual([
      1,
      expect.stringMatching(/refused: group dirgroup_nope is not in the directory/),
    ]);
    expect([unknownUser.code, unknownUser.stderr]).toEqual([1, expect.stringMatching(/user diruser_nope is not in the directory/)]);
    expect(Number((await mapped())?.n)).toBe(result.usersChanged);
  });

  it('domains: preview and set the allowed e-mail domains, list who is held and why, clear them; refuse bad input', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const users = emulator.snapshot(org.id).users.filter((u) => u.active);
    const domain = users[0]!.email.split('@')[1]!;
    const heldRows = () =>
      stack.database.db('directory_users').where('organization_id', org.id).whereNotNull('held_reason').count('* as n').first();

    const open = await cli(['domains', 'show', org.id]);
    expect(open.code, open.stderr).toBe(0);
    expect(open.stdout).toContain('every e-mail domain reaches the application');

    const preview = await cli(['domains', 'set', org.id, 'elsewhere.example', '--dry-run']);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('dry run: allowed e-mail domains: elsewhere.example');
    expect(preview.stdout).toContain(`${users.length} user(s) would be held out of the application, 0 would be released`);
    expect(preview.stdout).toMatch(new RegExp(`${users[0]!.id}\\s+${users[0]!.email.replace(/[.+]/g, '\\$&')}`));
    expect(preview.stdout).toContain(`e-mail domain ${domain} is not among the organization's allowed domains`);
    expect(preview.stdout).toContain('nothing was changed');
    expect(Number((await heldRows())?.n)).toBe(0);

    const applied = await cli(['domains', 'set', org.id, 'elsewhere.example', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(json(applied)).toMatchObject({ status: 'applied', held: users.length, after: ['elsewhere.example'] });
    expect(Number((await heldRows())?.n)).toBe(users.length);
    const shown = await cli(['domains', 'show', org.id]);
    expect(shown.stdout).toContain('allowed e-mail domains elsewhere.example');
    expect(shown.stdout).toContain(`${users.length} active user(s) held out of the application`);
    const held = await cli(['domains', 'held', org.id, '--limit', '2']);
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toMatch(/USER\s+EMAIL\s+NAME\s+WHY HELD/);
    expect(held.stdout).toContain('(the first 2; --limit shows more)');
    const status = await cli(['status', org.id]);
    expect(status.stdout).toContain(`domains    elsewhere.example · ${users.length} user(s) held out of the application`);

    const cleared = await cli(['domains', 'clear', org.id]);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stdout).toContain(`0 user(s) are now held out of the application, ${users.length} are now released`);
    expect(Number((await heldRows())?.n)).toBe(0);

    const [bad, none, unknown] = await Promise.all([
      cli(['domains', 'set', org.id, 'not a domain']),
      cli(['domains', 'set', org.id]),
      cli(['domains', 'show', 'org_nobody_here']),
    ]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/"not a domain" is not an e-mail domain/)]);
    expect([none.code, none.stderr]).toEqual([2, expect.stringMatching(/missing required argument 'domains'/)]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/org_nobody_here/);
  });

  it('pause keeps changes back and shows in status and orgs list; resume applies them', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const paused = await cli(['pause', org.id, '--note', 'IdP migration']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(new RegExp(`paused the sync of ${org.id} at .* \\(IdP migration\\)`));
    expect(paused.stdout).toContain(`resume with \`npm run cli -- resume ${org.id}\``);

    const user = emulator.snapshot(org.id).users[0]!;
    const update = envelope(
      T.userUpdated,
      org.id,
      { id: user.id, email: user.email, given_name: 'Paused', family_name: user.profile.familyName, active: true },
      new Date().toISOString(),
    );
    expect((await stack.deliver(update)).status).toBe(202);
    await eventually(async () => (await stack.workflows.status(org.id))?.deferred === 1);
    const [status, list, again] = await Promise.all([cli(['status', org.id]), cli(['orgs', 'list']), cli(['pause', org.id])]);
    expect(status.stdout).toMatch(/PAUSED {5}since .* \(IdP migration\): 1 event\(s\) kept, none applied/);
    expect(list.stdout).toMatch(new RegExp(`${org.id} .* PAUSED `));
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/refused: the sync of .* is already paused/)]);

    const resumed = await cli(['resume', org.id, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(json(resumed)).toMatchObject({ status: 'resumed', deferred: 1, resumed: { note: 'IdP migration' } });
    await eventually(
      async () =>
        (await stack.database.db('directory_users').where({ organization_id: org.id, id: user.id }).first('given_name'))?.given_name ===
        'Paused',
    );
    const [live, unknown, unknownRoles, longNote, ...unknownRuns] = await Promise.all([
      cli(['resume', org.id]),
      cli(['pause', 'org_never_seen']),
      cli(['roles', 'default', 'org_never_seen', 'member']),
      cli(['pause', org.id, '--note', 'x'.repeat(501)]),
      cli(['reconcile', 'org_never_seen', '--no-wait']),
      cli(['approve', 'org_never_seen', '1']),
      cli(['cancel', 'org_never_seen', '1']),
    ]);
    expect([live.code, live.stderr]).toEqual([1, expect.stringMatching(/refused: the sync of .* is not paused/)]);
    for (const r of [unknown, unknownRoles, ...unknownRuns]) {
      expect([r.code, r.stderr]).toEqual([
        1,
        expect.stringMatching(/does not know organization org_never_seen yet; register it first: npm run cli -- orgs add org_never_seen/),
      ]);
    }
    expect(await stack.workflows.status('org_never_seen')).toBeNull();
    expect([longNote.code, longNote.stderr]).toEqual([2, expect.stringMatching(/at most 500 characters/)]);
  });

  it('events: lists the ledger by outcome and retries quarantined events', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) });
    expect((await cli(['import', org.id, '--json'])).code).toBe(0);
    const holder = emulator.snapshot(org.id).users[0]!;
    const clash = envelope(
      T.userCreated,
      org.id,
      { id: 'diruser_clash', email: holder.email, given_name: 'Clash', active: true },
      new Date().toISOString(),
    );
    expect((await stack.deliver(clash)).status).toBe(202);
    await eventually(
      async () => (await stack.database.db('directory_events').where('id', clash.id).first('outcome'))?.outcome === 'quarantined',
    );

    const list = await cli(['events', 'list', org.id, '--outcome', 'quarantined']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${clash.id}\\s+user_created\\s+quarantined\\s+unique constraint violated`));
    expect(list.stdout).toContain(`npm run cli -- events retry ${org.id}`);
    // status counts what the ledger lists.
    const listed = json<{ events: unknown[] }>(await cli(['events', 'list', org.id, '--outcome', 'quarantined', '--json'])).events;
    expect(listed).toHaveLength(1);
    expect((await cli(['status', org.id])).stdout).toContain(`quarantined ${listed.length} event(s) wait for a look`);

    const [retry, missing, badOutcome] = await Promise.all([
      cli(['events', 'retry', org.id, clash.id]),
      cli(['events', 'retry', org.id, 'evt_nope', '--json']),
      cli(['events', 'list', org.id, '--outcome', 'lost']),
    ]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toContain('retried 1 quarantined event(s): 0 applied, 0 stale, 0 ignored, 1 still quarantined');
    expect(missing.code).toBe(1);
    expect(json(missing)).toMatchObject({ notFound: 1, events: [{ id: 'evt_nope', outcome: 'not_found' }] });
    expect([badOutcome.code, badOutcome.stderr]).toEqual([2, expect.stringMatching(/Allowed choices are applied, deferred, duplicate/)]);
  });

  it('never prints a secret', () => {
    expect(transcript.length).toBeGreaterThan(20);
    for (const text of transcript) expect(text).not.toContain(emulator.clientSecret);
  });
});
