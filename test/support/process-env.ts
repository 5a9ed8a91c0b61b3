import { inject } from 'vitest';

/**
 * The environment of a scimflow process a test starts (the CLI, the worker): the system's basics,
 * no colours, this run's Temporal dev server, then `vars`. Nothing else of the test's own
 * environment goes through; blanks in `vars` stand in for what a developer's .env may hold.
 */
export function processEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    NO_COLOR: '1',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: 'default',
    ...vars,
  };
}
