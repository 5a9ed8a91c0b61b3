import { loadConfig } from '../config/index';
import { runAcmeWorker } from '../examples/acme-app/temporal';
import { dataConverter } from '../temporal/codec';

/**
 * Acme's worker as `npm run dev` starts it: with scimflow's payload codec when PAYLOAD_ENCRYPTION_KEYS
 * is set, so it reads the batches scimflow's delivery sends encrypted.
 */

const converter = dataConverter(loadConfig().payloadKeys);
await runAcmeWorker(converter ? { dataConverter: converter } : {});
