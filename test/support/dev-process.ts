import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';

/** `npm run dev` as a person runs it, in its own process group, with its output collected. */
export interface DevProcess {
  child: ChildProcess;
  output(): string;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  secrets(): { operatorApiToken: string; emulatorWebhookSecret: string };
  run(args: string[]): { status: number | null; stdout: string; stderr: string };
  /**
   * Ctrl-C: SIGINT to the whole process group; resolves when npm has exited. `npmOnly`: to npm's
   * process alone, as a process manager or `kill <pid>` sends it.
   */
  interrupt(opts?: { npmOnly?: boolean }): Promise<void>;
  /** Whether a process of its group is still there. */
  anyLeft(): boolean;
}

/** `args` go to scripts/dev.ts (`npm run dev -- --fresh`). */
export function startDev(env: Record<string, string>, dataDir: string, args: string[] = []): DevProcess {
  const fullEnv = { ...process.env, ...env, SCIMFLOW_DATA_DIR: dataDir };
  const child = spawn('npm', ['run', 'dev', ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: PROJECT_ROOT,
    env: fullEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => out,
    async waitFor(text, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      const matches = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      while (!matches()) {
        if (child.exitCode !== null) throw new Error(`npm run dev exited (${child.exitCode}) before "${String(text)}":\n${out}`);
        if (Date.now() > deadline) throw new Error(`"${String(text)}" did not appear within ${timeoutMs} ms:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    secrets: () => JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as ReturnType<DevProcess['secrets']>,
    run(args) {
      const r = spawnSync('npm', ['run', '--silent', ...args], { cwd: PROJECT_ROOT, env: fullEnv, encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    anyLeft() {
      try {
        if (child.pid) process.kill(-child.pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    async interrupt(opts = {}) {
      const signal = (sig: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(opts.npmOnly && sig === 'SIGINT' ? child.pid : -child.pid, sig);
        } catch {
          // the group is already gone
        }
      };
      if (child.exitCode === null && child.signalCode === null) signal('SIGINT');
      const timer = setTimeout(() => signal('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
