import { runAcmeWorker } from './temporal';

/** Acme's worker process: applyDirectoryChanges on APP_TASK_QUEUE (`acme-app` by default), at TEMPORAL_ADDRESS. */

await runAcmeWorker();
