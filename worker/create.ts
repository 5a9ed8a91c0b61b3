import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { createActivities, type ActivityDeps } from '../activities/index';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: ActivityDeps;
  /** A prebundled workflow bundle (tests bundle once per file); otherwise bundled at start. */
  workflowBundle?: WorkflowBundle;
  shutdownGraceTime?: string;
  /** Encrypts payloads (see temporal/codec.ts); the same for the worker and every client. */
  dataConverter?: DataConverter;
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(options.activities),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    // Let in-flight batches finish on deploys instead of abandoning them.
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
    maxConcurrentActivityTaskExecutions: 20,
  });
}
