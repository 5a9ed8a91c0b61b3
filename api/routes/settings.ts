import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { organizationName } from '../../db/repositories/organizations';
import { spendSettingsLink } from '../../db/repositories/settings-links';
import type { Logger } from '../../observability/logger';
import { PortalUnavailableError, type PortalLinks } from '../../scalekit/portal';
import { requireOperatorToken } from '../auth';
import { ApiError } from '../errors';
import { isOrganizationId } from '../../domain/ids';
import { checkedRouter, type CheckedRouter } from '../params';
import { SETTINGS_COOKIE, SETTINGS_SESSION_SECONDS, type SettingsLinks } from '../settings-link';

const pagePath = (organizationId: string) => `/settings/directory/${encodeURIComponent(organizationId)}`;
import { messagePage, settingsPage } from '../settings-page';

export interface SettingsDeps {
  db: Knex;
  /** Where people reach the API; unset: the host of the request for the link. */
  publicBaseUrl: string | undefined;
  /** Who may show the page in a frame (CSP frame-ancestors): origins or "'self'"; empty: no one. */
  frameAncestors: readonly string[];
  /** Undefined without Scalekit credentials: the portal cannot be reached. */
  portal: PortalLinks | undefined;
  /** Undefined without an operator token: no settings links can be signed. */
  links: SettingsLinks | undefined;
  operatorApiToken: string | undefined;
  logger: Logger;
}

function requirePortal(deps: SettingsDeps): PortalLinks {
  if (!deps.portal) {
    throw new ApiError(
      503,
      'portal_unavailable',
      'the admin portal needs Scalekit credentials (SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET)',
    );
  }
  return deps.portal;
}

function html(ctx: Context, deps: SettingsDeps, status: number, body: string, nonce: string, portalOrigin?: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  // A portal link is single use and grants configuration access: never cache, never leak it.
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'strict-origin');
  // Framed by another site, the page could be overlaid and its clicks stolen: only the
  // configured origins may frame it. X-Frame-Options, for older browsers, cannot name a list of
  // origins; with one, it is left out and browsers follow frame-ancestors.
  const ancestors = deps.frameAncestors.length > 0 ? deps.frameAncestors.join(' ') : `'none'`;
  const frameOptions = deps.frameAncestors.length === 0 ? 'DENY' : ancestors === `'self'` ? 'SAMEORIGIN' : undefined;
  if (frameOptions) ctx.set('X-Frame-Options', frameOptions);
  ctx.set(
    'Content-Security-Policy',
    [
      `default-src 'none'`,
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      `frame-src ${portalOrigin ?? `'none'`}`,
      `frame-ancestors ${ancestors}`,
      `base-uri 'none'`,
      `form-action 'none'`,
    ].join('; '),
  );
  ctx.body = body;
}

/**
 * The operator API's links to an organization's directory settings: a signed, expiring link to
 * the settings page below, and the raw portal link for hosts that embed the portal in their own page.
 */
