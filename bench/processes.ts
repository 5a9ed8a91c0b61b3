import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A process of the deployment the benchmark runs (scimflow's worker or API, Acme's worker), as `npm run dev` runs them. */
export interface BenchProcess {
  name: string;
  /** Asks it to stop (SIGTERM) and waits until it has. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Settings of the user's environment or `.env` the benchmark's processes must not take: its payload
 * codec compresses and does not encrypt, nothing is pushed to a URL or traced elsewhere, and the
 * namespace is the dev server's. (Empty counts as unset, and `.env` does not override what is set.)
 */
const NEUTRAL: Record<string, string> = {
  PAYLOAD_COMPRESSION: 'zlib',
  PAYLOAD_ENCRYPTION_KEYS: '',
  APP_WEBHOOK_URL: '',
  APP_WEBHOOK_SECRET: '',
  OTEL_EXPORTER_OTLP_ENDPOINT: '',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
  CODEC_LISTEN: '',
  CODEC_ALLOWED_ORIGINS: '',
  TEMPORAL_NAMESPACE: 'default',
};

/**
 * Runs `entry` (a TypeScript entry point of the project) with `env` over this process's
 * environment and NEUTRAL, and resolves once a line of its output contains `ready`. It exits with
 * the benchmark.
 */
export async function startProcess(name: string, entry: string, env: Record<string, string>, ready: string): Promise<BenchProcess> {
  const child = spawn(join(process.cwd(), 'node_modules', '.bin', 'tsx'), [entry], {
    env: { ...process.env, ...NEUTRAL, SCIMFLOW_EXIT_WITH_PARENT: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let tail = '';
  await new Promise<void>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-8000);
      if (tail.includes(ready)) resolve();
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    void exited.then(() => reject(new Error(`${name} exited before it was ready; its last output:\n${tail}`)));
  });
  return {
    name,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
