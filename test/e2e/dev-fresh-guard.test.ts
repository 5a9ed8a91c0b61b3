import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { processEnv } from '../support/process-env';

/**
 * `npm run dev -- --fresh` drops scimflow's development database. A DATABASE_URL naming a database
 * that is not named for scimflow is someone's own: refused before anything is reset.
 */
it('refuses --fresh for a database not named for scimflow, resetting nothing', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'scimflow-fresh-guard-'));
  const state = join(dataDir, 'emulator-state.json');
  writeFileSync(state, '{}');
  const r = spawnSync(join(PROJECT_ROOT, 'node_modules/.bin/tsx'), ['scripts/dev.ts', '--fresh'], {
    cwd: PROJECT_ROOT,
    env: processEnv({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/myapp', SCIMFLOW_DATA_DIR: dataDir }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('DATABASE_URL names "myapp", which is not named for scimflow');
  expect(r.stderr).toContain('nothing was reset');
  expect(existsSync(state)).toBe(true);
});
