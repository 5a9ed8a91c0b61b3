import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../api/app';
import { loadConfig } from '../config/index';
import { createDatabase, migrateLatest } from '../db/connection';
import { startEmulator } from '../emulator/index';
import { memoryLogger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { PortalLinks } from '../scalekit/portal';
import { WebhookVerifier } from '../scalekit/webhook';
import { OrganizationWorkflows } from '../temporal/client';
import { launchChromium } from './lib/browser';
import { dropDatabase, ensureDatabase, serverReachable, withDatabase } from './lib/postgres';
import { PROJECT_ROOT } from './lib/temporal-server';

/**
 * `npm run docs:screenshot`: docs/images/settings-page.png, the directory settings page as a
 * customer's IT admin sees it, with the emulator's admin portal in it. Everything runs in this
 * process on 127.0.0.1 (the emulator, the API on a throwaway database of the PostgreSQL at
 * DATABASE_URL; no Temporal is needed), and the system's Chromium takes the picture.
 */

const OUT = join(PROJECT_ROOT, 'docs', 'images', 'settings-page.png');

async function main(): Promise<void> {
  const config = loadConfig();
  if (!(await serverReachable(config.databaseUrl))) {
    throw new Error('PostgreSQL at DATABASE_URL (or 127.0.0.1:5432) does not answer: start it (npm run dev starts an embedded one).');
  }
  const url = withDatabase(config.databaseUrl, `scimflow_screenshot_${process.pid}`);
  await ensureDatabase(url);
  const db = createDatabase({ url });
  const emulator = await startEmulator({ port: 0, seed: 7 });
  const browser = await launchChromium();
  let server: Server | undefined;
  try {
    await migrateLatest(db);
    const org = emulator.seedDemo({ seed: 7 }).id;
    await db('organizations').insert({ id: org, display_name: 'Acme Corporation' });
    const operatorToken = randomBytes(24).toString('hex');
    // The settings routes never reach Temporal: a client that connects lazily, never used.
    const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:7233' }) });
    const app = createApp({
      db,
      workflows: new OrganizationWorkflows(client, 'screenshot'),
      verifier: new WebhookVerifier([`whsec_${randomBytes(32).toString('base64')}`]),
      operatorApiToken: operatorToken,
      logger: memoryLogger(),
      metrics: new Metrics(),
      portal: PortalLinks.fromCredentials({
        environmentUrl: emulator.url,
        clientId: emulator.clientId,
        clientSecret: emulator.clientSecret,
      }),
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const res = await fetch(`${base}/api/organizations/${org}/settings-link`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    if (res.status !== 201) throw new Error(`settings link: ${res.status} ${await res.text()}`);
    const { url: link } = (await res.json()) as { url: string };

    const context = await browser.browser.newContext({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    await page.goto(link);
    const portal = page.frameLocator('#portal');
    // What an admin sees once they have turned directory sync on.
    await portal.locator('#disable').click();
    await portal
      .locator('#status')
      .filter({ hasText: /^Disabled$/ })
      .waitFor();
    await portal.locator('#enable').click();
    await page
      .locator('#status')
      .filter({ hasText: /^Directory sync is on/ })
      .waitFor();
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    await browser.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await emulator.close();
    await db.destroy();
    await dropDatabase(url);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
