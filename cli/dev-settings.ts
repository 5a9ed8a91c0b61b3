import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * While `npm run dev` runs, it leaves `dev-settings.json` in its data folder (.data/): the
 * database, Temporal, operator token and (local emulator) Scalekit settings it gave the worker
 * and the API. The CLI takes from it whatever the environment (and .env) does not set, so
 * `npm run cli -- orgs add <org>` works beside `npm run dev` with nothing exported. A file left
 * by a run that is gone is ignored.
 */

const PROJECT_ROOT = resolve(import.meta.dirname, '..');

/** The file, in the data folder, that `npm run dev` writes at start and removes when it stops. */
export const DEV_SETTINGS_FILE = 'dev-settings.json';

interface DevSettings {
  pid: number;
  env: Record<string, string>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The settings of the `npm run dev` running with this data folder, if one is. */
export function runningDevSettings(env: NodeJS.ProcessEnv = process.env): DevSettings | undefined {
  const dataDir = env.SCIMFLOW_DATA_DIR?.trim() || '.data';
  const candidates = isAbsolute(dataDir) ? [dataDir] : [resolve(dataDir), join(PROJECT_ROOT, dataDir)];
  for (const dir of candidates) {
    const file = join(dir, DEV_SETTINGS_FILE);
    if (!existsSync(file)) continue;
    try {
      const settings = JSON.parse(readFileSync(file, 'utf8')) as DevSettings;
      if (Number.isInteger(settings.pid) && alive(settings.pid) && settings.env && typeof settings.env === 'object') return settings;
    } catch {
      // being rewritten, or not ours: as if absent
    }
  }
  return undefined;
}

/** Fills, from the running `npm run dev`, every setting the environment leaves out (a blank one counts as set). */
export function applyDevSettings(env: NodeJS.ProcessEnv = process.env): boolean {
  const settings = runningDevSettings(env);
  if (!settings) return false;
  for (const [name, value] of Object.entries(settings.env)) if (env[name] === undefined) env[name] = value;
  return true;
}
