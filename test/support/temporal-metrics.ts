import { freePort } from '../../scripts/lib/ports';
import { installTestRuntime } from './runtime';

/**
 * Imported first by a test file that wants the Temporal runtime's own metrics exporter, as the
 * worker process runs it: the runtime is installed once per process, by whoever comes first.
 */
export const temporalMetricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
installTestRuntime({ prometheus: new URL(temporalMetricsUrl).host });
