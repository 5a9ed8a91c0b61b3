import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyDevSettings, DEV_SETTINGS_FILE } from '../../cli/dev-settings';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(pid: number, env: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'dev-settings-'));
  dirs.push(dir);
  writeFileSync(join(dir, DEV_SETTINGS_FILE), JSON.stringify({ pid, env }));
  return dir;
}

describe('the CLI beside a running npm run dev', () => {
  it('takes the settings the environment leaves out; what it sets (even blank) wins', () => {
    const dir = dataDir(process.pid, {
      DATABASE_URL: 'postgres://dev/db',
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      SCALEKIT_CLIENT_ID: 'skc_dev',
    });
    const env: NodeJS.ProcessEnv = { SCIMFLOW_DATA_DIR: dir, TEMPORAL_ADDRESS: '10.0.0.1:7233', SCALEKIT_CLIENT_ID: '' };
    expect(applyDevSettings(env)).toBe(true);
    expect(env).toEqual({
      SCIMFLOW_DATA_DIR: dir,
      DATABASE_URL: 'postgres://dev/db',
      TEMPORAL_ADDRESS: '10.0.0.1:7233',
      SCALEKIT_CLIENT_ID: '',
    });
  });

  it('ignores the file of a run that is gone', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const dir = dataDir(gone, { DATABASE_URL: 'postgres://dev/db' });
    const env: NodeJS.ProcessEnv = { SCIMFLOW_DATA_DIR: dir };
    expect(applyDevSettings(env)).toBe(false);
    expect(env.DATABASE_URL).toBeUndefined();
  });
});