export function settingsLinkRouter(deps: SettingsDeps): CheckedRouter<'orgId'> {
  // The prefix has no parameters, so the operator token is checked before them.
  const router = checkedRouter(['orgId'], { prefix: '/api' }, { knownOrganizations: deps.db });
  router.use(requireOperatorToken(deps.operatorApiToken));

  router.post('/organizations/:orgId/settings-link', (ctx) => {
    const organizationId = ctx.params.orgId;
    requirePortal(deps);
    if (!deps.links) throw new ApiError(503, 'settings_unavailable', 'set OPERATOR_API_TOKEN to sign settings links');
    const link = deps.links.create(organizationId);
    ctx.status = 201;
    const base = deps.publicBaseUrl ?? `${ctx.protocol}://${ctx.host}`;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { url: `${base}/settings/directory?${link.query}`, expiresAt: link.expiresAt, singleUse: true };
  });

  router.post('/organizations/:orgId/portal-link', async (ctx) => {
    const organizationId = ctx.params.orgId;
    let link;
    try {
      link = await requirePortal(deps).generate(organizationId);
    } catch (err) {
      if (!(err instanceof PortalUnavailableError)) throw err;
      deps.logger.error('could not generate an admin portal link', { organizationId, error: err });
      throw new ApiError(503, 'portal_unavailable', 'Scalekit did not answer; try again in a minute', { 'Retry-After': '30' });
    }
    if (!link) throw new ApiError(404, 'not_found', `Scalekit does not know organization ${organizationId}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = link;
  });

  return router;
}

/**
 * The organization's directory settings page (Scalekit's admin portal embedded), reached through a
 * signed, expiring link that settingsLinkRouter hands out.
 */
export function settingsRouter(deps: SettingsDeps): Router {
  const router = new Router();
  const again = 'Open the directory settings again from your account settings.';

  // A link: valid once. Its first use opens a session (a cookie for this organization's page only)
  // and redirects to the page's own address, so the spent link is not what the browser shows,
  // reloads or retries.
  router.get('/settings/directory', async (ctx) => {
    const nonce = randomBytes(16).toString('base64');
    if (!ctx.querystring) return html(ctx, deps, 403, messagePage('Open this page from your account settings', again, nonce), nonce);
    const verdict = deps.links ? deps.links.check(ctx.query) : { status: 'invalid' as const };
    if (verdict.status === 'expired') {
      return html(ctx, deps, 410, messagePage('This link has expired', `Settings links are valid for 15 minutes. ${again}`, nonce), nonce);
    }
    if (verdict.status === 'invalid' || !isOrganizationId(verdict.organizationId)) {
      return html(ctx, deps, 403, messagePage('This link is not valid', again, nonce), nonce);
    }
    let fresh: boolean;
    try {
      fresh = await spendSettingsLink(deps.db, verdict.nonce, verdict.organizationId, verdict.expires);
    } catch (err) {
      deps.logger.error('could not record a settings link as used', { organizationId: verdict.organizationId, error: err as Error });
      return html(ctx, deps, 503, messagePage('Directory settings are unavailable', 'Reload this page in a minute.', nonce), nonce);
    }
    if (!fresh) {
      return html(ctx, deps, 410, messagePage('This link has already been used', `Settings links open once. ${again}`, nonce), nonce);
    }
    const page = pagePath(verdict.organizationId);
    // Behind a TLS-terminating proxy that does not say so, PUBLIC_BASE_URL still marks the cookie Secure.
    const secure = ctx.secure || (deps.publicBaseUrl?.startsWith('https://') ?? false);
    if (secure) ctx.cookies.secure = true;
    ctx.cookies.set(SETTINGS_COOKIE, (deps.links as SettingsLinks).session(verdict.organizationId), {
      httpOnly: true,
      sameSite: 'lax',
      path: page,
      secure,
      maxAge: SETTINGS_SESSION_SECONDS * 1000,
      overwrite: true,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.status = 303;
    ctx.redirect(page);
  });

  // The page of one organization, for the session its link opened.
  router.get('/settings/directory/:orgId', async (ctx) => {
    const nonce = randomBytes(16).toString('base64');
    const org = ctx.params.orgId ?? '';
    const session =
      deps.links && isOrganizationId(org) ? deps.links.checkSession(ctx.cookies.get(SETTINGS_COOKIE)) : { status: 'invalid' as const };
    if (session.status === 'expired') {
      return html(ctx, deps, 410, messagePage('Your session has ended', `Settings sessions last an hour. ${again}`, nonce), nonce);
    }
    // A session opens the page of its own organization only.
    if (session.status === 'invalid' || session.organizationId !== org) {
      return html(ctx, deps, 403, messagePage('Open this page from your account settings', again, nonce), nonce);
    }
    if (!deps.portal) {
      return html(
        ctx,
        deps,
        503,
        messagePage(
          'Directory settings are unavailable',
          'This service has no Scalekit credentials configured. Contact your administrator.',
          nonce,
        ),
        nonce,
      );
    }
    let link;
    let name: string | null = null;
    try {
      name = await organizationName(deps.db, org);
      link = await deps.portal.generate(org);
    } catch (err) {
      deps.logger.error('could not generate an admin portal link', { organizationId: org, error: err as Error });
      return html(
        ctx,
        deps,
        503,
        messagePage('Directory settings are unavailable', 'Scalekit did not answer. Reload this page in a minute.', nonce),
        nonce,
      );
    }
    if (!link) {
      return html(
        ctx,
        deps,
        404,
        messagePage('Unknown organization', 'This organization is not set up for directory sync yet. Contact your account manager.', nonce),
        nonce,
      );
    }
    const portalOrigin = new URL(deps.portal.environmentUrl).origin;
    return html(
      ctx,
      deps,
      200,
      settingsPage({ organizationId: org, organizationName: name, portalLocation: link.location, portalOrigin, nonce }),
      nonce,
      portalOrigin,
    );
  });

  return router;
}
