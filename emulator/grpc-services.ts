import { Code, ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import type { JsonObject } from '@bufbuild/protobuf';
import { DirectoryProvider, DirectoryService, DirectoryType } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/directories/directories_pb';
import { OrganizationService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/organizations/organizations_pb';
import { RegionCode } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/commons/commons_pb';
import { nsToTimestamp, timestampToNs } from './clock';
import {
  compareIds,
  type DirectoryStore,
  type StoredDirectory,
  type StoredGroup,
  type StoredOrganization,
  type StoredUser,
} from './directory-store';
import type { TokenIssuer } from './credentials';
import { EmulatorError } from './types';
import { groupData, userData } from './webhook-payloads';

/**
 * Scalekit's DirectoryService and OrganizationService, served with connect-node on the SDK's own
 * generated descriptors, so the real SDK cannot tell the difference for the calls it makes.
 */

export interface GrpcDeps {
  store: DirectoryStore;
  tokens: TokenIssuer;
  baseUrl: () => string;
  createPortalLink: (organizationId: string) => { id: string; location: string; expireNs: bigint };
  /** 'reject' (like the descriptors' `lte: 30` validation rule) or 'cap'. */
  oversizedPageSize: 'reject' | 'cap';
  rpcCounts: Map<string, number>;
}

const MAX_DIRECTORY_PAGE = 30;
const DEFAULT_PAGE = 10;
const MAX_ORGANIZATION_PAGE = 100;

function toConnectError(err: unknown): unknown {
  if (!(err instanceof EmulatorError)) return err;
  const code = {
    not_found: Code.NotFound,
    invalid_argument: Code.InvalidArgument,
    conflict: Code.AlreadyExists,
    failed_precondition: Code.FailedPrecondition,
  }[err.code];
  return new ConnectError(err.message, code);
}

/** Runs a handler body, mapping emulator errors to gRPC statuses. */
function rpc<I, O>(fn: (req: I) => O): (req: I) => Promise<O> {
  return async (req) => {
    try {
      return fn(req);
    } catch (err) {
      throw toConnectError(err);
    }
  };
}

function ts(ns: bigint): { seconds: bigint; nanos: number } {
  return nsToTimestamp(ns);
}

// Page tokens are opaque to clients: a keyset position (after id / before id), so deleting rows
// while someone pages does not make them skip entries.
interface PagePosition {
  k: string;
  a?: string;
  b?: string;
}

function encodeToken(p: PagePosition): string {
  return Buffer.from(JSON.stringify(p)).toString('base64url');
}

function decodeToken(token: string, kind: string): PagePosition {
  try {
    const p = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as PagePosition;
    if (p && p.k === kind && (typeof p.a === 'string' || typeof p.b === 'string')) return p;
  } catch {
    // fall through
  }
  throw new EmulatorError('invalid_argument', 'invalid page_token');
}

/** First index whose id is greater than (strict) or at least (non-strict) `id`. */
function lowerBound(items: readonly { id: string }[], id: string, strict: boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const c = compareIds(items[mid]!.id, id);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function paginate<T extends { id: string }>(
  items: readonly T[],
  pageSize: number,
  pageToken: string,
  kind: string,
): { page: T[]; nextPageToken: string; prevPageToken: string; totalSize: number } {
  let start = 0;
  let end: number;
  if (pageToken) {
    const pos = decodeToken(pageToken, kind);
    if (pos.a !== undefined) {
      start = lowerBound(items, pos.a, true);
      end = Math.min(items.length, start + pageSize);
    } else {
      end = lowerBound(items, pos.b!, false);
      start = Math.max(0, end - pageSize);
    }
  } else {
    end = Math.min(items.length, pageSize);
  }
  const page = items.slice(start, end);
  const first = page[0];
  const last = page[page.length - 1];
  return {
    page,
    nextPageToken: last && end < items.length ? encodeToken({ k: kind, a: last.id }) : '',
    prevPageToken: first && start > 0 ? encodeToken({ k: kind, b: first.id }) : '',
    totalSize: items.length,
  };
}

export function createGrpcRoutes(deps: GrpcDeps): { routes: (router: ConnectRouter) => void; interceptors: Interceptor[] } {
  const { store } = deps;

  const auth: Interceptor = (next) => async (req) => {
    deps.rpcCounts.set(req.method.name, (deps.rpcCounts.get(req.method.name) ?? 0) + 1);
    const verdict = deps.tokens.check(req.header.get('authorization'));
    if (verdict === 'expired') throw new ConnectError('access token expired', Code.Unauthenticated);
    if (verdict !== 'ok') throw new ConnectError('missing or invalid access token', Code.Unauthenticated);
    return next(req);
  };

  function pageSizeOf(requested: number, max: number): number {
    if (requested === 0) return DEFAULT_PAGE;
    if (requested > max) {
      if (deps.oversizedPageSize === 'reject') {
        throw new EmulatorError('invalid_argument', `page_size must be less than or equal to ${max}`);
      }
      return max;
    }
    return requested;
  }

  function directoryMessage(dir: StoredDirectory) {
    const view = store.directoryView(dir);
    let userUpdated = 0n;
    for (const u of dir.users.values()) if (u.active && u.updatedNs > userUpdated) userUpdated = u.updatedNs;
    let groupUpdated = 0n;
    for (const g of dir.groups.values()) if (g.updatedNs > groupUpdated) groupUpdated = g.updatedNs;
    return {
      id: dir.id,
      name: dir.name,
      directoryType: DirectoryType.SCIM,
      organizationId: dir.organizationId,
      enabled: dir.enabled,
      directoryProvider: DirectoryProvider[dir.provider],
      lastSyncedAt: ts(dir.updatedNs > userUpdated ? dir.updatedNs : userUpdated),
      directoryEndpoint: `${deps.baseUrl()}/api/v1/directories/${dir.id}/scim/v2`,
      totalUsers: view.totalUsers,
      totalGroups: view.totalGroups,
      secrets: [],
      stats: {
        totalUsers: view.totalUsers,
        totalGroups: view.totalGroups,
        ...(groupUpdated > 0n ? { groupUpdatedAt: ts(groupUpdated) } : {}),
        ...(userUpdated > 0n ? { userUpdatedAt: ts(userUpdated) } : {}),
      },
      roleAssignments: {
        assignments: dir.roleAssignments.map((a) => ({ groupId: a.groupId, roleName: a.roleName, roleId: '' })),
      },
      attributeMappings: { attributes: [] },
      status: 'COMPLETED',
      email: '',
      groupsTracked: 'ALL',
    };
  }

  function groupMessage(dir: StoredDirectory, group: StoredGroup, detail: boolean) {
    return {
      id: group.id,
      displayName: group.displayName,
      totalUsers: store.activeMemberCount(dir, group.id),
      updatedAt: ts(group.updatedNs),
      ...(detail ? { groupDetail: groupData({ ...group, organizationId: dir.organizationId, directoryId: dir.id }) as JsonObject } : {}),
    };
  }

  function userMessage(dir: StoredDirectory, user: StoredUser, detail: boolean) {
    const groupIds = store.groupIdsOf(dir, user.id);
    const groups = groupIds.map((id) => dir.groups.get(id)).filter((g): g is StoredGroup => g !== undefined);
    const p = user.profile;
    return {
      id: user.id,
      email: p.email,
      preferredUsername: p.preferredUsername ?? '',
      givenName: p.givenName ?? '',
      familyName: p.familyName ?? '',
      updatedAt: ts(user.updatedNs),
      emails: [p.email],
      groups: groups.map((g) => ({ id: g.id, displayName: g.displayName, updatedAt: ts(g.updatedNs) })),
      ...(detail
        ? {
            userDetail: JSON.parse(
              JSON.stringify(
                userData({
                  id: user.id,
                  organizationId: dir.organizationId,
                  active: user.active,
                  profile: p,
                  groups: groups.map((g) => ({ id: g.id, name: g.displayName })),
                  roles: store.rolesOf(dir, user.id),
                }),
              ),
            ) as JsonObject,
          }
        : {}),
    };
  }

  function organizationMessage(org: StoredOrganization) {
    return {
      id: org.id,
      displayName: org.displayName,
      createTime: ts(org.createdNs),
      updateTime: ts(org.updatedNs),
      regionCode: RegionCode.US,
      ...(org.externalId !== null ? { externalId: org.externalId } : {}),
      metadata: {},
    };
  }

  function toggle(organizationId: string, id: string, enabled: boolean) {
    const dir = store.directory(organizationId, id);
    const changed = store.setDirectoryEnabled(dir.organizationId, enabled, { directoryId: dir.id });
    return changed ? { enabled } : { enabled, errorMessage: `The directory is already ${enabled ? 'enabled' : 'disabled'}` };
  }

  const routes = (router: ConnectRouter): void => {
    router.service(DirectoryService, {
      listDirectories: rpc((req) => {
        const org = store.organization(req.organizationId);
        return { directories: org.directories.filter((d) => d.provisioned).map(directoryMessage) };
      }),
      getDirectory: rpc((req) => {
        const dir = store.directory(req.organizationId, req.id);
        if (dir.detailsHidden) throw new EmulatorError('not_found', `directory ${req.id} not found in organization ${req.organizationId}`);
        return { directory: directoryMessage(dir) };
      }),
      listDirectoryUsers: rpc((req) => {
        const dir = store.directory(req.organizationId, req.directoryId);
        const size = pageSizeOf(req.pageSize, MAX_DIRECTORY_PAGE);
        if (req.directoryGroupId !== undefined && !req.directoryGroupId.startsWith('dirgroup_')) {
          throw new EmulatorError('invalid_argument', 'directory_group_id must start with dirgroup_');
        }
        const items = store.listUsers(dir, {
          ...(req.directoryGroupId !== undefined ? { groupId: req.directoryGroupId } : {}),
          ...(req.updatedAfter ? { updatedAfterNs: timestampToNs(req.updatedAfter) } : {}),
        });
        const { page, ...rest } = paginate(items, size, req.pageToken, 'users');
        return { users: page.map((u) => userMessage(dir, u, req.includeDetail === true)), ...rest };
      }),
      listDirectoryGroups: rpc((req) => {
        const dir = store.directory(req.organizationId, req.directoryId);
        const size = pageSizeOf(req.pageSize, MAX_DIRECTORY_PAGE);
        const items = store.listGroups(dir, req.updatedAfter ? { updatedAfterNs: timestampToNs(req.updatedAfter) } : {});
        const { page, ...rest } = paginate(items, size, req.pageToken, 'groups');
        return { groups: page.map((g) => groupMessage(dir, g, req.includeDetail === true)), ...rest };
      }),
      enableDirectory: rpc((req) => toggle(req.organizationId, req.id, true)),
      disableDirectory: rpc((req) => toggle(req.organizationId, req.id, false)),
    });

    router.service(OrganizationService, {
      listOrganization: rpc((req) => {
        const size = req.pageSize === 0 ? DEFAULT_PAGE : Math.min(req.pageSize, MAX_ORGANIZATION_PAGE);
        let orgs = [...store.organizations.values()];
        if (req.externalId !== undefined) orgs = orgs.filter((o) => o.externalId === req.externalId);
        const { page, ...rest } = paginate(orgs, size, req.pageToken, 'organizations');
        return { organizations: page.map(organizationMessage), ...rest };
      }),
      getOrganization: rpc((req) => {
        const id = req.identities;
        if (id.case === 'id') return { organization: organizationMessage(store.organization(id.value)) };
        if (id.case === 'externalId') return { organization: organizationMessage(store.organizationByExternalId(id.value)) };
        throw new EmulatorError('invalid_argument', 'id or external_id is required');
      }),
      generatePortalLink: rpc((req) => {
        if (!req.id) throw new EmulatorError('invalid_argument', 'id is required');
        const link = deps.createPortalLink(store.organization(req.id).id);
        return { link: { id: link.id, location: link.location, expireTime: ts(link.expireNs) } };
      }),
    });
  };

  return { routes, interceptors: [auth] };
}
