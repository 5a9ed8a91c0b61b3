/**
 * The directory settings page: the organization's IT admin configures SCIM in Scalekit's admin
 * portal, embedded here. The page listens to the portal's messages (origin checked), shows what
 * happened, and loads a fresh portal link when the session expires or a link fails.
 */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON for a <script type="application/json"> block: nothing in it can close the tag. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const STYLE = `
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1f2937; background: #f9fafb; }
  main { max-width: 1040px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  p.lead { margin: 0 0 16px; color: #4b5563; }
  #status { min-height: 24px; margin: 0 0 12px; padding: 8px 12px; border-radius: 6px; background: #eef2ff; }
  #status.warn { background: #fef3c7; }
  #status.ok { background: #dcfce7; }
  iframe { width: 100%; height: 720px; border: 1px solid #e5e7eb; border-radius: 8px; background: white; }
`;

/** The page's script: portal events in, status out. Kept apart so tests can run it. */
export const SETTINGS_SCRIPT = String.raw`(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('settings-config').textContent);
  var status = document.getElementById('status');
  var RELOADS_KEY = 'scimflow-portal-reloads';

  function show(text, kind) {
    status.textContent = text;
    status.className = kind || '';
  }

  function freshLink(reason) {
    // A new page load makes a new single-use portal link; stop after a few failures in a row.
    var n = Number(sessionStorage.getItem(RELOADS_KEY) || '0');
    if (n >= 3) {
      show('The directory settings could not be loaded (' + reason + '). Open them again from your account settings.', 'warn');
      return;
    }
    sessionStorage.setItem(RELOADS_KEY, String(n + 1));
    show('Reconnecting to the directory settings…', 'warn');
    window.location.reload();
  }

  window.addEventListener('message', function (event) {
    // Only the portal may talk to this page.
    if (event.origin !== config.portalOrigin) return;
    var m = event.data;
    if (!m || typeof m.event_type !== 'string') return;
    var data = m.data || {};
    switch (m.event_type) {
      case 'PORTAL_LOAD_SUCCESS':
        sessionStorage.removeItem(RELOADS_KEY);
        show('Connected. Set up or change how your identity provider provisions people.');
        break;
      case 'ORGANIZATION_DIRECTORY_ENABLED':
      case 'SCIM_CONFIGURED':
        show('Directory sync is on' + (data.provider ? ' (' + data.provider + ')' : '') + ': people and groups will be provisioned automatically.', 'ok');
        break;
      case 'ORGANIZATION_DIRECTORY_DISABLED':
        show('Directory sync is off: changes in your identity provider no longer reach this application.', 'warn');
        break;
      case 'PORTAL_SESSION_WARNING':
        show('Your session ends in about five minutes; save your changes.', 'warn');
        break;
      case 'PORTAL_SESSION_EXPIRY':
      case 'SESSION_EXPIRED':
        freshLink('session expired');
        break;
      case 'PORTAL_LOAD_FAILURE':
        freshLink((data && data.error_code) || 'load failure');
        break;
    }
  });
})();`;

export interface SettingsPageInput {
  organizationId: string;
  organizationName: string | null;
  portalLocation: string;
  portalOrigin: string;
  nonce: string;
}

export function settingsPage(p: SettingsPageInput): string {
  // Always say whose settings these are: an admin of several organizations must not mix them up.
  const title = `Directory sync for ${p.organizationName ? `${p.organizationName} (${p.organizationId})` : p.organizationId}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${p.nonce}">${STYLE}</style>
</head>
<body>
<main>
  <h1>${escapeHtml(title)}</h1>
  <p class="lead">Connect your identity provider (Okta, Microsoft Entra ID, Google Workspace, JumpCloud, …) so that people and groups are provisioned and deprovisioned automatically.</p>
  <p id="status" role="status" aria-live="polite">Loading the directory settings…</p>
  <iframe id="portal" title="Directory sync settings" src="${escapeHtml(p.portalLocation)}" allow="clipboard-write"></iframe>
</main>
<script type="application/json" id="settings-config">${scriptJson({ organizationId: p.organizationId, portalOrigin: p.portalOrigin })}</script>
<script nonce="${p.nonce}">${SETTINGS_SCRIPT}</script>
</body>
</html>
`;
}

export function messagePage(title: string, message: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style></head>
<body><main><h1>${escapeHtml(title)}</h1><p class="lead">${escapeHtml(message)}</p></main></body>
</html>
`;
}
