import { randomSecret } from './credentials';
import type { DirectoryStore } from './directory-store';

/**
 * Scalekit's admin portal, reduced to its directory-sync switch. GeneratePortalLink makes a
 * single-use link valid for a minute (configurable); opening it starts a session (6 hours by
 * default, configurable) in a page meant for an iframe. The page posts the portal's events to its
 * parent with postMessage, shaped `{ event_type, object, organization_id, message, data }`.
 */

export interface PortalOptions {
  linkTtlSeconds: number;
  sessionSeconds: number;
}

interface PortalLink {
  id: string;
  organizationId: string;
  token: string;
  expiresAt: number;
  used: boolean;
}

interface PortalSession {
  organizationId: string;
  expiresAt: number;
}

export type PortalOpenResult =
  | { state: 'ok'; organizationId: string; sessionToken: string; expiresAt: number }
  | { state: 'failed'; organizationId: string | null; reason: 'used' | 'expired' | 'unknown' };

/** Config the page script reads; also what tests inspect. */
export type PortalPageConfig =
  | {
      state: 'ok';
      organizationId: string;
      organizationName: string;
      directory: { id: string; provider: string; directory_type: string; enabled: boolean };
      sessionApi: string;
      expiry: string;
      expiresInMs: number;
      warningInMs: number;
    }
  | { state: 'failed'; organizationId: string | null; errorCode: 'SESSION_EXPIRED' };

export class Portal {
  private readonly links = new Map<string, PortalLink>();
  private readonly sessions = new Map<string, PortalSession>();

  constructor(
    private readonly store: DirectoryStore,
    public options: PortalOptions,
    private readonly baseUrl: () => string,
  ) {}

  createLink(organizationId: string): { id: string; location: string; expireNs: bigint } {
    const id = this.store.newId('lnk_');
    const token = randomSecret(24);
    const expiresAt = Date.now() + this.options.linkTtlSeconds * 1000;
    this.links.set(id, { id, organizationId, token, expiresAt, used: false });
    return { id, location: `${this.baseUrl()}/portal/${id}?token=${token}`, expireNs: BigInt(expiresAt) * 1_000_000n };
  }

  /** Opens a link: the first valid use starts a session; any later use or a late one fails. */
  open(linkId: string, token: string | null): PortalOpenResult {
    const link = this.links.get(linkId);
    if (!link || token === null || link.token !== token) return { state: 'failed', organizationId: null, reason: 'unknown' };
    if (link.used) return { state: 'failed', organizationId: link.organizationId, reason: 'used' };
    if (Date.now() >= link.expiresAt) return { state: 'failed', organizationId: link.organizationId, reason: 'expired' };
    link.used = true;
    const sessionToken = randomSecret(32);
    const expiresAt = Date.now() + this.options.sessionSeconds * 1000;
    this.sessions.set(sessionToken, { organizationId: link.organizationId, expiresAt });
    return { state: 'ok', organizationId: link.organizationId, sessionToken, expiresAt };
  }

  pageConfig(result: PortalOpenResult): PortalPageConfig {
    if (result.state === 'failed') {
      return { state: 'failed', organizationId: result.organizationId, errorCode: 'SESSION_EXPIRED' };
    }
    const org = this.store.organization(result.organizationId);
    const expiresInMs = Math.max(0, result.expiresAt - Date.now());
    // Scalekit warns about five minutes ahead; short test sessions get warned halfway.
    const lead = Math.min(5 * 60_000, Math.floor(expiresInMs / 2));
    return {
      state: 'ok',
      organizationId: org.id,
      organizationName: org.displayName,
      directory: this.directoryData(result.organizationId),
      sessionApi: `/portal/session/${result.sessionToken}/directory`,
      expiry: new Date(result.expiresAt).toISOString(),
      expiresInMs,
      warningInMs: expiresInMs - lead,
    };
  }

  private directoryData(organizationId: string): { id: string; provider: string; directory_type: string; enabled: boolean } {
    const store = this.store;
    const d = store.primary(store.organization(organizationId));
    return { id: d.id, provider: d.provider, directory_type: 'SCIM', enabled: d.enabled };
  }

  /** The page's switch: enables or disables the directory (which sends the webhook). */
  setDirectoryEnabled(
    sessionToken: string,
    enabled: boolean,
  ):
    | { status: 200; body: { directory: ReturnType<Portal['directoryData']> } }
    | { status: 401; body: { error_code: string; message: string } } {
    const session = this.sessions.get(sessionToken);
    if (!session || Date.now() >= session.expiresAt) {
      return { status: 401, body: { error_code: 'SESSION_EXPIRED', message: 'The admin portal session has expired' } };
    }
    this.store.setDirectoryEnabled(session.organizationId, enabled);
    return { status: 200, body: { directory: this.directoryData(session.organizationId) } };
  }

