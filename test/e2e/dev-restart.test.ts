import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/lib/ports';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { startDev, type DevProcess } from '../support/dev-process';
import { eventually } from '../support/stack';

/**
 * `npm run dev` stopped and started again, as a person does: the local Scalekit remembers its
 * organizations and goes on with new ids, so a new hire made after the restart arrives in
 * scimflow (an id reused from the last run would be taken for a duplicate event and dropped).
 * `--fresh` starts everything clean together. Beside it, the CLI needs no exports.
 */

let database: TestDatabase;
let dataDir: string;
let dev: DevProcess | undefined;
const ports: Record<string, number> = {};

function devEnv(): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    DATABASE_URL: database.url,
    SCALEKIT_ENVIRONMENT_URL: '',
    SCALEKIT_CLIENT_ID: '',
    SCALEKIT_CLIENT_SECRET: '',
    SCALEKIT_WEBHOOK_SECRET: '',
    OPERATOR_API_TOKEN: '',
    TEMPORAL_ADDRESS: '',
    // The chain through Acme is dev-quickstart's; here only scimflow and the emulator matter.
    SCIMFLOW_DEV_APP: '0',
  };
}

async function startAndWait(args: string[] = []): Promise<DevProcess> {
  dev = startDev(devEnv(), dataDir, args);
  await dev.waitFor('Ctrl-C stops everything.', 180_000);
  return dev;
}

const emulatorUrl = () => `http://127.0.0.1:${ports.EMULATOR_PORT}/_emulator`;

async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const token = (dev as DevProcess).secrets().operatorApiToken;
  const res = await fetch(`http://127.0.0.1:${ports.PORT}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as T };
}

async function activeEmails(org: string): Promise<string[] | undefined> {
  const r = await api<{ users?: { email: string }[] }>(`/api/organizations/${org}/users?active=true`);
  return r.body.users?.map((u) => u.email);
}

async function hire(org: string, email: string): Promise<string> {
  const res = await fetch(`${emulatorUrl()}/organizations/${org}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, givenName: 'New', familyName: 'Hire' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** The CLI as a person runs it in another terminal: nothing exported, only where the data folder is. */
function cliAlone(args: string[]) {
  const r = spawnSync('npm', ['run', '--silent', 'cli', '--', ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', SCIMFLOW_DATA_DIR: dataDir },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  database = await createTestDatabase();
  for (const name of ['PORT', 'TEMPORAL_DEV_PORT', 'TEMPORAL_UI_PORT', 'EMULATOR_PORT']) ports[name] = await freePort();
  dataDir = mkdtempSync(join(inject('tmpRoot'), 'dev-restart-'));
}, 60_000);

afterAll(async () => {
  await dev?.interrupt();
  await database?.drop();
});

it('after a restart the emulator still has the demo organization, and a new hire made then arrives in scimflow', async () => {
  let d = await startAndWait();
  expect(d.output()).toContain('Data            started fresh');
  const demo = /demo organization (org_\w+) seeded/.exec(d.output())?.[1] as string;
  expect(demo).toBeDefined();
  const before = await hire(demo, 'first.hire@acme.example');
  await eventually(async () => ((await activeEmails(demo))?.includes('first.hire@acme.example') ? true : undefined));

  // Beside `npm run dev`, with nothing exported: the CLI finds its database, Temporal and Scalekit.
  const added = cliAlone(['orgs', 'add', demo]);
  expect(added.stderr).toBe('');
  expect(added.status).toBe(0);
  expect(added.stdout).toContain(`npm run cli -- import ${demo}`);
  const token = d.secrets().operatorApiToken;
  expect(d.output()).toContain(`export OPERATOR_API_TOKEN='${token}'`);

  // An organization scimflow knows (from a webhook) and Scalekit does not: a reconcile is refused,
  // and the worker says so in one line, with the reason.
  const sent = d.run(['send-event', '--', 'user_created', '--org', 'org_gone', '--url', `http://127.0.0.1:${ports.PORT}`]);
  expect(sent.status).toBe(0);
  await eventually(async () => ((await activeEmails('org_gone'))?.length ? true : undefined));
  const refused = cliAlone(['reconcile', 'org_gone']);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain('refused: Scalekit does not know organization org_gone');
  const line = await eventually(async () =>
    d
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"activity refused"')),
  );
  expect(JSON.parse(line.replace(/^\[worker\] /, ''))).toMatchObject({
    reason: expect.stringMatching(/^Scalekit does not know organization org_gone/),
  });
  expect(d.output()).not.toMatch(/^\s+at /m);

  // SIGINT to npm's process alone (as `kill <pid>` or a process manager sends it) stops everything too.
  await d.interrupt({ npmOnly: true });
  expect(d.output()).toContain('[dev] stopped');
  await eventually(async () => !d.anyLeft() || undefined);
  d = await startAndWait();
  expect(d.output()).toMatch(/Data {12}continued from /);
  expect(d.output()).toContain(`demo organization ${demo}, as the last run left it`);

  const after = await hire(demo, 'second.hire@acme.example');
  expect(after).not.toBe(before);
  const emails = await eventually(async () => {
    const e = await activeEmails(demo);
    return e?.includes('second.hire@acme.example') ? e : undefined;
  });
  expect(emails).toContain('first.hire@acme.example');
  // Each event of the two runs was applied once; none was taken for a duplicate.
  const events = await api<{ events: { outcome: string }[] }>(`/api/organizations/${demo}/events?limit=500`);
  expect(events.body.events.filter((e) => e.outcome === 'duplicate')).toEqual([]);
  await d.interrupt();
}, 600_000);

it('--fresh starts scimflow, Temporal and the emulator clean together', async () => {
  const previous = /demo organization (org_\w+)/.exec((dev as DevProcess).output())?.[1] as string;
  const d = await startAndWait(['--fresh']);
  expect(d.output()).toContain('Data            started fresh (--fresh)');
  const demo = /demo organization (org_\w+) seeded/.exec(d.output())?.[1] as string;
  expect(demo).not.toBe(previous);
  // scimflow forgot the old organization with the emulator: it is unknown now.
  expect((await api(`/api/organizations/${previous}/users`)).status).toBe(404);
  await eventually(async () => ((await activeEmails(demo))?.length ?? 0) >= 40 || undefined);
}, 600_000);

it('a data folder without state beside a database of an earlier run: the banner says they disagree, and how to reset both', async () => {
  await (dev as DevProcess).interrupt();
  dataDir = mkdtempSync(join(inject('tmpRoot'), 'dev-restart-lost-'));
  const d = await startAndWait();
  expect(d.output()).toMatch(
    /Data {12}the emulator and Temporal started fresh, but scimflow's database \(\w+\) holds \d+ organization\(s\) of an earlier run: `npm run dev -- --fresh` resets it too/,
  );
}, 600_000);
