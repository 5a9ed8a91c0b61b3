import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { freePort, portInUse } from '../../scripts/lib/ports';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { findZsh, INSTALL_ZSH } from '../../scripts/lib/zsh';
import { shellBlocks } from '../support/docs';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { startDev, type DevProcess } from '../support/dev-process';
import { eventually } from '../support/stack';
import { newSecret } from '../support/webhooks';

/**
 * The README's quick start, as a new user follows it: `npm run dev` with no Scalekit credentials,
 * then signed events of every type with `npm run send-event`, read back through the operator API.
 * The user has a webhook secret of their own in the environment: events signed with it are
 * accepted next to the emulator's.
 */

const userSecret = newSecret();

let dev: DevProcess;
let database: TestDatabase;
let port: number;
let dataDir: string;
const ports: Record<string, number> = {};

beforeAll(async () => {
  database = await createTestDatabase();
  for (const name of ['PORT', 'TEMPORAL_DEV_PORT', 'TEMPORAL_UI_PORT', 'EMULATOR_PORT', 'ACME_PORT']) ports[name] = await freePort();
  port = ports.PORT as number;
  dataDir = mkdtempSync(join(inject('tmpRoot'), 'dev-'));
  dev = startDev(
    {
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      DATABASE_URL: database.url,
      // A developer's own .env must not point this test at a real Scalekit.
      SCALEKIT_ENVIRONMENT_URL: '',
      SCALEKIT_CLIENT_ID: '',
      SCALEKIT_CLIENT_SECRET: '',
      SCALEKIT_WEBHOOK_SECRET: userSecret,
      OPERATOR_API_TOKEN: '',
      TEMPORAL_ADDRESS: '',
    },
    dataDir,
  );
  await dev.waitFor('Ctrl-C stops everything.');
}, 180_000);

afterAll(async () => {
  await dev?.interrupt();
  await database?.drop();
});

it('prints where everything is', () => {
  const out = dev.output();
  expect(out).toContain(`Webhook URL     http://127.0.0.1:${port}/webhooks/scalekit`);
  // On this machine only, as the banner's addresses say.
  expect(out).toContain(`"port":${port},"host":"127.0.0.1"`);
  expect(out).toContain(`Temporal UI     http://127.0.0.1:${ports.TEMPORAL_UI_PORT}`);
  expect(out).toContain('local emulator at http://127.0.0.1:');
  expect(out).toContain(dev.secrets().operatorApiToken);
  expect(out).toContain("Webhook secrets the emulator's, and yours (SCALEKIT_WEBHOOK_SECRET)");
  // Webhook secrets are never printed.
  expect(out).not.toContain(dev.secrets().emulatorWebhookSecret.slice(6));
  expect(out).not.toContain(userSecret.slice(6));
});

it('prints the command that makes a settings link (not a live single-use link), and the link it makes works', async () => {
  const out = dev.output();
  // A link in a terminal's scrollback would be one more place a single-use credential lingers.
  expect(out).not.toMatch(/\/settings\/directory\?/);
  const command =
    /curl -s -X POST -H "Authorization: Bearer \$OPERATOR_API_TOKEN" \\\n\s+'(http:\/\/127\.0\.0\.1:\d+\/api\/organizations\/org_\w+\/settings-link)'/.exec(
      out,
    );
  expect(command?.[1]).toBeDefined();
  // The demo organization is registered by its first webhooks, moments after the start.
  const made = await eventually(async () => {
    const res = await fetch(command?.[1] as string, {
      method: 'POST',
      headers: { authorization: `Bearer ${dev.secrets().operatorApiToken}` },
    });
    return res.status === 201 ? res : null;
  });
  const { url } = (await made.json()) as { url: string };
  // As a browser follows it: a redirect to the organization's page, with the session cookie.
  const opened = await fetch(url, { redirect: 'manual' });
  expect(opened.status).toBe(303);
  const page = new URL(opened.headers.get('location') as string, url).toString();
  const res = await fetch(page, { headers: { cookie: (opened.headers.get('set-cookie') ?? '').split(';')[0] as string } });
  expect(res.status).toBe(200);
  expect(await res.text()).toMatch(new RegExp(`<iframe[^>]* src="http://127\\.0\\.0\\.1:${ports.EMULATOR_PORT}/portal/`));
});

