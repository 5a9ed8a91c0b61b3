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
 * Runs `entry` (a TypeScript entry point of the project) with `env` added to a copy of this
 * process's environment without the payload keys (the benchmark's codec compresses and does not
 * encrypt), and resolves once a line of its output contains `ready`. It exits with the benchmark.
 */
export async function startProcess(name: string, entry: string, env: Record<string, string>, ready: string): Promise<BenchProcess> {
  const { PAYLOAD_ENCRYPTION_KEYS: _keys, ...inherited } = process.env;
  const child = spawn(join(process.cwd(), 'node_modules', '.bin', 'tsx'), [entry], {
    env: { ...inherited, PAYLOAD_COMPRESSION: 'zlib', SCIMFLOW_EXIT_WITH_PARENT: '1', ...env },
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
