import { DefaultLogger, Runtime } from '@temporalio/worker';

/** Activity types whose failures a test causes on purpose (Scalekit unreachable): not test output. */
const expectedFailures = new Set<string>();
export function expectActivityFailures(...activityTypes: string[]): void {
  for (const t of activityTypes) expectedFailures.add(t);
}

/**
 * The Temporal runtime of this test process, installed once (the first call decides): worker state
 * changes are not test output, warnings and errors still show. `prometheus`: the runtime's own
 * metrics exporter on that address (host:port), as the worker process runs it.
 */
export function installTestRuntime(options: { prometheus?: string } = {}): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', ({ level, message, meta, timestampNanos }) => {
        if (message === 'Activity failed' && expectedFailures.has(String(meta?.activityType))) return;
        // The Scalekit and reconcile queues' workers run activities only, as they should.
        if (message.startsWith('No workflows registered')) return;
        console.error(`${new Date(Number(timestampNanos / 1_000_000n)).toISOString()} [${level}] ${message}`, meta ?? '');
      }),
      ...(options.prometheus ? { telemetryOptions: { metrics: { prometheus: { bindAddress: options.prometheus } } } } : {}),
    });
  } catch {
    // already installed in this process
  }
}
