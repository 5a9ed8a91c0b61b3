import { ScalekitClient, ScalekitNotFoundException } from '@scalekit-sdk/node';
import type { ScalekitCredentials } from '../config/index';

/**
 * Scalekit's admin portal: a single-use embed link, valid about a minute, generated server-side
 * on every page load and never cached or logged (whoever holds it configures the directory).
 */

export interface PortalLink {
  location: string;
  expiresAt: string | null;
}

/** How long a portal link may take before the caller is told Scalekit did not answer. */
export const PORTAL_TIMEOUT_MS = 10_000;

/** Scalekit did not give a link in time, or failed: the caller may try again shortly. */
export class PortalUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PortalUnavailableError';
  }
}

export class PortalLinks {
  /** A client of its own, whose calls give up within the portal's deadline. */
  static fromCredentials(creds: ScalekitCredentials, timeoutMs = PORTAL_TIMEOUT_MS): PortalLinks {
    const client = new ScalekitClient(creds.environmentUrl, creds.clientId, creds.clientSecret, { timeoutMs });
    return new PortalLinks(client, creds.environmentUrl, timeoutMs);
  }

  constructor(
    private readonly client: ScalekitClient,
    /** The Scalekit environment URL: the origin the portal's messages come from. */
    readonly environmentUrl: string,
    /** Someone waits for the link: past this, PortalUnavailableError instead of the SDK's retries. */
    readonly timeoutMs = PORTAL_TIMEOUT_MS,
  ) {}

  /**
   * A fresh link, or null when Scalekit does not know the organization. Throws
   * PortalUnavailableError when Scalekit does not answer within the deadline or fails.
   */
  async generate(organizationId: string): Promise<PortalLink | null> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PortalUnavailableError(`Scalekit did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      // The request left behind at the deadline ends on the client's own timeout.
      return await Promise.race([this.request(organizationId), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async request(organizationId: string): Promise<PortalLink | null> {
    try {
      const link = await this.client.organization.generatePortalLink(organizationId);
      const expire = link.expireTime;
      return {
        location: link.location,
        expiresAt: expire ? new Date(Number(expire.seconds) * 1000 + Math.floor(expire.nanos / 1e6)).toISOString() : null,
      };
    } catch (err) {
      if (err instanceof ScalekitNotFoundException) return null;
      throw new PortalUnavailableError(`Scalekit could not make a portal link: ${(err as Error).message}`, { cause: err });
    }
  }
}
