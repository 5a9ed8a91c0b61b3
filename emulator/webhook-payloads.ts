import { formatNs } from './clock';
import type { DirectoryProviderName, UserProfile, WebhookEventType } from './types';

/**
 * Scalekit's directory webhook payloads, built exactly like the reference examples: snake_case,
 * a flat `data` object, nanosecond `occurred_at` (proto JSON would be camelCase, so none of this
 * goes through protobuf).
 */

export type WebhookObject = 'Directory' | 'DirectoryUser' | 'DirectoryGroup';

export interface WebhookPayload {
  spec_version: '1';
  id: string;
  type: WebhookEventType;
  object: WebhookObject;
  occurred_at: string;
  environment_id: string;
  organization_id: string;
  data: Record<string, unknown>;
  display_name: string;
}

/** What the directory store hands to the emitter; the envelope is added there. */
export interface EventDraft {
  type: WebhookEventType;
  organizationId: string;
  object: WebhookObject;
  data: Record<string, unknown>;
}

const DISPLAY_NAMES: Record<WebhookEventType, string> = {
  'organization.directory_enabled': 'Directory Enabled',
  'organization.directory_disabled': 'Directory Disabled',
  'organization.directory.user_created': 'Directory User Created',
  'organization.directory.user_updated': 'Directory User Updated',
  'organization.directory.user_deleted': 'Directory User Deleted',
  'organization.directory.group_created': 'Directory Group Created',
  'organization.directory.group_updated': 'Directory Group Updated',
  'organization.directory.group_deleted': 'Directory Group Deleted',
};

export function buildPayload(draft: EventDraft, id: string, occurredNs: bigint, environmentId: string): WebhookPayload {
  return {
    spec_version: '1',
    id,
    type: draft.type,
    object: draft.object,
    occurred_at: formatNs(occurredNs),
    environment_id: environmentId,
    organization_id: draft.organizationId,
    data: draft.data,
    display_name: DISPLAY_NAMES[draft.type],
  };
}

/** camelCase profile field → Scalekit's webhook field. */
const PROFILE_FIELDS: ReadonlyArray<[keyof UserProfile, string]> = [
  ['preferredUsername', 'preferred_username'],
  ['email', 'email'],
  ['givenName', 'given_name'],
  ['familyName', 'family_name'],
  ['nickname', 'nickname'],
  ['picture', 'picture'],
  ['profile', 'profile'],
  ['phoneNumber', 'phone_number'],
  ['locale', 'locale'],
  ['language', 'language'],
  ['zoneinfo', 'zoneinfo'],
  ['employeeId', 'employee_id'],
  ['department', 'department'],
  ['costCenter', 'cost_center'],
  ['division', 'division'],
  ['title', 'title'],
  ['userType', 'user_type'],
  ['organization', 'organization'],
  ['address', 'address'],
  ['customAttributes', 'custom_attributes'],
];

export interface UserPayloadSource {
  id: string;
  organizationId: string;
  active: boolean;
  profile: UserProfile;
  groups: { id: string; name: string }[];
  roles: string[];
}

export function displayNameOf(profile: UserProfile): string | undefined {
  if (profile.name !== undefined) return profile.name;
  const parts = [profile.givenName, profile.familyName].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/** `data` of user_created / user_updated: the full user, flat. */
export function userData(user: UserPayloadSource): Record<string, unknown> {
  const data: Record<string, unknown> = {
    id: user.id,
    organization_id: user.organizationId,
    dp_id: user.profile.dpId,
    active: user.active,
  };
  const name = displayNameOf(user.profile);
  if (name !== undefined) data.name = name;
  for (const [from, to] of PROFILE_FIELDS) {
    const value = user.profile[from];
    if (value !== undefined) data[to] = value;
  }
  data.groups = user.groups.map((g) => ({ id: g.id, name: g.name }));
  data.roles = user.roles.map((role_name) => ({ role_name }));
  data.raw_attributes = user.profile.rawAttributes ?? {};
  return data;
}

/** `data` of user_deleted: Scalekit's example carries only these four fields. */
export function deletedUserData(user: UserPayloadSource): Record<string, unknown> {
  const data: Record<string, unknown> = { id: user.id, organization_id: user.organizationId, dp_id: user.profile.dpId };
  if (user.profile.email !== undefined) data.email = user.profile.email;
  return data;
}

export interface GroupPayloadSource {
  id: string;
  organizationId: string;
  directoryId: string;
  displayName: string;
  externalId: string | null;
  dpId: string;
  rawAttributes: Record<string, unknown>;
}

export function groupData(group: GroupPayloadSource): Record<string, unknown> {
  return {
    directory_id: group.directoryId,
    display_name: group.displayName,
    external_id: group.externalId,
    dp_id: group.dpId,
    id: group.id,
    organization_id: group.organizationId,
    raw_attributes: group.rawAttributes,
  };
}

export interface DirectoryPayloadSource {
  id: string;
  organizationId: string;
  provider: DirectoryProviderName;
  enabled: boolean;
  updatedNs: bigint;
}

export function directoryData(directory: DirectoryPayloadSource): Record<string, unknown> {
  return {
    directory_type: 'SCIM',
    enabled: directory.enabled,
    id: directory.id,
    organization_id: directory.organizationId,
    provider: directory.provider,
    updated_at: formatNs(directory.updatedNs),
  };
}
