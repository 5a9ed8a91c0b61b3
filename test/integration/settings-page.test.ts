import { randomInt } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SettingsLinks } from '../../api/settings-link';
import { SETTINGS_SCRIPT } from '../../api/settings-page';
import { startEmulator, type EmulatorHandle } from '../../emulator/index';
import { startStack, type Stack } from '../support/stack';

/**
 * The directory settings page: a signed, expiring link opens Scalekit's admin portal (the
 * emulator's, through the real SDK) embedded in an iframe, with a fresh single-use link per load.
 */

let emulator: EmulatorHandle;
let stack: Stack;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: randomInt(1, 2 ** 31) });
  stack = await startStack({
    startWorker: false,
    scalekit: { environmentUrl: emulator.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
  });
});
afterAll(async () => {
  await stack?.stop();
  await emulator?.close();
});

/** Registers the organization as `scimflow orgs add` would (links are for registered organizations only). */
const register = (org: string) => stack.database.db('organizations').insert({ id: org }).onConflict('id').ignore();

async function settingsLink(org: string): Promise<{ url: string; expiresAt: string }> {
  await register(org);
  const res = await fetch(`${stack.baseUrl}/api/organizations/${org}/settings-link`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorToken}` },
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { url: string; expiresAt: string };
}

const iframeSrc = (html: string) => /<iframe[^>]* src="([^"]+)"/.exec(html)?.[1]?.replace(/&#38;/g, '&');

describe('settings links and the page', () => {
  /** Follows a settings link as a browser does: the redirect, with the session cookie it sets. */
  async function open(url: string): Promise<{ res: Response; cookie: string; page: string }> {
    const res = await fetch(url, { redirect: 'manual' });
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const location = res.headers.get('location');
    const page = location ? new URL(location, stack.baseUrl).toString() : '';
    return { res, cookie, page };
  }

  it('opens the embedded admin portal once per link; reloads go through the session it opens, each with a fresh portal link', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    // Registered: the page names the organization.
    await stack.database.db('organizations').insert({ id: org, display_name: 'Acme Corporation' });
    const link = await settingsLink(org);
    expect(new Date(link.expiresAt).getTime() - Date.now()).toBeGreaterThan(14 * 60_000);

    const first = await open(link.url);
    expect(first.res.status).toBe(303);
    expect(first.page).toBe(`${stack.baseUrl}/settings/directory/${org}`);
    expect(first.res.headers.get('set-cookie')).toMatch(
      new RegExp(`^scimflow_settings=${org}\\.\\d+\\.[\\w-]+; path=/settings/directory/${org}; expires=[^;]+; samesite=lax; httponly$`),
    );

    const page = await fetch(first.page, { headers: { cookie: first.cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain(`frame-src ${new URL(emulator.url).origin}`);
    const html = await page.text();
    expect(html).toContain(`<title>Directory sync for Acme Corporation (${org})</title>`);
    expect(html).toContain('allow="clipboard-write"');
    const src = iframeSrc(html);
    expect(src?.startsWith(`${emulator.url}/portal/`)).toBe(true);

    // The link opens once: a second visit (history, a forwarded message, a proxy log) does not.
    const replay = await fetch(link.url, { redirect: 'manual' });
    expect(replay.status).toBe(410);
    expect(await replay.text()).toContain('This link has already been used');

    // The page reloads itself at its own address, with the session cookie: a fresh portal link.
    const reload = await fetch(first.page, { headers: { cookie: first.cookie } });
    expect(reload.status).toBe(200);
    const second = iframeSrc(await reload.text());
    expect(second?.startsWith(`${emulator.url}/portal/`)).toBe(true);
    expect(second).not.toBe(src);

    // The portal accepts a link once: what the iframe loads works, a replay fails.
    const opened = await (await fetch(src as string)).text();
    expect(opened).toContain('"state":"ok"');
    const replayed = await (await fetch(src as string)).text();
    expect(replayed).toContain('SESSION_EXPIRED');

    // Neither link reaches the logs.
    const logs = stack.logs.join('\n');
    expect(logs).not.toContain(new URL(src as string).search.slice(1));
    expect(logs).not.toContain(new URL(link.url).searchParams.get('sig') as string);
  });

  it("opens no page without a session, and a session only its own organization's page", async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    const other = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    const links = new SettingsLinks(stack.operatorToken);
    const page = (id: string, cookie?: string) => fetch(`${stack.baseUrl}/settings/directory/${id}`, cookie ? { headers: { cookie } } : {});
    expect((await fetch(`${stack.baseUrl}/settings/directory`)).status).toBe(403);
    expect((await page(org)).status).toBe(403);
    expect((await page(org, 'scimflow_settings=garbage')).status).toBe(403);
    // A session for one organization does not open another's page, even when sent there.
    const { cookie } = await open((await settingsLink(other)).url);
    expect((await page(other, cookie)).status).toBe(200);
    expect((await page(org, cookie)).status).toBe(403);
    const forged = links.session(org).replace(org, other);
    expect((await page(other, `scimflow_settings=${forged}`)).status).toBe(403);
    const otherKey = new SettingsLinks('another-operator-token').session(org);
    expect((await page(org, `scimflow_settings=${otherKey}`)).status).toBe(403);
    // Sessions last an hour from the link's first use.
    const ended = await page(org, `scimflow_settings=${links.session(org, Math.floor(Date.now() / 1000) - 3_601)}`);
    expect(ended.status).toBe(410);
    expect(await ended.text()).toContain('Your session has ended');
  });

  it('refuses a tampered, an expired and an unauthorised link', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    const link = await settingsLink(org);
    const tampered = link.url.replace(`org=${org}`, 'org=org_other');
    expect((await fetch(link.url.replace(/&n=[^&]+/, ''))).status).toBe(403);
    expect((await fetch(tampered)).status).toBe(403);
    expect((await fetch(link.url.replace(/sig=[^&]+/, 'sig=abc'))).status).toBe(403);

    const old = new SettingsLinks(stack.operatorToken).create(org, Math.floor(Date.now() / 1000) - 3_600);
    const expired = await fetch(`${stack.baseUrl}/settings/directory?${old.query}`);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain('This link has expired');

    const otherKey = new SettingsLinks('another-operator-token').create(org);
    expect((await fetch(`${stack.baseUrl}/settings/directory?${otherKey.query}`)).status).toBe(403);
    // None of that spent the real link.
    expect((await open(link.url)).res.status).toBe(303);

    const noToken = await fetch(`${stack.baseUrl}/api/organizations/${org}/settings-link`, { method: 'POST' });
    expect(noToken.status).toBe(401);
  });

  it('signs no link for an organization never registered', async () => {
    const res = await fetch(`${stack.baseUrl}/api/organizations/org_never_registered/settings-link`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorToken}` },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toMatch(/register it first/);
  });

  it('says so when Scalekit does not know the organization', async () => {
    const { cookie, page } = await open((await settingsLink('org_unknown')).url);
    const res = await fetch(page, { headers: { cookie } });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('not set up for directory sync');
  });

  it('signs links for PUBLIC_BASE_URL when it is set, not for the host the request names', async () => {
    await register('org_1');
    await stack.withApi({ publicBaseUrl: 'https://scim.example.com' }, async (base) => {
      const res = await fetch(`${base}/api/organizations/org_1/settings-link`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.operatorToken}`, 'x-forwarded-host': 'evil.example' },
      });
      expect(res.status).toBe(201);
      expect(((await res.json()) as { url: string }).url).toMatch(
        /^https:\/\/scim\.example\.com\/settings\/directory\?org=org_1&expires=\d+&n=[\w-]+&sig=/,
      );
    });
  });

  it('without TRUST_PROXY, links name the host the request was sent to, whatever X-Forwarded-* say', async () => {
    await register('org_1');
    const ask = (base: string) =>
      fetch(`${base}/api/organizations/org_1/settings-link`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.operatorToken}`, 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
      }).then(async (r) => ((await r.json()) as { url: string }).url);
    expect(await ask(stack.baseUrl)).toMatch(new RegExp(`^${stack.baseUrl}/settings/directory\\?org=org_1&`));
    // Behind a proxy that sets them (and says so with TRUST_PROXY), they are the truth.
    await stack.withApi({ trustProxy: true }, async (base) => {
      expect(await ask(base)).toMatch(/^https:\/\/evil\.example\/settings\/directory\?org=org_1&/);
    });
  });

  it('cannot be framed by other sites unless configured, and still frames the portal', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    await register(org);
    const portalOrigin = new URL(emulator.url).origin;
    const pageOf = async (base: string) => {
      const link = await fetch(`${base}/api/organizations/${org}/settings-link`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.operatorToken}` },
      });
      const { url } = (await link.json()) as { url: string };
      const opened = await fetch(url, { redirect: 'manual' });
      const page = await fetch(new URL(opened.headers.get('location') as string, base), {
        headers: { cookie: (opened.headers.get('set-cookie') ?? '').split(';')[0] as string },
      });
      expect(page.status).toBe(200);
      return page;
    };
    const directives = (res: Response) => (res.headers.get('content-security-policy') ?? '').split('; ');

    const page = await pageOf(stack.baseUrl);
    expect(directives(page)).toEqual(expect.arrayContaining(["frame-ancestors 'none'", `frame-src ${portalOrigin}`]));
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    // The error pages too.
    const refused = await fetch(`${stack.baseUrl}/settings/directory`);
    expect(directives(refused)).toContain("frame-ancestors 'none'");
    expect(refused.headers.get('x-frame-options')).toBe('DENY');

    // An application that shows the page in its own UI: X-Frame-Options cannot name it, so it is left out.
    await stack.withApi({ settingsFrameAncestors: ['https://app.example.com', 'https://admin.example.com'] }, async (base) => {
      const embedded = await pageOf(base);
      expect(directives(embedded)).toEqual(
        expect.arrayContaining(['frame-ancestors https://app.example.com https://admin.example.com', `frame-src ${portalOrigin}`]),
      );
      expect(embedded.headers.get('x-frame-options')).toBeNull();
    });
    await stack.withApi({ settingsFrameAncestors: ["'self'"] }, async (base) => {
      const self = await pageOf(base);
      expect(directives(self)).toContain("frame-ancestors 'self'");
      expect(self.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    });
  });

  it('hands a raw portal link to hosts that embed the portal themselves', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    await register(org);
    const res = await fetch(`${stack.baseUrl}/api/organizations/${org}/portal-link`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorToken}` },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { location: string; expiresAt: string };
    expect(body.location.startsWith(`${emulator.url}/portal/`)).toBe(true);
    expect(new Date(body.expiresAt).getTime()).toBeGreaterThan(Date.now());
  });
});

