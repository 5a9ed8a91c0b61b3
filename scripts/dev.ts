import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describePayloads } from '../temporal/codec';
import { ConfigError, loadConfig, type Config } from '../config/index';
import { createDatabase, migrateLatest } from '../db/connection';
import { createAcmeDatabase, migrateAcme } from '../examples/acme-app/db';
import { DEV_SETTINGS_FILE } from '../cli/dev-settings';
import { dropDatabase, ensureDatabase, serverReachable, startEmbeddedPostgres } from './lib/postgres';
import { freePort, portInUse } from './lib/ports';
import { ensureTemporalCli, PROJECT_ROOT, startDevServer, type DevServer } from './lib/temporal-server';
import { prettyFactory } from 'pino-pretty';

/**
 * `npm run dev`: everything scimflow needs on one machine, in the foreground.
 * PostgreSQL (the local one, or an embedded one), the Temporal dev server with its Web UI, the
 * local Scalekit emulator when no Scalekit credentials are configured, then the worker and the
 * API, and beside them Acme, the reference application (examples/acme-app), which scimflow delivers
 * the directory's changes to (`--no-app` or SCIMFLOW_DEV_APP=0 leaves it out). Ctrl-C stops them all.
 *
 * Everything keeps its state in the data folder (.data/): scimflow's database (when embedded),
 * the Temporal dev server's, and the emulator's (emulator-state.json), so a restart continues
 * where the last run stopped. `--fresh` starts all of them clean together, so they never disagree.
 * While it runs, `dev-settings.json` there tells the CLI (`npm run cli`) where everything is.
 */

const say = (line = '') => process.stdout.write(`${line}\n`);
const step = (line: string) => say(`[dev] ${line}`);

interface DevSecrets {
  operatorApiToken: string;
  emulatorClientId: string;
  emulatorClientSecret: string;
  emulatorWebhookSecret: string;
}

/** Local-only secrets, generated once and kept in the (git-ignored) data folder. */
function devSecrets(dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  const secrets: DevSecrets = {
    operatorApiToken: randomBytes(24).toString('hex'),
    emulatorClientId: 'skc_local_dev',
    emulatorClientSecret: `emu_${randomBytes(18).toString('hex')}`,
    emulatorWebhookSecret: `whsec_${randomBytes(32).toString('base64')}`,
  };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

/**
 * On a terminal, the processes' JSON log lines read as pino-pretty prints them (time, level,
 * message, then the fields); piped (a file, a test), they stay JSON, one per line.
 */
const pretty = (out: NodeJS.WritableStream): ((line: string) => string) => {
  if (!(out as NodeJS.WriteStream).isTTY) return (line) => line;
  const format = prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'service', singleLine: true });
  return (line) => {
    if (!line.startsWith('{"level":')) return line;
    try {
      return format(JSON.parse(line) as object).replace(/\n$/, '');
    } catch {
      return line;
    }
  };
};

function prefixLines(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  const show = pretty(out);
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      out.write(`[${name}] ${show(buffer.slice(0, nl))}\n`);
      buffer = buffer.slice(nl + 1);
    }
  });
}

/** The emulator's state across restarts, in the data folder. */
const EMULATOR_STATE_FILE = 'emulator-state.json';

const cleanups: (() => Promise<void> | void)[] = [];
const children: ChildProcess[] = [];
let stopping = false;

async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  step('stopping …');
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          const t = setTimeout(() => (c.kill('SIGKILL'), r()), 35_000);
          c.once('exit', () => (clearTimeout(t), r()));
        }),
    ),
  );
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  step('stopped');
  process.exit(code);
}

const USAGE = `Usage: npm run dev [-- --fresh] [-- --no-app]

  --fresh    start clean: scimflow's database, the Temporal dev server's state and the local
             Scalekit emulator's state are all reset together (the operator token is kept); a
             DATABASE_URL naming a database not called scimflow or scimflow_… is refused
  --no-app   leave Acme, the reference application, out (also SCIMFLOW_DEV_APP=0)
`;

/** The database a PostgreSQL URL names. */
function databaseName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  } catch {
    return '';
  }
}

