import { NativeConnection, Worker } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { Knex } from 'knex';
import { consoleLogger, loadAcmeConfig } from './config';
import { createAcmeDatabase, migrateAcme } from './db';
import { createAcmeActivities, type ChangeLogger } from './directory-changes';

/**
 * Acme's Temporal worker: the contract's activity `applyDirectoryChanges` on Acme's own task queue.
 * scimflow's delivery workflow calls it by name on that queue; Acme runs no workflows of its own.
 * scimflow compresses (and may encrypt) its Temporal payloads: the worker reads its batches
 * through the same payload codec (`dataConverter`, scimflow's `dataConverter()`).
 */
export function createAcmeWorker(options: {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  db: Knex;
  logger: ChangeLogger;
  dataConverter?: DataConverter;
}): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    activities: createAcmeActivities(options.db, options.logger),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
}

/**
 * Acme's worker process, from the environment: migrates Acme's schema, then polls APP_TASK_QUEUE
 * (`acme-app` by default) at TEMPORAL_ADDRESS until SIGINT or SIGTERM.
 */
export async function runAcmeWorker(options: { dataConverter?: DataConverter } = {}): Promise<void> {
  const config = loadAcmeConfig();
  const logger = consoleLogger('acme-worker');
  const db = createAcmeDatabase(config.databaseUrl, { applicationName: 'acme-worker' });
  await migrateAcme(db);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createAcmeWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    db,
    logger,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
  logger.info('polling', {
    temporal: config.temporalAddress,
    taskQueue: config.taskQueue,
    payloadCodec: options.dataConverter ? 'on' : 'off',
  });
  // Ctrl-C reaches this process twice (the terminal's SIGINT, then `npm run dev`'s SIGTERM): stop once.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    });
  }
  await worker.run();
  await connection.close();
  await db.destroy();
}
