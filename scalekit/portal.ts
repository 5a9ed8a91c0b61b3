import type { ScalekitClient } from '@scalekit-sdk/node';
import { ScalekitNotFoundException } from '@scalekit-sdk/node';

/**
 * Scalekit's admin portal: a single-use embed link, valid about a minute, generated server-side
 * on every page load and never cached or logged (whoever holds it configures the directory).
 */

export interface PortalLink {
  location: string;
  expiresAt: string | null;
}

export class PortalLinks {
  constructor(
    private readonly client: ScalekitClient,
    /** The Scalekit environment URL: the origin the portal's messages come from. */
    readonly environmentUrl: string,
  ) {}

  /** A fresh link, or null when Scalekit does not know the organization. */
  async generate(organizationId: string): Promise<PortalLink | null> {
    try {
      const link = await this.client.organization.generatePortalLink(organizationId);
      const expire = link.expireTime;
      return {
        location: link.location,
        expiresAt: expire ? new Date(Number(expire.seconds) * 1000 + Math.floor(expire.nanos / 1e6)).toISOString() : null,
      };
    } catch (err) {
      if (err instanceof ScalekitNotFoundException) return null;
      throw err;
    }
  }
}
