import { ScalekitClient } from '@scalekit-sdk/node';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle, type OrganizationView, type PortalPageConfig } from '../../emulator';

// The admin portal page, exercised without a browser: the served HTML is fetched over HTTP and
// its inline script runs in a VM against a minimal fake DOM that records postMessage calls.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FakeElement {
  textContent: string;
  disabled: boolean;
  listeners: Record<string, () => void>;
  addEventListener(type: string, fn: () => void): void;
}

interface PortalMessage {
  event_type: string;
  object: string;
  organization_id: string | null;
  message: string;
  data: Record<string, unknown>;
}

function runPage(html: string, baseUrl: string) {
  const config = /<script type="application\/json" id="portal-config">([\s\S]*?)<\/script>/.exec(html)?.[1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (config === undefined || script === undefined) throw new Error('portal page lacks its scripts');
  const elements = new Map<string, FakeElement>();
  const element = (id: string): FakeElement => {
    let el = elements.get(id);
    if (!el) {
      el = {
        textContent: id === 'portal-config' ? config : '',
        disabled: false,
        listeners: {},
        addEventListener(type, fn) {
          this.listeners[type] = fn;
        },
      };
      elements.set(id, el);
    }
    return el;
  };
  const posted: { message: PortalMessage; targetOrigin: string }[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const parent = {
    postMessage: (message: unknown, targetOrigin: string) =>
      posted.push({ message: JSON.parse(JSON.stringify(message)) as PortalMessage, targetOrigin }),
  };
  vm.runInNewContext(script, {
    document: { getElementById: element, referrer: 'https://app.example/settings/sso' },
    window: { parent },
    fetch: (path: string, init: RequestInit) => fetch(`${baseUrl}${path}`, init),
    setTimeout: (fn: () => void, ms: number) => timers.push({ fn, ms }),
    URL,
    JSON,
  });
  return {
    config: JSON.parse(config) as PortalPageConfig,
    posted,
    types: () => posted.map((p) => p.message.event_type),
    timers,
    element,
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

let emu: EmulatorHandle;
let sdk: ScalekitClient;
let org: OrganizationView;

beforeAll(async () => {
  emu = await startEmulator({ seed: 51, portalLinkTtlSeconds: 1, portalSessionSeconds: 2 });
  sdk = new ScalekitClient(emu.url, emu.clientId, emu.clientSecret);
  org = emu.createOrganization({ displayName: 'Vandelay <Industries>', provider: 'OKTA' });
});

afterAll(async () => {
  await emu?.close();
});

describe('admin portal', () => {
  it('loads once, lets the admin toggle the directory and posts the portal events', async () => {
    const link = await sdk.organization.generatePortalLink(org.id);
    const res = await fetch(link.location);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-options')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Vandelay &#60;Industries&#62;');
    expect(html).not.toContain('Vandelay <Industries>');

    const page = runPage(html, emu.url);
    expect(page.posted[0]).toEqual({
      targetOrigin: 'https://app.example',
      message: {
        event_type: 'PORTAL_LOAD_SUCCESS',
        object: 'session',
        organization_id: org.id,
        message: expect.any(String),
        data: { expiry: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) },
      },
    });
    expect(page.element('status').textContent).toBe('Enabled');
    expect(page.element('enable').disabled).toBe(true);

    const eventsBefore = emu.events().length;
    page.element('disable').listeners.click!();
    await until(() => page.posted.length === 2, 'the disable event');
    expect(page.posted[1]!.message).toMatchObject({
      event_type: 'ORGANIZATION_DIRECTORY_DISABLED',
      object: 'directory',
      organization_id: org.id,
      data: { directory_type: 'SCIM', id: org.directoryId, provider: 'OKTA', enabled: false },
    });
    expect(emu.snapshot(org.id).directory.enabled).toBe(false);
    expect(
      emu
        .events()
        .slice(eventsBefore)
        .map((e) => e.type),
    ).toEqual(['organization.directory_disabled']);

    page.element('enable').listeners.click!();
    await until(() => page.posted.length === 3, 'the enable event');
    expect(page.posted[2]!.message).toMatchObject({
      event_type: 'ORGANIZATION_DIRECTORY_ENABLED',
      data: { id: org.directoryId, enabled: true },
    });
    expect(emu.events().at(-1)!.type).toBe('organization.directory_enabled');

    // The session timers: a warning before expiry, then the expiry itself.
    expect(page.timers).toHaveLength(2);
    const [warning, expiry] = [...page.timers].sort((a, b) => a.ms - b.ms);
    expect(warning!.ms).toBeLessThan(expiry!.ms);
    expect(expiry!.ms).toBeLessThanOrEqual(2_000);
    warning!.fn();
    expiry!.fn();
    expect(page.types().slice(3)).toEqual(['PORTAL_SESSION_WARNING', 'PORTAL_SESSION_EXPIRY']);
    expect(page.element('enable').disabled).toBe(true);
    expect(page.element('disable').disabled).toBe(true);

    // Single use: the same link again is a load failure.
    const again = await fetch(link.location);
    expect(again.status).toBe(410);
    const failed = runPage(await again.text(), emu.url);
    expect(failed.posted.map((p) => p.message)).toEqual([
      {
        event_type: 'PORTAL_LOAD_FAILURE',
        object: 'session',
        organization_id: org.id,
        message: expect.any(String),
        data: { error_code: 'SESSION_EXPIRED' },
      },
    ]);
    expect(failed.timers).toHaveLength(0);
  });

  it('fails a link opened after its minute (here: one second) and a link with a wrong token', async () => {
    const late = await sdk.organization.generatePortalLink(org.id);
    const tampered = await sdk.organization.generatePortalLink(org.id);
    const wrongToken = tampered.location.replace(/token=[^&]+/, 'token=guess');
    const wrong = await fetch(wrongToken);
    expect(wrong.status).toBe(410);
    expect(runPage(await wrong.text(), emu.url).types()).toEqual(['PORTAL_LOAD_FAILURE']);
    await sleep(1_100);
    const res = await fetch(late.location);
    expect(res.status).toBe(410);
    const page = runPage(await res.text(), emu.url);
    expect(page.posted[0]!.message).toMatchObject({ event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'SESSION_EXPIRED' } });
  });

  it('refuses directory changes once the session has expired', async () => {
    const link = emu.createPortalLink(org.id);
    const page = runPage(await (await fetch(link.location)).text(), emu.url);
    expect(page.types()).toEqual(['PORTAL_LOAD_SUCCESS']);
    await sleep(2_100);
    const before = emu.events().length;
    page.element('disable').listeners.click!();
    await until(() => page.types().includes('PORTAL_SESSION_EXPIRY'), 'the expiry event');
    expect(page.element('error').textContent).toMatch(/expired/);
    expect(emu.snapshot(org.id).directory.enabled).toBe(true);
    expect(emu.events().length).toBe(before);
    const direct = await fetch(`${emu.url}${(page.config as { sessionApi: string }).sessionApi}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    expect(direct.status).toBe(401);
    expect(await direct.json()).toMatchObject({ error_code: 'SESSION_EXPIRED' });
  });
});
