import { NativeConnection, Worker } from '@temporalio/worker';
import { consoleLogger, loadAcmeConfig } from './config';
import { createAcmeDatabase, migrateAcme } from './db';
import { createAcmeActivities } from './directory-changes';

/**
 * Acme's Temporal worker: the contract's activity `applyDirectoryChanges` on Acme's own task queue
 * (APP_TASK_QUEUE, `acme-app` by default). scimflow's delivery calls it; Acme runs no workflows.
 */

const config = loadAcmeConfig();
const logger = consoleLogger('acme-worker');
const db = createAcmeDatabase(config.databaseUrl, { applicationName: 'acme-worker' });
await migrateAcme(db);
const connection = await NativeConnection.connect({ address: config.temporalAddress });
const worker = await Worker.create({
  connection,
  namespace: config.temporalNamespace,
  taskQueue: config.taskQueue,
  activities: createAcmeActivities(db, logger),
});
logger.info('polling', { temporal: config.temporalAddress, taskQueue: config.taskQueue });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
await worker.run();
await connection.close();
await db.destroy();