/** Whether --fresh may drop the database: one named for scimflow (the default `scimflow`, or `scimflow_…`). */
function scimflowDatabase(url: string): boolean {
  const name = databaseName(url);
  return name === 'scimflow' || name.startsWith('scimflow_');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--fresh', '--no-app'].includes(a));
  if (args.includes('--help') || args.includes('-h') || unknown.length > 0) {
    process.stdout.write(unknown.length > 0 ? `unknown option ${unknown.join(' ')}\n\n${USAGE}` : USAGE);
    process.exit(unknown.length > 0 ? 2 : 0);
  }
  const fresh = args.includes('--fresh');
  const config: Config = loadConfig();
  const dataDir = resolve(config.dev.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const secrets = devSecrets(dataDir);
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  const temporalDb = join(dataDir, 'temporal.sqlite');
  const emulatorState = join(dataDir, EMULATOR_STATE_FILE);
  const hadState = existsSync(temporalDb) || existsSync(emulatorState);
  if (fresh && !scimflowDatabase(config.databaseUrl)) {
    // A database not named for scimflow is someone's own: --fresh never drops it (and resets nothing, so the parts still agree).
    process.stderr.write(
      `--fresh drops scimflow's development database, and DATABASE_URL names "${databaseName(config.databaseUrl)}", which is not named for scimflow (scimflow or scimflow_…): nothing was reset.\n` +
        `Unset DATABASE_URL to start clean with the default one, or point it at a database named scimflow_….\n`,
    );
    process.exit(2);
  }
  if (fresh) {
    step("--fresh: starting clean (scimflow's database, the Temporal dev server's state, the emulator's state)");
    for (const file of [temporalDb, `${temporalDb}-wal`, `${temporalDb}-shm`, emulatorState]) rmSync(file, { force: true });
  }

  // PostgreSQL
  let databaseUrl = config.databaseUrl;
  if (!(await serverReachable(databaseUrl))) {
    if (!config.databaseUrlIsDefault) {
      throw new Error(`PostgreSQL at DATABASE_URL does not answer. Start it, or unset DATABASE_URL to use an embedded PostgreSQL.`);
    }
    step('no PostgreSQL answers at 127.0.0.1:5432: starting an embedded PostgreSQL (data in the data folder) …');
    const embedded = await startEmbeddedPostgres(dataDir, 'scimflow');
    databaseUrl = embedded.url;
    cleanups.push(() => embedded.stop());
  }
  if (fresh) {
    await dropDatabase(databaseUrl);
    const acmeUrl = process.env.ACME_DATABASE_URL;
    if (acmeUrl && acmeUrl !== databaseUrl) {
      // Acme in a database of its own: its schema goes, the database stays.
      const acmeDb = createAcmeDatabase(acmeUrl, { applicationName: 'acme-reset' });
      try {
        await acmeDb.raw('DROP SCHEMA IF EXISTS acme CASCADE');
      } finally {
        await acmeDb.destroy();
      }
    }
  }
  if (await ensureDatabase(databaseUrl)) step(`created database ${new URL(databaseUrl).pathname.slice(1)}`);
  const db = createDatabase({ url: databaseUrl });
  const applied = await migrateLatest(db);
  // Organizations in a database that a data folder without state did not write (the folder was
  // removed, or another checkout's run used the database): the banner says the two disagree.
  const earlierOrganizations = fresh || hadState ? 0 : Number((await db('organizations').count({ n: '*' }))[0]?.n ?? 0);
  await db.destroy();
  step(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database schema is up to date');

  // Compressed (and with keys encrypted) payloads: the Temporal UI decodes them through a codec listener of the API's own.
  const codecListen = config.codecListen ? `${config.codecListen.host}:${config.codecListen.port}` : `127.0.0.1:${await freePort()}`;

  // Temporal
  let temporalAddress = config.temporal.address;
  let temporalUi: string | undefined;
  if (!temporalAddress) {
    const { temporalPort, temporalUiPort } = config.dev;
    for (const [port, what] of [
      [temporalPort, 'TEMPORAL_DEV_PORT'],
      [temporalUiPort, 'TEMPORAL_UI_PORT'],
    ] as const) {
      if (await portInUse(port)) {
        throw new Error(
          `port ${port} is already in use. If a Temporal server is running there, set TEMPORAL_ADDRESS=127.0.0.1:${temporalPort} to use it; otherwise pick another port with ${what}.`,
        );
      }
    }
    const cli = ensureTemporalCli(config.dev.temporalCli, step);
    step(`starting the Temporal dev server (state in ${join(config.dev.dataDir, 'temporal.sqlite')}) …`);
    const server: DevServer = await startDevServer({
      cli,
      port: temporalPort,
      uiPort: temporalUiPort,
      dbFile: join(dataDir, 'temporal.sqlite'),
      namespace: config.temporal.namespace,
      logFile: join(dataDir, 'temporal.log'),
      watchPid: process.pid,
      // Compressed or encrypted payloads: the UI decodes them through the API's codec endpoint.
      uiCodecEndpoint: `http://${codecListen}/codec`,
    });
    cleanups.push(() => server.stop());
    temporalAddress = server.address;
    temporalUi = server.uiUrl;
  }

  // Scalekit: real credentials, or the local emulator.
  const webhookUrl = `http://127.0.0.1:${config.port}/webhooks/scalekit`;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    OPERATOR_API_TOKEN: config.operatorApiToken ?? secrets.operatorApiToken,
    SCIMFLOW_EXIT_WITH_PARENT: '1',
    // The worker's metrics and the API (webhooks, operator API) on this machine only.
    WORKER_METRICS_HOST: process.env.WORKER_METRICS_HOST || '127.0.0.1',
    API_HOST: process.env.API_HOST || '127.0.0.1',
  };
  if (!config.codecListen && temporalUi) {
    const ui = new URL(temporalUi);
    env.CODEC_LISTEN = codecListen;
    env.CODEC_ALLOWED_ORIGINS = [`http://127.0.0.1:${ui.port}`, `http://localhost:${ui.port}`].join(',');
  }

  // Acme, the reference application: its API, and its worker on the task queue scimflow delivers to.
  const withApp = !process.argv.slice(2).includes('--no-app') && process.env.SCIMFLOW_DEV_APP !== '0';
  let acmeUrl: string | undefined;
  if (withApp) {
    const acmePort = Number(process.env.ACME_PORT || 3100);
    if (await portInUse(acmePort)) {
      throw new Error(
        `port ${acmePort} (Acme, the reference application) is in use; pick another with ACME_PORT, or leave Acme out with --no-app.`,
      );
    }
    Object.assign(env, { APP_TASK_QUEUE: config.delivery.appTaskQueue ?? 'acme-app', ACME_PORT: String(acmePort), ACME_DEV_LOGIN: '1' });
    // Acme keeps to its schema `acme` in the same database; migrated once here, before its two processes start.
    const acmeDb = createAcmeDatabase(process.env.ACME_DATABASE_URL || databaseUrl, { applicationName: 'acme-migrate' });
    try {
      await migrateAcme(acmeDb);
    } finally {
      await acmeDb.destroy();
    }
    acmeUrl = `http://127.0.0.1:${acmePort}`;
  }

  const startedFresh =
    earlierOrganizations > 0
      ? `Temporal started fresh, but scimflow's database (${databaseName(databaseUrl)}) holds ${earlierOrganizations} organization(s) of an earlier run: \`npm run dev -- --fresh\` resets it too`
      : `started fresh (state kept in ${join(config.dev.dataDir, '/')} from now on)`;
  let startDemo: (() => string[]) | undefined;
  let dataNote = fresh
    ? `started fresh (--fresh): scimflow's database and Temporal reset`
    : hadState
      ? `continued from ${join(config.dev.dataDir, '/')}; \`npm run dev -- --fresh\` starts clean`
      : startedFresh;
  if (!config.scalekit) {
    if (await portInUse(config.dev.emulatorPort)) {
      throw new Error(`port ${config.dev.emulatorPort} (the Scalekit emulator) is in use; pick another with EMULATOR_PORT.`);
    }
    const { startEmulator } = await import('../emulator/index');
    let emulator: Awaited<ReturnType<typeof startEmulator>>;
    try {
      emulator = await startEmulator({
        port: config.dev.emulatorPort,
        clientId: secrets.emulatorClientId,
        clientSecret: secrets.emulatorClientSecret,
        webhookSecrets: [secrets.emulatorWebhookSecret],
        // Its organizations, users, groups, id sequences and pending webhooks, across restarts.
        stateFile: emulatorState,
        // No deliveries until the API answers: a first attempt refused at start-up would wait
        // Scalekit's full retry schedule (5 s, then 5 min).
        holdDeliveries: true,
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}. \`npm run dev -- --fresh\` starts everything clean.`, { cause: err });
    }
    cleanups.push(() => emulator.close());
    Object.assign(env, {
      SCALEKIT_ENVIRONMENT_URL: emulator.url,
      SCALEKIT_CLIENT_ID: emulator.clientId,
      SCALEKIT_CLIENT_SECRET: emulator.clientSecret,
      // The emulator's secret, and the user's own (their signed test events verify too).
      SCALEKIT_WEBHOOK_SECRET: [secrets.emulatorWebhookSecret, ...config.webhookSecrets].join(','),
    });
    step(`no Scalekit credentials configured: the local Scalekit emulator runs at ${emulator.url}`);
    const restored = emulator.restored;
    dataNote = restored
      ? `continued from ${join(config.dev.dataDir, '/')} (the emulator's ${emulator.listOrganizations().length} organization(s), scimflow's database, Temporal); \`npm run dev -- --fresh\` starts clean`
      : fresh
        ? `started fresh (--fresh): scimflow's database, Temporal and the emulator all reset`
        : hadState
          ? `the emulator started empty (no ${join(config.dev.dataDir, EMULATOR_STATE_FILE)}), but Temporal's state was kept: \`npm run dev -- --fresh\` starts both clean`
          : earlierOrganizations > 0
            ? `the emulator and Temporal started fresh, but scimflow's database (${databaseName(databaseUrl)}) holds ${earlierOrganizations} organization(s) of an earlier run: \`npm run dev -- --fresh\` resets it too`
            : startedFresh;
    startDemo = () => {
      emulator.setWebhookUrl(webhookUrl);
      emulator.resumeDeliveries();
      // The demo organization arrives the way a customer's directory does: through webhooks,
      // once; after a restart it is still there (the emulator remembers it).
      const existing = restored ? emulator.listOrganizations().find((o) => o.externalId === 'acme') : undefined;
      const demo = existing ?? emulator.seedDemo({ emitWebhooks: true });
      const control = `${emulator.url}/_emulator`;
      const lines = [
        ...(existing
          ? [`  Scalekit        local emulator at ${emulator.url} (demo organization ${demo.id}, as the last run left it)`]
          : [
              `  Scalekit        local emulator at ${emulator.url} (demo organization ${demo.id} seeded;`,
              `                  its webhooks are on their way)`,
            ]),
        '',
        '  Make a change in the directory and watch it arrive:',
        `    curl -s -X POST '${control}/organizations/${demo.id}/users' \\`,
        `      -H 'content-type: application/json' \\`,
        `      -d '{"email":"new.hire@example.com","givenName":"New","familyName":"Hire"}'`,
        `    curl -s -H "Authorization: Bearer $OPERATOR_API_TOKEN" \\`,
        `      'http://127.0.0.1:${config.port}/api/organizations/${demo.id}/users?active=true'`,
        '  Emulator control API: docs/emulator.md',
        '',
        "  Give the demo's groups roles of your application (--dry-run previews who gains or loses one):",
        `    npm run cli -- roles list ${demo.id}`,
        `    npm run cli -- roles map ${demo.id} <groupId> admin --precedence 10 --dry-run`,
        '',
        "  The settings page your customer's IT admin sees (admin portal embedded); each link opens once, within 15 min:",
        `    curl -s -X POST -H "Authorization: Bearer $OPERATOR_API_TOKEN" \\`,
        `      'http://127.0.0.1:${config.port}/api/organizations/${demo.id}/settings-link'`,
      ];
      if (acmeUrl) lines.push('', ...acmeChain(acmeUrl, control, emulator.snapshot(demo.id)));
      return lines;
    };
  } else if (config.webhookSecrets.length === 0) {
    throw new Error('SCALEKIT_WEBHOOK_SECRET is required with real Scalekit credentials (Scalekit dashboard > Webhooks).');
  }

  // Worker and API
  const tsx = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
  const processes: [string, string][] = [
    ['worker', 'worker/main.ts'],
    ['api', 'api/main.ts'],
  ];
  if (acmeUrl) processes.push(['acme-worker', 'examples/acme-app/worker.ts'], ['acme', 'examples/acme-app/server.ts']);
  for (const [name, entry] of processes) {
    const child = spawn(tsx, [entry], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    prefixLines(name, child.stdout, process.stdout);
    prefixLines(name, child.stderr, process.stderr);
    child.once('exit', (code, signal) => {
      if (!stopping) {
        step(`${name} exited (${signal ?? code}); stopping everything. Its last lines above say why.`);
        void stopAll(1);
      }
    });
    children.push(child);
  }
  await waitForApi(config.port);
  // The CLI beside us (`npm run cli -- …`) finds everything here, with no exports; gone when we stop.
  const settingsFile = join(dataDir, DEV_SETTINGS_FILE);
  const { SCIMFLOW_EXIT_WITH_PARENT: _exitWithParent, ACME_DEV_LOGIN: _devLogin, ...cliEnv } = env;
  writeFileSync(
    settingsFile,
    `${JSON.stringify({ pid: process.pid, env: { ...cliEnv, TEMPORAL_NAMESPACE: config.temporal.namespace, PORT: String(config.port) } }, null, 2)}\n`,
    { mode: 0o600 },
  );
  cleanups.push(() => rmSync(settingsFile, { force: true }));
  if (acmeUrl) await waitForHttp(`${acmeUrl}/health`, 'Acme');
  const emulatorNote = startDemo?.() ?? [];

  say('');
  say('  scimflow is running');
  say(`  Webhook URL     ${webhookUrl}`);
  say(`  Operator API    http://127.0.0.1:${config.port}/api  (Authorization: Bearer $OPERATOR_API_TOKEN)`);
  if (config.operatorApiToken) say('  Operator token  (OPERATOR_API_TOKEN from your environment)');
  else {
    say(
      `  Operator token  local only, kept in ${join(config.dev.dataDir, 'dev-secrets.json')}; in another terminal (the commands below use it):`,
    );
    say(`                    export OPERATOR_API_TOKEN='${secrets.operatorApiToken}'`);
  }
  say(`  Temporal UI     ${temporalUi ?? `(your Temporal at ${temporalAddress})`}`);
  say(`  Data            ${dataNote}`);
  if (fresh && !temporalUi) say(`                  (your Temporal at ${temporalAddress} was not reset: its workflows are as they were)`);
  if (!config.scalekit && config.webhookSecrets.length > 0) {
    say(`  Webhook secrets the emulator's, and yours (SCALEKIT_WEBHOOK_SECRET): events signed with either are accepted`);
  }
  say(`  Health          http://127.0.0.1:${config.port}/readyz`);
  if (acmeUrl) say(`  Application     Acme (examples/acme-app) at ${acmeUrl}, changes delivered to task queue ${env.APP_TASK_QUEUE}`);
  if (config.payloadKeys.length > 0) {
    say(`  Payloads        ${describePayloads(config)} in Temporal; the UI decodes them through http://${codecListen}/codec`);
  }
  if (emulatorNote.length) {
    say('');
    for (const line of emulatorNote) say(line);
  }
  say('');
  say('  Send a signed test event yourself:  npm run send-event -- user_created --org org_test');
  say('  The CLI finds all of this by itself while this runs:  npm run cli -- --help');
  say('  Ctrl-C stops everything.');
  say('');
}

function waitForApi(port: number): Promise<void> {
  return waitForHttp(`http://127.0.0.1:${port}/healthz`, 'the API');
}

async function waitForHttp(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up at ${new URL(url).host} within 60 s (see its lines above)`);
}

/**
 * The banner's walk through the chain: a person added in the emulator's demo organization becomes
 * an Acme user with the permissions of their groups (the demo's group → role assignments: engineer,
 * support_agent, billing_admin, admin, which Acme maps to its member, viewer, manager and admin), loses
 * Acme's admin endpoints when they leave Administrators, and their token stops working when they are deleted.
 */
function acmeChain(
  acmeUrl: string,
  control: string,
  demo: { organization: { id: string }; groups: { id: string; displayName: string }[] },
): string[] {
  const group = (name: string) => demo.groups.find((g) => g.displayName === name)?.id ?? `<${name} group id>`;
  const engineering = group('Engineering');
  const administrators = group('Administrators');
  const org = demo.organization.id;
  const email = 'new.admin@acme.example';
  const json = "-H 'content-type: application/json'";
  return [
    `  Acme, the reference application, at ${acmeUrl}: follow a person from the directory into it.`,
    '  1. Add them in Engineering and Administrators (roles engineer and admin: Acme member and admin);',
    '     the answer has their id (diruser_…):',
    `    curl -s -X POST '${control}/organizations/${org}/users' ${json} \\`,
    `      -d '{"email":"${email}","givenName":"New","familyName":"Admin","groupIds":["${engineering}","${administrators}"]}'`,
    '  2. A token for them (Acme has them a moment later), then who they are and an admin-only endpoint:',
    `    ACME_TOKEN=$(curl -s -X POST '${acmeUrl}/dev/tokens' ${json} \\`,
    `      -d '{"email":"${email}","organizationId":"${org}"}' | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')`,
    `    curl -s '${acmeUrl}/me' -H "Authorization: Bearer $ACME_TOKEN"`,
    `    curl -s '${acmeUrl}/billing' -H "Authorization: Bearer $ACME_TOKEN"`,
    '  3. Take them out of Administrators: /billing answers 403, /members still 200:',
    `    curl -s -X PUT '${control}/organizations/${org}/users/<diruser_…>/groups' ${json} -d '{"groupIds":["${engineering}"]}'`,
    '  4. Delete them: their token answers 401:',
    `    curl -s -X DELETE '${control}/organizations/${org}/users/<diruser_…>'`,
  ];
}

main().catch((err: unknown) => {
  process.stderr.write(`[dev] ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  void stopAll(1);
});
