import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Knex } from 'knex';
import { createAcmeActivities, type ChangeLogger } from './directory-changes';

/**
 * Acme's Temporal worker: the contract's activity `applyDirectoryChanges` on Acme's own task queue.
 * scimflow's delivery workflow calls it by name on that queue; Acme runs no workflows of its own.
 */
export function createAcmeWorker(options: {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  db: Knex;
  logger: ChangeLogger;
}): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    activities: createAcmeActivities(options.db, options.logger),
  });
}