describe('the page script', () => {
  function run() {
    const listeners: ((e: { origin: string; data: unknown }) => void)[] = [];
    const storage = new Map<string, string>();
    const status = { textContent: '', className: '' };
    let reloads = 0;
    const document = {
      getElementById: (id: string) =>
        id === 'settings-config'
          ? { textContent: JSON.stringify({ organizationId: 'org_1', portalOrigin: 'https://acme.scalekit.com' }) }
          : status,
    };
    const window = {
      addEventListener: (_: string, fn: (e: { origin: string; data: unknown }) => void) => listeners.push(fn),
      location: { reload: () => (reloads += 1) },
    };
    const sessionStorage = {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => storage.set(k, v),
      removeItem: (k: string) => storage.delete(k),
    };
    runInNewContext(SETTINGS_SCRIPT, { window, document, sessionStorage });
    const send = (origin: string, data: unknown) => listeners.forEach((l) => l({ origin, data }));
    return { send, status, reloads: () => reloads };
  }

  it('ignores messages from any origin but the portal', () => {
    const page = run();
    page.send('https://evil.example', { event_type: 'ORGANIZATION_DIRECTORY_ENABLED', data: { provider: 'OKTA' } });
    expect(page.status.textContent).toBe('');
    page.send('https://acme.scalekit.com', { event_type: 'ORGANIZATION_DIRECTORY_ENABLED', data: { provider: 'OKTA' } });
    expect(page.status.textContent).toMatch(/Directory sync is on \(OKTA\)/);
    expect(page.status.className).toBe('ok');
  });

  it('shows the portal events and reloads with a fresh link on expiry, giving up after three tries', () => {
    const page = run();
    const portal = 'https://acme.scalekit.com';
    page.send(portal, { event_type: 'PORTAL_LOAD_SUCCESS', data: { expiry: '2026-11-23T12:00:00Z' } });
    expect(page.status.textContent).toMatch(/Connected/);
    page.send(portal, { event_type: 'PORTAL_SESSION_WARNING', data: {} });
    expect(page.status.textContent).toMatch(/five minutes/);
    page.send(portal, { event_type: 'ORGANIZATION_DIRECTORY_DISABLED', data: {} });
    expect(page.status.textContent).toMatch(/Directory sync is off/);
    page.send(portal, { event_type: 'PORTAL_SESSION_EXPIRY', data: {} });
    expect(page.reloads()).toBe(1);
    page.send(portal, { event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'SESSION_EXPIRED' } });
    page.send(portal, { event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'SESSION_EXPIRED' } });
    expect(page.reloads()).toBe(3);
    page.send(portal, { event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'SESSION_EXPIRED' } });
    expect(page.reloads()).toBe(3);
    expect(page.status.textContent).toMatch(/could not be loaded \(SESSION_EXPIRED\)/);
  });
});