it("applies every event type sent with npm run send-event (signed with the user's own secret), visible through the operator API", async () => {
  const token = dev.secrets().operatorApiToken;
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
  const org = 'org_quickstart';
  const steps = [
    ['directory_enabled'],
    ['group_created', '--group', 'dirgroup_a', '--name', 'Alpha'],
    ['group_created', '--group', 'dirgroup_b', '--name', 'Beta'],
    ['group_updated', '--group', 'dirgroup_b', '--name', 'Beta Team'],
    ['user_created', '--user', 'diruser_1', '--group', 'dirgroup_a', '--group', 'dirgroup_b'],
    ['user_created', '--user', 'diruser_2', '--group', 'dirgroup_b'],
    ['user_updated', '--user', 'diruser_1', '--email', 'one@example.com', '--group', 'dirgroup_a'],
    ['user_deleted', '--user', 'diruser_2'],
    ['group_deleted', '--group', 'dirgroup_b', '--name', 'Beta Team'],
    ['directory_disabled'],
  ];
  for (const step of steps) {
    const r = dev.run(['send-event', '--', ...step, '--org', org, '--url', `http://127.0.0.1:${port}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/: 202 \{"status":"accepted"/);
  }
  const events = await eventually(async () => {
    const b = await api<{ events: { outcome: string; type: string }[] }>(`/api/organizations/${org}/events`);
    return b.events.length === steps.length && b.events.every((e) => e.outcome === 'applied') ? b.events : undefined;
  });
  expect(new Set(events.map((e) => e.type)).size).toBe(8);

  const { users } = await api<{ users: { id: string; email: string; active: boolean; groups: string[] }[] }>(
    `/api/organizations/${org}/users`,
  );
  expect(users).toEqual([
    expect.objectContaining({ id: 'diruser_1', email: 'one@example.com', active: true, groups: ['dirgroup_a'] }),
    expect.objectContaining({ id: 'diruser_2', active: false, groups: [] }),
  ]);
  const { groups } = await api<{ groups: unknown[] }>(`/api/organizations/${org}/groups`);
  expect(groups).toEqual([
    { id: 'dirgroup_a', displayName: 'Alpha', directoryId: 'dir_test1', deleted: false, memberCount: 1 },
    { id: 'dirgroup_b', displayName: 'Beta Team', directoryId: 'dir_test1', deleted: true, memberCount: 0 },
  ]);
  const status = await api<{ applied: number }>(`/api/organizations/${org}/sync`);
  expect(status.applied).toBe(steps.length);
  // Ten `npm run send-event` processes one after the other: seconds each on a busy machine.
}, 240_000);

it('the README\'s "Try it", pasted into bash and then into zsh, works with only the organization id filled in', async () => {
  const out = dev.output();
  const demo = /demo organization (org_\w+)/.exec(out)?.[1] as string;
  const exportLine = /^ +(export OPERATOR_API_TOKEN='[0-9a-f]+')$/m.exec(out)?.[1] as string;
  expect(exportLine).toBeDefined();
  const token = dev.secrets().operatorApiToken;
  const activeEmails = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/organizations/${demo}/users?active=true`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return ((await res.json()) as { users?: { email: string }[] }).users?.map((u) => u.email) ?? [];
  };
  await eventually(async () => (await activeEmails()).length >= 40 || undefined);

  const blocks = shellBlocks('README.md').filter((b) => b.section === 'Try it');
  // The first block is what the reader fills in: the banner's export line, and the organization id.
  expect(blocks[0]?.text).toBe("export OPERATOR_API_TOKEN='…'\nORG=org_…");
  const script = [exportLine, `ORG=${demo}`, ...blocks.slice(1).map((b) => b.text)]
    .join('\n')
    // This run's ports where the README has npm run dev's own.
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`)
    .replaceAll('127.0.0.1:8280', `127.0.0.1:${ports.EMULATOR_PORT}`);
  expect(script).toContain('npm run cli -- events list "$ORG" | head');

  for (const shell of [
    ['bash', '-s'],
    ['zsh', '-f', '-s'],
  ] as const) {
    if (shell[0] === 'zsh') expect(findZsh(), INSTALL_ZSH).toBeDefined();
    // Another terminal of the project folder: nothing of npm run dev's exported (its data folder is this test's own).
    const r = spawnSync(shell[0], shell.slice(1), {
      input: script,
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NO_COLOR: '1',
        SCIMFLOW_DATA_DIR: dataDir,
        PORT: String(port),
        npm_config_update_notifier: 'false',
      },
      encoding: 'utf8',
      timeout: 240_000,
    });
    const what = `${shell[0]}:\n${r.stdout}\n${r.stderr}`;
    expect(r.status, what).toBe(0);
    expect(r.stderr, what).not.toMatch(/command not found|no matches found|parse error|unmatched|EPIPE|bad pattern/);
    expect(r.stdout, what).toContain('{"users":[{"id":"diruser_');
    const hired =
      /\{"id":"(diruser_\w+)","organizationId":"[^"]+","directoryId":"[^"]+","dpId":"[^"]+","email":"new\.hire@example\.com"/.exec(
        r.stdout,
      )?.[1];
    expect(hired, what).toBeDefined();
    expect(r.stdout.match(/: 202 \{"status":"accepted"/g), what).toHaveLength(2);
    expect(r.stdout, what).toContain('{"events":[{"id":"evt_');
    expect(r.stdout, what).toContain(`registered ${demo}`);
    expect(r.stdout, what).toMatch(/run \d+ completed in /);
    expect(r.stdout, what).toMatch(/RECEIVED\s+EVENT\s+TYPE\s+OUTCOME/);
    await eventually(async () => (await activeEmails()).includes('new.hire@example.com') || undefined);
    // The new hire leaves again before the next paste, which hires them again under the same address.
    const gone = await fetch(`http://127.0.0.1:${ports.EMULATOR_PORT}/_emulator/organizations/${demo}/users/${hired}`, {
      method: 'DELETE',
    });
    expect(gone.status).toBeLessThan(300);
    await eventually(async () => !(await activeEmails()).includes('new.hire@example.com') || undefined);
  }
}, 600_000);

it('brings the emulator demo organization in and stops everything on Ctrl-C', async () => {
  const token = dev.secrets().operatorApiToken;
  const demo = /demo organization (org_\w+)/.exec(dev.output())?.[1];
  expect(demo).toBeDefined();
  const users = await eventually(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/organizations/${demo}/users?active=true`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const b = (await res.json()) as { users?: unknown[] };
    return (b.users?.length ?? 0) >= 40 ? b.users : undefined;
  });
  expect(users?.length).toBeGreaterThanOrEqual(40);

  await dev.interrupt();
  expect(dev.output()).toContain('[dev] stopped');
  expect(dev.output()).not.toMatch(/exited \(/);
  for (const p of Object.values(ports)) expect(await portInUse(p)).toBe(false);
});
