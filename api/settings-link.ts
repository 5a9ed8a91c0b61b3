import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring links to an organization's directory settings page. The host application's
 * backend asks for one (operator API) and sends its customer's IT admin there; the page itself then
 * needs no other credential. The signing key is derived from the operator token, so nothing new
 * has to be configured, and rotating the token revokes every link.
 */

export const SETTINGS_LINK_TTL_SECONDS = 15 * 60;

export class SettingsLinks {
  private readonly key: Buffer;

  constructor(operatorToken: string) {
    this.key = createHmac('sha256', operatorToken).update('scimflow settings link v1').digest();
  }

  private sign(organizationId: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${organizationId}.${expires}`).digest('base64url');
  }

  create(organizationId: string, nowSeconds = Math.floor(Date.now() / 1000)): { query: string; expiresAt: string } {
    const expires = nowSeconds + SETTINGS_LINK_TTL_SECONDS;
    const query = new URLSearchParams({ org: organizationId, expires: String(expires), sig: this.sign(organizationId, expires) });
    return { query: query.toString(), expiresAt: new Date(expires * 1000).toISOString() };
  }

  /** 'ok', or why the link does not open the page. */
  check(
    organizationId: string,
    expires: string,
    sig: string,
    nowSeconds = Math.floor(Date.now() / 1000),
  ): 'ok' | 'invalid' | 'expired' {
    if (!/^\d{1,12}$/.test(expires)) return 'invalid';
    const expected = Buffer.from(this.sign(organizationId, Number(expires)));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return Number(expires) < nowSeconds ? 'expired' : 'ok';
  }
}
