import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client credentials and the access tokens issued for them. Tokens are opaque random strings
 * (the SDK only reads `access_token`); each has a lifetime, and an expired one is refused so the
 * SDK's refetch-on-Unauthenticated path runs.
 */

export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface TokenStats {
  issued: number;
  refusedClients: number;
  expiredRejections: number;
  missingOrUnknownRejections: number;
}

export class TokenIssuer {
  private readonly tokens = new Map<string, number>();
  readonly stats: TokenStats = { issued: 0, refusedClients: 0, expiredRejections: 0, missingOrUnknownRejections: 0 };

  constructor(
    private readonly clientId: string,
    private readonly clientSecret: string,
    private ttlSeconds: number,
  ) {}

  setTtl(seconds: number): void {
    this.ttlSeconds = seconds;
  }

  /** Issues a token for valid client credentials, or returns undefined. */
  issue(clientId: string, clientSecret: string): { accessToken: string; expiresIn: number } | undefined {
    if (!sameText(clientId, this.clientId) || !sameText(clientSecret, this.clientSecret)) {
      this.stats.refusedClients++;
      return undefined;
    }
    const accessToken = `emu_at_${randomSecret(32)}`;
    this.tokens.set(accessToken, Date.now() + this.ttlSeconds * 1000);
    this.stats.issued++;
    // Forget long-expired tokens now and then so a busy test run does not grow the map forever.
    if (this.tokens.size > 10_000) {
      const now = Date.now();
      for (const [t, exp] of this.tokens) if (exp < now) this.tokens.delete(t);
    }
    return { accessToken, expiresIn: this.ttlSeconds };
  }

  /** Checks an Authorization header value; says why it is refused. */
  check(authorization: string | null | undefined): 'ok' | 'missing' | 'unknown' | 'expired' {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) {
      this.stats.missingOrUnknownRejections++;
      return 'missing';
    }
    const expiresAt = this.tokens.get(match[1]!);
    if (expiresAt === undefined) {
      this.stats.missingOrUnknownRejections++;
      return 'unknown';
    }
    if (expiresAt <= Date.now()) {
      this.stats.expiredRejections++;
      return 'expired';
    }
    return 'ok';
  }

  revokeAll(): void {
    this.tokens.clear();
  }
}
