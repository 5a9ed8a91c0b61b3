import { NativeConnection } from '@temporalio/worker';
import { consoleLogger, loadAcmeConfig } from './config';
import { createAcmeDatabase, migrateAcme } from './db';
import { createAcmeWorker } from './temporal';

/** Acme's worker process: applyDirectoryChanges on APP_TASK_QUEUE (`acme-app` by default), at TEMPORAL_ADDRESS. */

const config = loadAcmeConfig();
const logger = consoleLogger('acme-worker');
const db = createAcmeDatabase(config.databaseUrl, { applicationName: 'acme-worker' });
await migrateAcme(db);
const connection = await NativeConnection.connect({ address: config.temporalAddress });
const worker = await createAcmeWorker({ connection, namespace: config.temporalNamespace, taskQueue: config.taskQueue, db, logger });
logger.info('polling', { temporal: config.temporalAddress, taskQueue: config.taskQueue });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
await worker.run();
await connection.close();
await db.destroy();
