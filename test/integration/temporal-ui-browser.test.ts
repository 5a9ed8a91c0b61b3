import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { upsertOrganization } from '../../db/repositories/organizations';
import { organizationWorkflowId } from '../../workflows/messages';
import { launchChromium, type TestBrowser } from '../../scripts/lib/browser';
import { freePort } from '../../scripts/lib/ports';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-server';
import { useEmulatorStack } from '../support/emulator-stack';
import { reconcileAndWait } from '../support/reconcile';
import { eventually, type StackOptions } from '../support/stack';

/**
 * What the README promises the Temporal UI shows of an organization, in a real browser (the
 * system's Chromium) on the UI of a dev server of this file's own: the workflow `scim-org:<org>`
 * in the list, found by `ScimState`, and its page with the summary naming the organization and
 * its current details, without running a query.
 */

let uiPort: number;
let server: DevServer;
let chromium: TestBrowser;
/** Read by the stack's beforeAll (registered below), once the dev server is up. */
const stackOptions: StackOptions = {};

/** Generous: two cores shared with other test files. */
const WAIT = 45_000;

beforeAll(async () => {
  // Free ports, taken again if another process got one first (the server then exits at start).
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    uiPort = await freePort();
    try {
      server = await startDevServer({
        cli: inject('temporalCli'),
        port,
        uiPort,
        watchPid: process.pid,
        logFile: join(inject('tmpRoot'), `temporal-ui-${port}.log`),
      });
      break;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
  stackOptions.temporalAddress = server.address;
  chromium = await launchChromium();
});
// After this file's stack (registered below, so stopped first).
afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

const env = useEmulatorStack({ webhooks: true, stack: stackOptions });

it("shows an organization's workflow by its name and state, in the list and on its page", { timeout: 240_000 }, async () => {
  const displayName = `Umbrella ${randomInt(1, 1e9)}`;
  const org = env.emulator.createOrganization({ displayName }, { emit: false }).id;
  env.emulator.createUser(org, { email: `ui.${org}@example.com`, givenName: 'Gwendolyn', familyName: 'Marchbanks' }, { emit: false });
  await upsertOrganization(env.stack.database.db, { organizationId: org, displayName, directories: [] });
  const imported = await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' });
  expect(imported.status).toBe('completed');
  const workflowId = organizationWorkflowId(org);
  const { runId } = await env.stack.client.workflow.getHandle(workflowId).describe();

  const context = await chromium.browser.newContext({ viewport: { width: 1400, height: 1000 } });
  context.setDefaultTimeout(WAIT);
  context.setDefaultNavigationTimeout(WAIT);
  try {
    const page = await context.newPage();
    const ui = `http://127.0.0.1:${uiPort}/namespaces/default`;

    // The list, filtered as the README says: the organization's workflow is there (the list is
    // eventually consistent: load it again until it is).
    const query = encodeURIComponent(`ScimState = "idle" AND ScimOrgId = "${org}"`);
    await eventually(
      async () => {
        await page.goto(`${ui}/workflows?query=${query}`);
        await page.getByText(workflowId).first().waitFor({ timeout: 10_000 });
        return true;
      },
      { timeoutMs: 90_000 },
    );

    // Its page, under User Metadata: the summary names the organization; the current details say
    // its state and last run. (The UI renders each as markdown in a frame of its own.)
    await page.goto(`${ui}/workflows/${encodeURIComponent(workflowId)}/${runId}/user-metadata`);
    const shown = async () =>
      (
        await Promise.all(
          page.frames().map((f) =>
            f
              .locator('body')
              .innerText({ timeout: 5_000 })
              .catch(() => ''),
          ),
        )
      ).join('\n');
    const details = await eventually(
      async () => {
        const all = await shown();
        return all.includes(`Directory sync for ${displayName} (${org})`) && all.includes(`Last run ${imported.runId} (full): completed`)
          ? all
          : undefined;
      },
      { timeoutMs: 2 * WAIT },
    );
    expect(details).toMatch(/^Idle$/m);
    // Counts, ids and times only: no person's name or e-mail.
    expect(details).not.toContain('Marchbanks');
    expect(details).not.toContain(`ui.${org}@example.com`);
  } finally {
    await context.close();
  }
});
