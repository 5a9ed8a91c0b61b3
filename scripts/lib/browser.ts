import { chromium, type Browser, type BrowserServer } from 'playwright-core';
import { findChromium, INSTALL_CHROMIUM } from './chromium';

/**
 * A real Chromium for the tests of the pages people open (and for docs/images): the system's
 * (Debian's `chromium` package, which `.ci/run` and `node scripts/bootstrap.mjs --test` install as
 * root), driven by playwright-core, which downloads no browser of its own.
 */

/** The Chromium to drive; throws saying how to install it when there is none. */
export function chromiumPath(): string {
  const found = findChromium();
  if (found.path === undefined) throw new Error(`The browser tests need Chromium. ${found.problem} ${INSTALL_CHROMIUM}`);
  return found.path;
}

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** Launches the system Chromium headless; `close()` ends it (by its pid if closing hangs). */
export async function launchChromium(): Promise<TestBrowser> {
  const executablePath = chromiumPath();
  const args = [
    // Containers give /dev/shm 64 MB, too little for Chromium's shared memory: use the temp dir.
    '--disable-dev-shm-usage',
    // Nothing from outside: no component updates, no metrics, no background network.
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ];
  // Chromium's sandbox refuses to start as root (it relies on dropping privileges through user
  // namespaces or a setuid helper, which root in a container does not have): CI and these
  // machines run as root. The pages it loads are the test's own, served on 127.0.0.1.
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  let server: BrowserServer;
  try {
    // launchServer (rather than launch) for the browser's pid. Chromium itself is driven over a
    // pipe (it opens no port); Playwright's own socket listens on 127.0.0.1 only.
    server = await chromium.launchServer({ executablePath, headless: true, args, host: '127.0.0.1', port: 0, timeout: 120_000 });
  } catch (err) {
    throw new Error(`Chromium (${executablePath}) did not start: ${(err as Error).message}\n${INSTALL_CHROMIUM}`, { cause: err });
  }
  const pid = server.process().pid;
  const browser = await chromium.connect(server.wsEndpoint(), { timeout: 120_000 });
  return {
    browser,
    async close() {
      const exited = new Promise<void>((resolve) => {
        const child = server.process();
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      const closed = (async () => {
        await browser.close().catch(() => undefined);
        await server.close().catch(() => undefined);
        await exited;
      })();
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 15_000)));
      const outcome = await Promise.race([closed, hung]);
      clearTimeout(timer);
      if (outcome === 'hung' && pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}
