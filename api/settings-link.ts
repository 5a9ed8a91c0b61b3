import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring, single-use links to an organization's directory settings page. The host
 * application's backend asks for one (operator API) and sends its customer's IT admin there. The
 * first visit spends the link (its nonce is recorded) and opens a session cookie for that
 * organization's page, for an hour, so reloads work and the URL cannot be used again (from
 * browser history, a proxy log or a forwarded message). The signing key is derived from the
 * operator token, so nothing new has to be configured, and rotating the token revokes every link
 * and session.
 */

export const SETTINGS_LINK_TTL_SECONDS = 15 * 60;
/** A session lasts this long from the link's first use, whatever was left of the link's 15 minutes. */
export const SETTINGS_SESSION_SECONDS = 60 * 60;
export const SETTINGS_COOKIE = 'scimflow_settings';
/** How far another API instance's clock may run ahead of this one's when it signs a link. */
const CLOCK_SKEW_SECONDS = 60;

export type LinkVerdict =
  { status: 'ok'; organizationId: string; nonce: string; expires: number } | { status: 'invalid' } | { status: 'expired' };
export type SessionVerdict = { status: 'ok'; organizationId: string; expires: number } | { status: 'invalid' } | { status: 'expired' };

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SettingsLinks {
  private readonly key: Buffer;

  constructor(operatorToken: string) {
    this.key = createHmac('sha256', operatorToken).update('scimflow settings link v2').digest();
  }

  private sign(...parts: string[]): string {
    return createHmac('sha256', this.key).update(parts.join('.')).digest('base64url');
  }

  create(organizationId: string, nowSeconds = Math.floor(Date.now() / 1000)): { query: string; expiresAt: string } {
    const expires = nowSeconds + SETTINGS_LINK_TTL_SECONDS;
    const nonce = randomBytes(16).toString('base64url');
    const query = new URLSearchParams({
      org: organizationId,
      expires: String(expires),
      n: nonce,
      sig: this.sign('link', organizationId, String(expires), nonce),
    });
    return { query: query.toString(), expiresAt: new Date(expires * 1000).toISOString() };
  }

  /** Whether a link's query opens the page (before its nonce is spent). */
  check(query: { org?: unknown; expires?: unknown; n?: unknown; sig?: unknown }, nowSeconds = Math.floor(Date.now() / 1000)): LinkVerdict {
    const { org, expires, n, sig } = query;
    if (typeof org !== 'string' || typeof expires !== 'string' || typeof n !== 'string' || typeof sig !== 'string')
      return { status: 'invalid' };
    if (!/^\d{1,12}$/.test(expires) || !/^[A-Za-z0-9_-]{16,64}$/.test(n)) return { status: 'invalid' };
    if (!equal(sig, this.sign('link', org, expires, n))) return { status: 'invalid' };
    if (Number(expires) < nowSeconds) return { status: 'expired' };
    // Links live 15 minutes: one that claims longer was not made by create(), whoever signed it.
    if (Number(expires) - nowSeconds > SETTINGS_LINK_TTL_SECONDS + CLOCK_SKEW_SECONDS) return { status: 'invalid' };
    return { status: 'ok', organizationId: org, nonce: n, expires: Number(expires) };
  }

  /** The cookie value of a session opened by a spent link: the organization, for an hour. */
  session(organizationId: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
    const expires = nowSeconds + SETTINGS_SESSION_SECONDS;
    return `${organizationId}.${expires}.${this.sign('session', organizationId, String(expires))}`;
  }

  checkSession(cookie: string | undefined, nowSeconds = Math.floor(Date.now() / 1000)): SessionVerdict {
    const m = /^([^.]+)\.(\d{1,12})\.([A-Za-z0-9_-]+)$/.exec(cookie ?? '');
    if (!m) return { status: 'invalid' };
    const [, organizationId, expires, sig] = m as unknown as [string, string, string, string];
    if (!equal(sig, this.sign('session', organizationId, expires))) return { status: 'invalid' };
    if (Number(expires) < nowSeconds) return { status: 'expired' };
    return { status: 'ok', organizationId, expires: Number(expires) };
  }
}
