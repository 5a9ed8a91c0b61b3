import { loadConfig } from '../../config/index';
import { dataConverter } from '../../temporal/codec';
import { runAcmeWorker } from './temporal';

/**
 * Acme's worker process: applyDirectoryChanges on APP_TASK_QUEUE (`acme-app` by default), at
 * TEMPORAL_ADDRESS. It reads scimflow's batches through scimflow's payload codec, set by the same
 * variables as scimflow's own processes (PAYLOAD_COMPRESSION, PAYLOAD_ENCRYPTION_KEYS): batches
 * are compressed by default, and encrypted with keys.
 */

await runAcmeWorker({ dataConverter: dataConverter(loadConfig()) });
