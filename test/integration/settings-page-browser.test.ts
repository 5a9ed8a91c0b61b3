import { randomInt } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Frame, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../emulator/emulator';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { launchChromium, type TestBrowser } from '../../scripts/lib/browser';
import { startStack, type Stack } from '../support/stack';

/**
 * The directory settings page in a real browser (the system's Chromium): a customer's IT admin
 * opens a one-time settings link, the page embeds the admin portal (the emulator's, reached
 * through the real Scalekit SDK), the admin switches directory sync there, and the page follows
 * the portal's messages. What only a browser can tell: the redirect and the session cookie, the
 * Content-Security-Policy (which frames load, who may frame the page), the referrer the portal
 * sees, postMessage between the origins, reloads and sessionStorage.
 */

let emulator: EmulatorHandle;
let stack: Stack;
let chromium: TestBrowser;
let portalOrigin: string;

/** Generous: two cores shared with other test files. */
const WAIT = 45_000;

beforeAll(async () => {
  // First, so that a missing Chromium fails at once with how to install it.
  chromium = await launchChromium();
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  portalOrigin = new URL(emulator.url).origin;
  stack = await startStack({
    startWorker: false,
    scalekit: { environmentUrl: emulator.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
  });
});
afterAll(async () => {
  await chromium?.close();
  await stack?.stop();
  await emulator?.close();
});

/** The emulator's portal settings (link and session lifetimes), which a test may shorten for a while. */
const portalOptions = () => (emulator as unknown as Emulator).portal.options;

async function withPortalOptions<T>(options: { linkTtlSeconds?: number; sessionSeconds?: number }, fn: () => Promise<T>): Promise<T> {
  const saved = { ...portalOptions() };
  Object.assign(portalOptions(), options);
  try {
    return await fn();
  } finally {
    Object.assign(portalOptions(), saved);
  }
}

/** An organization Scalekit knows and scimflow has registered (with its name). */
async function organization(): Promise<string> {
  const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
  await stack.database.db('organizations').insert({ id: org, display_name: 'Acme Corporation' });
  return org;
}

/** What the host application's backend does when the admin clicks "Directory sync". */
async function settingsLink(org: string, base = stack.baseUrl): Promise<string> {
  const res = await fetch(`${base}/api/organizations/${org}/settings-link`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorToken}` },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { url: string }).url;
}

interface Violation {
  directive: string;
  blocked: string;
}

/**
 * The little of the browser's globals that the functions handed to it use (they run there; this
 * project compiles without the DOM's types). Each starts with `const w = globalThis as unknown as Browser`.
 */
interface BrowserElement {
  id: string;
  src: string;
  textContent: string | null;
  append(child: BrowserElement): void;
}
interface BrowserWindow {
  postMessage(message: unknown, targetOrigin: string): void;
}
interface Browser extends BrowserWindow {
  cspViolations: Violation[];
  heard?: Promise<{ origin: string; status: string }>;
  opened: BrowserWindow | null;
  document: {
    referrer: string;
    cookie: string;
    body: BrowserElement;
    getElementById(id: string): BrowserElement | null;
    createElement(tag: 'iframe'): BrowserElement;
    addEventListener(type: 'securitypolicyviolation', fn: (e: { effectiveDirective: string; blockedURI: string }) => void): void;
  };
  sessionStorage: { getItem(key: string): string | null };
  getComputedStyle(element: unknown): { height: string };
  addEventListener(type: 'message', fn: (e: { origin: string; data: { probe?: boolean } | null }) => void): void;
  open(url: string): BrowserWindow | null;
}

/** A fresh browser profile that records every Content-Security-Policy violation of its pages. */
async function newContext(): Promise<BrowserContext> {
  const context = await chromium.browser.newContext();
  context.setDefaultTimeout(WAIT);
  context.setDefaultNavigationTimeout(WAIT);
  await context.addInitScript(() => {
    const w = globalThis as unknown as Browser;
    w.cspViolations = [];
    w.document.addEventListener('securitypolicyviolation', (e) =>
      w.cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }),
    );
  });
  return context;
}

/** Runs `fn` in a browser profile of its own, closed afterwards. */
async function inContext(fn: (context: BrowserContext) => Promise<void>): Promise<void> {
  const context = await newContext();
  try {
    await fn(context);
  } finally {
    await context.close();
  }
}

const violations = (target: Page | Frame) => target.evaluate(() => (globalThis as unknown as Browser).cspViolations);

/** Waits until the element's text matches. */
const waitForText = (locator: Locator, text: RegExp) => locator.filter({ hasText: text }).first().waitFor({ timeout: WAIT });

/** The portal's frame in the page, once it has loaded from the emulator. */
async function portalFrame(page: Page): Promise<Frame> {
  const handle = await page.locator('iframe#portal').elementHandle({ timeout: WAIT });
  const frame = await handle?.contentFrame();
  if (!frame) throw new Error('the settings page has no portal frame');
  await frame.waitForLoadState('load');
  return frame;
}

const statusOf = (page: Page) => page.locator('#status');
const connected = (page: Page) => waitForText(statusOf(page), /^Connected\./);

/** Serves pages of other origins (which do not resolve) from the test. */
async function serve(context: BrowserContext, url: string, html: string): Promise<{ requests: number }> {
  const seen = { requests: 0 };
  await context.route(url, (route) => {
    seen.requests += 1;
    return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
  });
  return seen;
}

/** A site of its own on 127.0.0.1 that serves `html` at every path. */
async function listenWith(html: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Each test waits for the browser step by step (and one for a portal session to end): room on a busy machine.
describe('the directory settings page in Chromium', { timeout: 240_000 }, () => {
  it('opens from a settings link, embeds the portal from Scalekit, and the admin turns directory sync off and on there', async () => {
    const org = await organization();
    const directory = emulator.snapshot(org).directory;
    expect(directory.enabled).toBe(true);
    const link = await settingsLink(org);
    await inContext(async (context) => {
      const page = await context.newPage();
      const response = await page.goto(link);
      expect(response?.status()).toBe(200);
      // The spent link is not what the address bar, the history or a reload show.
      expect(page.url()).toBe(`${stack.baseUrl}/settings/directory/${org}`);
      expect(await page.title()).toBe(`Directory sync for Acme Corporation (${org})`);
      expect(await page.locator('h1').textContent()).toBe(`Directory sync for Acme Corporation (${org})`);

      // The page's script ran (its nonce let it) and heard the portal's first message.
      await connected(page);
      // Its stylesheet applied too (the nonce again): the portal gets its full height.
      expect(await page.locator('iframe#portal').evaluate((el) => (globalThis as unknown as Browser).getComputedStyle(el).height)).toBe(
        '720px',
      );

      const portal = await portalFrame(page);
      expect(new URL(portal.url()).origin).toBe(portalOrigin);
      expect(await portal.locator('#directory-id').textContent()).toBe(directory.id);
      expect(await portal.locator('#provider').textContent()).toBe(directory.provider);
      expect(await portal.locator('#status').textContent()).toBe('Enabled');
      // The portal learns the page's origin (where it posts its messages), never its path.
      expect(await portal.evaluate(() => (globalThis as unknown as Browser).document.referrer)).toBe(`${stack.baseUrl}/`);

      // The admin turns directory sync off in the portal: Scalekit's directory follows, and the page says so.
      await portal.locator('#disable').click();
      await waitForText(portal.locator('#status'), /^Disabled$/);
      await waitForText(statusOf(page), /^Directory sync is off/);
      expect(await statusOf(page).getAttribute('class')).toBe('warn');
      expect(emulator.snapshot(org).directory.enabled).toBe(false);
      expect(await portal.locator('#enable').isEnabled()).toBe(true);
      expect(await portal.locator('#disable').isDisabled()).toBe(true);

      // And on again, naming the identity provider.
      await portal.locator('#enable').click();
      await waitForText(statusOf(page), new RegExp(`^Directory sync is on \\(${directory.provider}\\)`));
      expect(await statusOf(page).getAttribute('class')).toBe('ok');
      expect(emulator.snapshot(org).directory.enabled).toBe(true);
      const sent = emulator
        .events()
        .filter((e) => e.organizationId === org)
        .map((e) => e.type);
      expect(sent).toEqual(['organization.directory_disabled', 'organization.directory_enabled']);

      // Nothing the page or the portal does was refused by the page's policy.
      expect(await violations(page)).toEqual([]);
      expect(await violations(portal)).toEqual([]);

      // The session cookie is out of the page script's reach, and scoped to this organization's page.
      expect(await page.evaluate(() => (globalThis as unknown as Browser).document.cookie)).toBe('');
      const cookies = await context.cookies(stack.baseUrl + `/settings/directory/${org}`);
      expect(cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }))).toEqual([
        { name: 'scimflow_settings', httpOnly: true, sameSite: 'Lax', path: `/settings/directory/${org}` },
      ]);

      // No secret in what the browser received: neither the service's credentials nor the link's signature.
      const source = (await response?.text()) ?? '';
      expect(source).toContain('<iframe id="portal"');
      const linkParams = new URL(link).searchParams;
      for (const secret of [
        stack.operatorToken,
        emulator.clientSecret,
        ...emulator.webhookSecrets,
        linkParams.get('sig') as string,
        linkParams.get('n') as string,
      ]) {
        expect(source).not.toContain(secret);
        expect(await page.content()).not.toContain(secret);
      }
    });
  });

  it('opens once: the link again shows that it was used; reloading the page brings a fresh portal', async () => {
    const org = await organization();
    const link = await settingsLink(org);
    await inContext(async (context) => {
      const page = await context.newPage();
      await page.goto(link);
      await connected(page);
      const firstPortal = (await portalFrame(page)).url();

      // The page reloads at its own address, through the session: a new single-use portal link.
      const reloaded = await page.reload();
      expect(reloaded?.status()).toBe(200);
      await connected(page);
      const secondPortal = (await portalFrame(page)).url();
      expect(new URL(secondPortal).origin).toBe(portalOrigin);
      expect(secondPortal).not.toBe(firstPortal);

      // The link a second time (from the history, a forwarded message, a proxy log): a page that says so.
      const elsewhere = await newContext();
      try {
        const replay = await elsewhere.newPage();
        const res = await replay.goto(link);
        expect(res?.status()).toBe(410);
        expect(await replay.locator('h1').textContent()).toBe('This link has already been used');
        expect(await replay.locator('h1').isVisible()).toBe(true);
        expect(await replay.locator('main').innerText()).toMatch(/Settings links open once\. Open the directory settings again/);
        expect(await replay.locator('iframe').count()).toBe(0);
        expect(await violations(replay)).toEqual([]);

        // The portal's spent link, opened again, shows the portal's own refusal and does nothing.
        const portalReplay = await elsewhere.newPage();
        expect((await portalReplay.goto(firstPortal))?.status()).toBe(410);
        await waitForText(portalReplay.locator('#status'), /expired or was already used/);
        expect(await portalReplay.locator('#enable').isDisabled()).toBe(true);
        expect(await portalReplay.locator('#disable').isDisabled()).toBe(true);
      } finally {
        await elsewhere.close();
      }
    });
  });

  it('shows a page, not a blank one, for an organization Scalekit does not know (404) and without a session (403)', async () => {
    const unknown = `org_unknown${randomInt(1, 2 ** 31)}`;
    await stack.database.db('organizations').insert({ id: unknown });
    await inContext(async (context) => {
      const page = await context.newPage();
      const res = await page.goto(await settingsLink(unknown));
      expect(res?.status()).toBe(404);
      expect(page.url()).toBe(`${stack.baseUrl}/settings/directory/${unknown}`);
      expect(await page.locator('h1').textContent()).toBe('Unknown organization');
      expect(await page.locator('main').innerText()).toMatch(/not set up for directory sync/);
      expect(await page.locator('iframe').count()).toBe(0);

      // Another organization's page with this session, or any page without one.
      const org = await organization();
      for (const url of [`${stack.baseUrl}/settings/directory/${org}`, `${stack.baseUrl}/settings/directory`]) {
        const refused = await page.goto(url);
        expect(refused?.status()).toBe(403);
        expect(await page.locator('h1').textContent()).toBe('Open this page from your account settings');
      }
      expect(await violations(page)).toEqual([]);
    });
  });

  it("frames the portal's origin only: a frame from anywhere else is blocked by the browser", async () => {
    const org = await organization();
    await inContext(async (context) => {
      const elsewhere = await serve(context, 'http://other.test/**', '<!doctype html><title>other</title><h1>other site</h1>');
      const page = await context.newPage();
      await page.goto(await settingsLink(org));
      await connected(page);
      // Whatever got into the page (an injected script, an extension) cannot frame another origin…
      await page.evaluate(() => {
        const { document } = globalThis as unknown as Browser;
        const frame = document.createElement('iframe');
        frame.id = 'injected';
        frame.src = 'http://other.test/page';
        document.body.append(frame);
      });
      await page.waitForFunction(() => (globalThis as unknown as Browser).cspViolations.some((v) => v.directive === 'frame-src'));
      // (Browsers report the origin only of what they blocked.)
      expect(await violations(page)).toEqual([{ directive: 'frame-src', blocked: 'http://other.test' }]);
      expect(elsewhere.requests).toBe(0);
      expect(await page.frameLocator('#injected').locator('body').innerText()).not.toContain('other site');

      // …while the portal's origin still loads (a second portal frame, here with a link of its own).
      const { location } = emulator.createPortalLink(org);
      await page.evaluate((src) => {
        const { document } = globalThis as unknown as Browser;
        const frame = document.createElement('iframe');
        frame.id = 'second-portal';
        frame.src = src;
        document.body.append(frame);
      }, location);
      await waitForText(page.frameLocator('#second-portal').locator('#status'), /^Enabled$/);
      expect(await violations(page)).toHaveLength(1);
    });
  });

  it('cannot be framed by another page, even of its own origin, unless SETTINGS_FRAME_ANCESTORS allows it', async () => {
    const org = await organization();
    await inContext(async (context) => {
      const page = await context.newPage();
      // An open session: framed, the page would show the real settings.
      await page.goto(await settingsLink(org));
      await connected(page);

      const host = (base: string) =>
        `<!doctype html><title>host</title><h1>host</h1><iframe id="embedded" src="${base}/settings/directory/${org}"></iframe>`;
      // Chromium reports the blocked frame on the framing page's console, and shows its error page in the frame.
      const refused = (host: Page) =>
        host.waitForEvent('console', { predicate: (m) => m.type() === 'error' && /frame-ancestors/.test(m.text()), timeout: WAIT });
      const embeddedUrl = async (host: Page) => (await (await host.locator('#embedded').elementHandle())?.contentFrame())?.url();

      // Default: nobody may frame it, the same origin neither.
      await serve(context, `${stack.baseUrl}/host-app`, host(stack.baseUrl));
      const framing = await context.newPage();
      const blocked = refused(framing);
      await framing.goto(`${stack.baseUrl}/host-app`);
      expect((await blocked).text()).toMatch(/violates the following Content Security Policy directive: "frame-ancestors 'none'"/);
      expect(await embeddedUrl(framing)).toMatch(/^chrome-error:/);
      expect(await framing.frameLocator('#embedded').locator('body').innerText()).not.toContain('Directory sync');

      await stack.withApi({ settingsFrameAncestors: ["'self'"] }, async (base) => {
        // (Its own browser profile, closed before this API stops: the browser's open connections would hold it.)
        const admin = await newContext();
        try {
          await (await admin.newPage()).goto(await settingsLink(org, base));
          // Allowed for its own origin: the page shows in the frame, with the portal in it, connected.
          await serve(admin, `${base}/host-app`, host(base));
          const own = await admin.newPage();
          await own.goto(`${base}/host-app`);
          const embedded = own.frameLocator('#embedded');
          await waitForText(embedded.locator('h1'), new RegExp(`^Directory sync for Acme Corporation \\(${org}\\)$`));
          await waitForText(embedded.locator('#status'), /^Connected\./);
          expect(await embeddedUrl(own)).toBe(`${base}/settings/directory/${org}`);

          // Still not for another site. (A real one on this machine: Chromium would not let a
          // public one frame 127.0.0.1 in the first place.)
          const otherSite = await listenWith(host(base));
          try {
            const other = await admin.newPage();
            const otherBlocked = refused(other);
            await other.goto(`http://localhost:${otherSite.port}/host-app`);
            expect((await otherBlocked).text()).toMatch(
              /violates the following Content Security Policy directive: "frame-ancestors 'self'"/,
            );
            expect(await embeddedUrl(other)).toMatch(/^chrome-error:/);
            expect(await other.frameLocator('#embedded').locator('body').innerText()).not.toContain('Directory sync');
          } finally {
            await otherSite.close();
          }
        } finally {
          await admin.close();
        }
      });
    });
  });

  it("listens to the portal's origin only", async () => {
    const org = await organization();
    await inContext(async (context) => {
      const page = await context.newPage();
      await page.goto(await settingsLink(org));
      await connected(page);
      // A message from the page's own origin (or any but the portal's) changes nothing. The probe's
      // listener was added after the page's, so it runs once the page has handled the message.
      const after = await page.evaluate(
        () =>
          new Promise<string>((resolve) => {
            const w = globalThis as unknown as Browser;
            w.addEventListener('message', (e) => {
              if (e.data?.probe) resolve(w.document.getElementById('status')?.textContent ?? '');
            });
            w.postMessage({ event_type: 'ORGANIZATION_DIRECTORY_DISABLED', data: {}, probe: true }, '*');
          }),
      );
      expect(after).toMatch(/^Connected\./);

      // Another site that opened the page in a window cannot talk to it either.
      await serve(context, 'http://other.test/**', '<!doctype html><title>opener</title>');
      const opener = await context.newPage();
      await opener.goto('http://other.test/opener');
      const [popup] = await Promise.all([
        context.waitForEvent('page', { timeout: WAIT }),
        opener.evaluate((url) => {
          const w = globalThis as unknown as Browser;
          w.opened = w.open(url);
        }, `${stack.baseUrl}/settings/directory/${org}`),
      ]);
      await connected(popup);
      // The probe listens first (after the page's own listener), then the opener posts.
      await popup.evaluate(() => {
        const w = globalThis as unknown as Browser;
        w.heard = new Promise((resolve) => {
          w.addEventListener('message', (e) => {
            if (e.data?.probe) resolve({ origin: e.origin, status: w.document.getElementById('status')?.textContent ?? '' });
          });
        });
      });
      await opener.evaluate(() => {
        (globalThis as unknown as Browser).opened?.postMessage(
          { event_type: 'ORGANIZATION_DIRECTORY_DISABLED', data: {}, probe: true },
          '*',
        );
      });
      const heard = popup.evaluate(() => (globalThis as unknown as Browser).heard);
      const { origin, status } = (await heard) ?? { origin: '', status: '' };
      expect(origin).toBe('http://other.test');
      expect(status).toMatch(/^Connected\./);
    });
  });

  it("warns before the portal's session ends, and reloads with a fresh link when it has", async () => {
    const org = await organization();
    await inContext(async (context) => {
      const page = await context.newPage();
      const link = await settingsLink(org);
      // This page's portal session lasts 20 s: the portal warns after 10 and expires after 20. (The
      // page's load waits for the portal's; sessions opened later last as usual.)
      await withPortalOptions({ sessionSeconds: 20 }, () => page.goto(link));
      const first = (await portalFrame(page)).url();
      const reloaded = page.waitForRequest((r) => r.isNavigationRequest() && r.frame() === page.mainFrame(), { timeout: 3 * WAIT });
      reloaded.catch(() => undefined);
      await waitForText(statusOf(page), /session ends in about five minutes/);
      expect(await statusOf(page).getAttribute('class')).toBe('warn');
      // On expiry the page loads itself again: a fresh portal link, a new session, connected.
      await reloaded;
      await connected(page);
      const second = (await portalFrame(page)).url();
      expect(second).not.toBe(first);
      expect(await page.evaluate(() => (globalThis as unknown as Browser).sessionStorage.getItem('scimflow-portal-reloads'))).toBeNull();
    });
  });

  it('tries a fresh portal link three times when the portal fails to load, then says so; a later load recovers', async () => {
    const org = await organization();
    await inContext(async (context) => {
      const page = await context.newPage();
      const pageUrl = `${stack.baseUrl}/settings/directory/${org}`;
      let loads = 0;
      page.on('request', (r) => {
        if (r.isNavigationRequest() && r.frame() === page.mainFrame() && r.url() === pageUrl) loads += 1;
      });
      const link = await settingsLink(org);
      // Every portal link has expired by the time the browser opens it.
      await withPortalOptions({ linkTtlSeconds: 0 }, async () => {
        await page.goto(link);
        await waitForText(statusOf(page), /could not be loaded \(SESSION_EXPIRED\)/);
        expect(await statusOf(page).getAttribute('class')).toBe('warn');
        await waitForText(page.frameLocator('#portal').locator('#status'), /expired or was already used/);
      });
      // The first load and three reloads, then it stopped.
      expect(loads).toBe(4);

      await page.reload();
      await connected(page);
      expect(await page.evaluate(() => (globalThis as unknown as Browser).sessionStorage.getItem('scimflow-portal-reloads'))).toBeNull();
      expect(loads).toBe(5);
    });
  });
});
