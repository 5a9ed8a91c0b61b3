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

async function settingsLink(org: string): Promise<{ url: string; expiresAt: string }> {
  const res = await fetch(`${stack.baseUrl}/api/organizations/${org}/settings-link`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorToken}` },
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { url: string; expiresAt: string };
}

const iframeSrc = (html: string) => /<iframe[^>]* src="([^"]+)"/.exec(html)?.[1]?.replace(/&#38;/g, '&');

describe('settings links and the page', () => {
  it('opens the embedded admin portal with a fresh single-use link on every load', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    const link = await settingsLink(org);
    expect(new Date(link.expiresAt).getTime() - Date.now()).toBeGreaterThan(14 * 60_000);

    const first = await fetch(link.url);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.headers.get('content-security-policy')).toContain(`frame-src ${new URL(emulator.url).origin}`);
    const html = await first.text();
    expect(html).toContain('allow="clipboard-write"');
    const src = iframeSrc(html);
    expect(src?.startsWith(`${emulator.url}/portal/`)).toBe(true);

    const second = iframeSrc(await (await fetch(link.url)).text());
    expect(second).not.toBe(src);

    // The portal accepts a link once: what the iframe loads works, a replay fails.
    const opened = await (await fetch(src as string)).text();
    expect(opened).toContain('"state":"ok"');
    const replayed = await (await fetch(src as string)).text();
    expect(replayed).toContain('SESSION_EXPIRED');

    // The single-use link never reaches the logs.
    expect(stack.logs.join('\n')).not.toContain(new URL(src as string).search.slice(1));
  });

  it('refuses a tampered, an expired and an unauthorised link', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
    const link = await settingsLink(org);
    const tampered = link.url.replace(`org=${org}`, 'org=org_other');
    expect((await fetch(tampered)).status).toBe(403);
    expect((await fetch(link.url.replace(/sig=[^&]+/, 'sig=abc'))).status).toBe(403);

    const old = new SettingsLinks(stack.operatorToken).create(org, Math.floor(Date.now() / 1000) - 3_600);
    const expired = await fetch(`${stack.baseUrl}/settings/directory?${old.query}`);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain('This link has expired');

    const otherKey = new SettingsLinks('another-operator-token').create(org);
    expect((await fetch(`${stack.baseUrl}/settings/directory?${otherKey.query}`)).status).toBe(403);

    const noToken = await fetch(`${stack.baseUrl}/api/organizations/${org}/settings-link`, { method: 'POST' });
    expect(noToken.status).toBe(401);
  });

  it('says so when Scalekit does not know the organization', async () => {
    const link = await settingsLink('org_unknown');
    const res = await fetch(link.url);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('not set up for directory sync');
  });

  it('hands a raw portal link to hosts that embed the portal themselves', async () => {
    const org = emulator.seedDemo({ seed: randomInt(1, 2 ** 31) }).id;
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
        id === 'settings-config' ? { textContent: JSON.stringify({ organizationId: 'org_1', portalOrigin: 'https://acme.scalekit.com' }) } : status,
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
