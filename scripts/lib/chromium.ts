import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The Chromium the browser tests drive: the system's (Debian's `chromium` package), or the one
 * CHROMIUM_PATH names. playwright-core downloads no browser of its own.
 */

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

export const INSTALL_CHROMIUM =
  'Install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`; as root, `node scripts/bootstrap.mjs --test` does it) ' +
  'or set CHROMIUM_PATH to a Chromium or Chrome executable.';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export type ChromiumLookup = { path: string } | { path?: undefined; problem: string };

/** CHROMIUM_PATH, else the first of chromium, chromium-browser, google-chrome on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumLookup {
  const configured = env.CHROMIUM_PATH?.trim();
  if (configured) {
    return executable(configured) ? { path: configured } : { problem: `CHROMIUM_PATH=${configured} is not an executable file.` };
  }
  for (const name of NAMES) {
    for (const dir of (env.PATH ?? '').split(delimiter)) {
      if (dir && executable(join(dir, name))) return { path: join(dir, name) };
    }
  }
  return { problem: `No Chromium on PATH (looked for ${NAMES.join(', ')}).` };
}

/**
 * For `bootstrap --test`: finds Chromium, or installs Debian's package when running as root with
 * apt-get (as CI does). Never fails the bootstrap: without Chromium, the browser tests fail and
 * say how to install it. Returns the path, or undefined.
 */
export function ensureChromium(log: (line: string) => void): string | undefined {
  const found = findChromium();
  if (found.path !== undefined) return found.path;
  if (process.env.CHROMIUM_PATH?.trim()) {
    log(`${found.problem} The browser tests need it. ${INSTALL_CHROMIUM}`);
    return undefined;
  }
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (process.getuid?.() !== 0 || !apt) {
    log(`Chromium not found: the browser tests need it. ${INSTALL_CHROMIUM}`);
    return undefined;
  }
  log('installing Chromium for the browser tests (apt-get install chromium) …');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env, encoding: 'utf8' }).status === 0;
  // A fresh machine may have no package lists yet.
  const ok = install() || (spawnSync('apt-get', ['update'], { env, encoding: 'utf8' }).status === 0 && install());
  const after = findChromium();
  if (!ok || after.path === undefined) {
    log(`Chromium could not be installed with apt-get: the browser tests will fail until it is. ${INSTALL_CHROMIUM}`);
    return undefined;
  }
  return after.path;
}
