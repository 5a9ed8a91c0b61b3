import { ScalekitClient, ScalekitNotFoundException } from '@scalekit-sdk/node';
import { DirectoryProvider, DirectoryType } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/directories/directories_pb';
import type { ScalekitCredentials } from '../config/index';
import type { DirectoryInfo } from '../domain/directories';
import type { SnapshotGroup, SnapshotUser } from '../domain/reconcile';

/**
 * The Scalekit Directory API as scimflow reads it, through the real `@scalekit-sdk/node` client:
 * an organization's directories (it may have several) and their users and groups, 30 per page
 * (Scalekit's maximum).
 */

export const PAGE_SIZE = 30;

export function createScalekitClient(creds: ScalekitCredentials): ScalekitClient {
  return new ScalekitClient(creds.environmentUrl, creds.clientId, creds.clientSecret);
}

export class OrganizationNotFoundError extends Error {
  constructor(readonly organizationId: string) {
    super(`Scalekit does not know organization ${organizationId}: check the id in the Scalekit dashboard (Organizations)`);
    this.name = 'OrganizationNotFoundError';
  }
}

export class NoDirectoryError extends Error {
  constructor(readonly organizationId: string) {
    super(
      `organization ${organizationId} has no directory in Scalekit yet: its IT admin sets one up in the admin portal ` +
        `(scimflow's settings page) before an import can run`,
    );
    this.name = 'NoDirectoryError';
  }
}

/** The reason recorded for a listed directory whose details Scalekit answered "not found" for. */
export const DETAILS_NOT_FOUND = 'Scalekit lists it but answered "not found" for its details';

export interface Page<T> {
  items: T[];
  nextPageToken: string;
  totalSize: number;
}

interface Timestamp {
  seconds: bigint;
  nanos: number;
}

const MAX_NS = 2n ** 63n - 1n;

/** Epoch nanoseconds, clamped to what a bigint column holds (Go's zero time is year 1). */
function timestampNs(ts: Timestamp | undefined): string {
  if (!ts) return '0';
  const ns = ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
  return (ns < 0n ? 0n : ns > MAX_NS ? MAX_NS : ns).toString();
}

const blankToNull = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

export class ScalekitDirectory {
  constructor(private readonly client: ScalekitClient) {}

  /**
   * Every directory of the organization, in Scalekit's order (the first is its primary), with
   * each one's group → role mapping. Empty when its IT admin has set none up; throws
   * OrganizationNotFoundError for an organization Scalekit does not know.
   */
  async listDirectories(organizationId: string): Promise<DirectoryInfo[]> {
    const listedNs = (BigInt(Date.now()) * 1_000_000n).toString();
    let directories;
    try {
      ({ directories } = await this.client.directory.listDirectories(organizationId));
    } catch (err) {
      if (err instanceof ScalekitNotFoundException) throw new OrganizationNotFoundError(organizationId);
      throw err;
    }
    const out: DirectoryInfo[] = [];
    for (const listed of directories) {
      // The role mapping is read from the directory itself, not trusted from the list.
      let d = listed;
      let unreadable: string | null = null;
      try {
        d = (await this.client.directory.getDirectory(organizationId, listed.id)).directory ?? listed;
      } catch (err) {
        // Listed, yet "not found": deleted between the two calls, or not visible everywhere yet.
        // Only the listing says a directory is gone; this one is kept and not read this time.
        if (!(err instanceof ScalekitNotFoundException)) throw err;
        unreadable = DETAILS_NOT_FOUND;
      }
      out.push({
        id: d.id,
        enabled: d.enabled,
        provider: d.directoryProvider ? (DirectoryProvider[d.directoryProvider] ?? null) : null,
        directoryType: d.directoryType ? (DirectoryType[d.directoryType] ?? null) : null,
        roleAssignments: unreadable
          ? []
          : (d.roleAssignments?.assignments ?? []).map((a) => ({ groupId: a.groupId, roleName: a.roleName })),
        listedNs,
        unreadable,
      });
    }
    return out;
  }

  /** The organization's primary directory; throws OrganizationNotFoundError or NoDirectoryError. */
  async primaryDirectory(organizationId: string): Promise<DirectoryInfo> {
    const first = (await this.listDirectories(organizationId))[0];
    if (!first) throw new NoDirectoryError(organizationId);
    return first;
  }

  /** The organization's display name, or null when Scalekit does not know it. */
  async organizationName(organizationId: string): Promise<string | null> {
    try {
      const { organization } = await this.client.organization.getOrganization(organizationId);
      return organization?.displayName ?? null;
    } catch (err) {
      if (err instanceof ScalekitNotFoundException) return null;
      throw err;
    }
  }

  async usersPage(organizationId: string, directoryId: string, pageToken: string, updatedAfter?: string): Promise<Page<SnapshotUser>> {
    const res = await this.client.directory.listDirectoryUsers(organizationId, directoryId, {
      pageSize: PAGE_SIZE,
      ...(pageToken ? { pageToken } : {}),
      ...(updatedAfter ? { updatedAfter } : {}),
    });
    return {
      items: res.users.map((u) => ({
        id: u.id,
        directoryId,
        email: blankToNull(u.email),
        preferredUsername: blankToNull(u.preferredUsername),
        givenName: blankToNull(u.givenName),
        familyName: blankToNull(u.familyName),
        updatedNs: timestampNs(u.updatedAt),
        groups: [...new Set(u.groups.map((g) => g.id))].sort(),
      })),
      nextPageToken: res.nextPageToken,
      totalSize: res.totalSize,
    };
  }

  async groupsPage(organizationId: string, directoryId: string, pageToken: string, updatedAfter?: string): Promise<Page<SnapshotGroup>> {
    const res = await this.client.directory.listDirectoryGroups(organizationId, directoryId, {
      pageSize: PAGE_SIZE,
      ...(pageToken ? { pageToken } : {}),
      ...(updatedAfter ? { updatedAfter } : {}),
    });
    return {
      items: res.groups.map((g) => ({
        id: g.id,
        directoryId,
        displayName: blankToNull(g.displayName),
        updatedNs: timestampNs(g.updatedAt),
      })),
      nextPageToken: res.nextPageToken,
      totalSize: res.totalSize,
    };
  }
}