  reset(): void {
    this.links.clear();
    this.sessions.clear();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page script, kept separate so tests can run it against a fake DOM. */
export const PORTAL_SCRIPT = String.raw`(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('portal-config').textContent);
  var targetOrigin = '*';
  try {
    if (document.referrer) targetOrigin = new URL(document.referrer).origin;
  } catch (e) { /* keep '*' */ }
  var expired = false;

  function el(id) { return document.getElementById(id); }

  function post(eventType, object, message, data) {
    var event = { event_type: eventType, object: object, organization_id: config.organizationId, message: message, data: data };
    if (window.parent && window.parent !== window) window.parent.postMessage(event, targetOrigin);
    var log = el('event-log');
    if (log) log.textContent = log.textContent + eventType + ' ' + JSON.stringify(data) + '\n';
  }

  if (config.state !== 'ok') {
    el('status').textContent = 'This portal link has expired or was already used. Ask for a new one.';
    el('enable').disabled = true;
    el('disable').disabled = true;
    post('PORTAL_LOAD_FAILURE', 'session', 'The admin portal link is invalid or has expired', { error_code: config.errorCode });
    return;
  }

  function render() {
    var d = config.directory;
    el('directory-id').textContent = d.id;
    el('provider').textContent = d.provider;
    el('status').textContent = expired ? 'Session expired' : (d.enabled ? 'Enabled' : 'Disabled');
    el('enable').disabled = expired || d.enabled;
    el('disable').disabled = expired || !d.enabled;
  }

  function expire() {
    if (expired) return;
    expired = true;
    render();
    post('PORTAL_SESSION_EXPIRY', 'session', 'The admin portal session has expired', { expiry: config.expiry });
  }

  function toggle(enabled) {
    if (expired) return;
    el('error').textContent = '';
    fetch(config.sessionApi, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: enabled })
    }).then(function (res) {
      return res.json().then(function (body) { return { ok: res.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) {
        if (res.body && res.body.error_code === 'SESSION_EXPIRED') expire();
        el('error').textContent = (res.body && res.body.message) || 'Request failed';
        return;
      }
      var d = res.body.directory;
      config.directory = d;
      render();
      post(d.enabled ? 'ORGANIZATION_DIRECTORY_ENABLED' : 'ORGANIZATION_DIRECTORY_DISABLED', 'directory',
        d.enabled ? 'Directory sync enabled' : 'Directory sync disabled',
        { directory_type: d.directory_type, id: d.id, provider: d.provider, enabled: d.enabled });
    }, function (err) {
      el('error').textContent = 'Network error: ' + (err && err.message);
    });
  }

  el('enable').addEventListener('click', function () { toggle(true); });
  el('disable').addEventListener('click', function () { toggle(false); });
  render();
  post('PORTAL_LOAD_SUCCESS', 'session', 'Admin portal loaded', { expiry: config.expiry });
  setTimeout(function () {
    if (!expired) post('PORTAL_SESSION_WARNING', 'session', 'The admin portal session expires soon', { expiry: config.expiry });
  }, config.warningInMs);
  setTimeout(expire, config.expiresInMs);
})();`;

export function renderPortalPage(config: PortalPageConfig): string {
  // `<` escaped so organization names cannot close the script element.
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  const title = config.state === 'ok' ? escapeHtml(config.organizationName) : 'Admin portal';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title} · Admin portal (Scalekit emulator)</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 24px; color: #1f2328; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #59636e; }
  dl { display: grid; grid-template-columns: max-content auto; gap: 4px 16px; }
  dt { font-weight: 600; }
  button { font: inherit; padding: 6px 14px; margin-right: 8px; cursor: pointer; }
  #error { color: #b42318; }
  pre { background: #f6f8fa; padding: 8px; font-size: 12px; min-height: 3em; }
</style>
</head>
<body>
<h1>${title}</h1>
<p class="muted">Directory sync · local Scalekit emulator</p>
<dl>
  <dt>Directory</dt><dd id="directory-id">–</dd>
  <dt>Provider</dt><dd id="provider">–</dd>
  <dt>Status</dt><dd id="status">–</dd>
</dl>
<p><button id="enable" type="button">Enable directory</button><button id="disable" type="button">Disable directory</button></p>
<p id="error" role="alert"></p>
<p class="muted">Events posted to the host page:</p>
<pre id="event-log"></pre>
<script type="application/json" id="portal-config">${json}</script>
<script>${PORTAL_SCRIPT}</script>
</body>
</html>
`;
}
