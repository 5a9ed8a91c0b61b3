/**
 * Public shapes of the emulator: what callers pass in (camelCase, like the SDK's types) and what
 * they get back. Webhook payloads are built separately, in Scalekit's snake_case (webhooks.ts).
 */

export const DIRECTORY_PROVIDERS = ['OKTA', 'GOOGLE', 'MICROSOFT_AD', 'AUTH0', 'ONELOGIN', 'JUMPCLOUD', 'PING_IDENTITY'] as const;
export type DirectoryProviderName = (typeof DIRECTORY_PROVIDERS)[number];

export const WEBHOOK_EVENT_TYPES = [
  'organization.directory_enabled',
  'organization.directory_disabled',
  'organization.directory.user_created',
  'organization.directory.user_updated',
  'organization.directory.user_deleted',
  'organization.directory.group_created',
  'organization.directory.group_updated',
  'organization.directory.group_deleted',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * A directory user's profile as an identity provider pushes it. Each field maps to the snake_case
 * field of Scalekit's user webhooks (`givenName` → `given_name`, `customAttributes` →
 * `custom_attributes`, …). In updates, `undefined` keeps a field and `null` clears it.
 */
export interface UserProfile {
  email?: string;
  preferredUsername?: string;
  givenName?: string;
  familyName?: string;
  /** Defaults to "givenName familyName" in webhooks when not set. */
  name?: string;
  nickname?: string;
  picture?: string;
  profile?: string;
  phoneNumber?: string;
  locale?: string;
  language?: string;
  zoneinfo?: string;
  employeeId?: string;
  department?: string;
  costCenter?: string;
  division?: string;
  title?: string;
  userType?: string;
  organization?: string;
  address?: Record<string, unknown>;
  customAttributes?: Record<string, unknown>;
  rawAttributes?: Record<string, unknown>;
  /** The IdP's id for the user (SCIM externalId); generated when absent. */
  dpId?: string;
}

export type UserProfilePatch = { [K in keyof UserProfile]?: UserProfile[K] | null };

export interface CreateUserInput extends UserProfile {
  email: string;
  /** The directory that provisions the user; default the organization's primary (first) one. */
  directoryId?: string;
  /** Deactivated users are not listed and arrive as `user_deleted`; default true. */
  active?: boolean;
  groupIds?: string[];
}

export interface UpdateUserInput extends UserProfilePatch {
  /**
   * `false` deactivates (Scalekit sends `user_deleted` and stops listing the user); `true` on an
   * inactive user reactivates it (`user_created`, same id).
   */
  active?: boolean;
}

export interface CreateGroupInput {
  displayName: string;
  /** The group's directory; default the organization's primary (first) one. */
  directoryId?: string;
  externalId?: string | null;
  dpId?: string;
  rawAttributes?: Record<string, unknown>;
  /** Initial members; each gets a `user_updated` carrying the new groups[]. */
  memberIds?: string[];
}

export interface UpdateGroupInput {
  displayName?: string;
  externalId?: string | null;
  rawAttributes?: Record<string, unknown>;
}

export interface RoleAssignmentInput {
  groupId: string;
  roleName: string;
}

/** A further directory of an organization (a division, a new identity provider beside the old one). */
export interface AddDirectoryInput {
  provider?: DirectoryProviderName;
  name?: string;
  /** Default true: the directory is enabled (and `directory_enabled` is sent). */
  enabled?: boolean;
}

export interface CreateOrganizationInput {
  displayName: string;
  externalId?: string;
  provider?: DirectoryProviderName;
  /** Default true: the directory is enabled (and `directory_enabled` is sent). */
  directoryEnabled?: boolean;
  directoryName?: string;
  /** An organization whose IT admin has not set SCIM up yet: no directory is listed until enabled. */
  withoutDirectory?: boolean;
}

export interface OrganizationView {
  id: string;
  displayName: string;
  externalId: string | null;
  /** The primary (first) directory. */
  directoryId: string;
  /** Every directory of the organization, the primary first. */
  directoryIds: string[];
}

export interface DirectoryView {
  id: string;
  organizationId: string;
  name: string;
  provider: DirectoryProviderName;
  directoryType: 'SCIM';
  enabled: boolean;
  roleAssignments: RoleAssignmentInput[];
  totalUsers: number;
  totalGroups: number;
  updatedAt: string;
}

export interface UserView {
  id: string;
  organizationId: string;
  /** The directory that provisions the user. */
  directoryId: string;
  dpId: string;
  email: string;
  active: boolean;
  /** The profile as stored (email and dpId included). */
  profile: UserProfile;
  /** Sorted group ids. */
  groupIds: string[];
  /** Sorted, distinct role names from the group→role assignments. */
  roles: string[];
  updatedAt: string;
}

export interface GroupView {
  id: string;
  organizationId: string;
  directoryId: string;
  displayName: string;
  externalId: string | null;
  dpId: string;
  /** Sorted ids of the (active) members. */
  memberIds: string[];
  updatedAt: string;
}

/** Everything the Directory API would show for one organization, for comparisons in tests. */
export interface DirectorySnapshot {
  organization: OrganizationView;
  /** The primary (first) directory. */
  directory: DirectoryView;
  /** Every directory of the organization, the primary first. */
  directories: DirectoryView[];
  /** Users the Directory API lists (active ones) in all its directories, sorted by id. */
  users: UserView[];
  /** Deactivated users kept by the emulator (not listed by the Directory API). */
  inactiveUsers: UserView[];
  groups: GroupView[];
}

/** Mutation options. */
export interface EmitOptions {
  /** Send the webhooks this change causes; default true. */
  emit?: boolean;
}

/** Options of changes to one directory of an organization. */
export interface DirectoryOptions extends EmitOptions {
  /** Which directory; default the organization's primary (first) one. */
  directoryId?: string;
}

export class EmulatorError extends Error {
  constructor(
    readonly code: 'not_found' | 'invalid_argument' | 'conflict' | 'failed_precondition',
    message: string,
  ) {
    super(message);
    this.name = 'EmulatorError';
  }

  get httpStatus(): number {
    switch (this.code) {
      case 'not_found':
        return 404;
      case 'conflict':
      case 'failed_precondition':
        return 409;
      default:
        return 400;
    }
  }
}
