import { z } from 'zod';
import { isOrganizationId, ORGANIZATION_ID_RULE } from './ids';
import { isStorableText, storableText } from './storable';
import { toEpochNanos } from './time';

/**
 * Scalekit directory webhook events: the envelope and `data` schemas (snake_case, as delivered)
 * and their normalization into one `DirectoryEvent` that the rest of scimflow works with.
 * Pure: no I/O, safe to import from workflow code (types only there).
 */

export const USER_EVENT_TYPES = [
  'organization.directory.user_created',
  'organization.directory.user_updated',
  'organization.directory.user_deleted',
] as const;
export const GROUP_EVENT_TYPES = [
  'organization.directory.group_created',
  'organization.directory.group_updated',
  'organization.directory.group_deleted',
] as const;
export const DIRECTORY_EVENT_TYPES = ['organization.directory_enabled', 'organization.directory_disabled'] as const;

export const KNOWN_EVENT_TYPES = [...USER_EVENT_TYPES, ...GROUP_EVENT_TYPES, ...DIRECTORY_EVENT_TYPES] as const;

export type UserEventType = (typeof USER_EVENT_TYPES)[number];
export type GroupEventType = (typeof GROUP_EVENT_TYPES)[number];
export type DirectoryStateEventType = (typeof DIRECTORY_EVENT_TYPES)[number];
export type DirectoryEventType = (typeof KNOWN_EVENT_TYPES)[number];

export function isKnownEventType(type: string): type is DirectoryEventType {
  return (KNOWN_EVENT_TYPES as readonly string[]).includes(type);
}

// ---------------------------------------------------------------------------------------------
// Wire schemas (what Scalekit sends)

const nonEmpty = z.string().min(1);
const optionalText = z.string().nullish();

const timestamp = z.string().refine((s) => toEpochNanos(s) !== undefined, {
  message: 'expected an RFC 3339 timestamp such as 2025-01-15T08:55:22.802860294Z, between the years 1678 and 2262',
});

export const envelopeSchema = z.object({
  spec_version: z.string().optional(),
  id: nonEmpty.max(128),
  type: nonEmpty,
  occurred_at: timestamp,
  environment_id: z.string().optional(),
  organization_id: z.string().optional(),
  object: z.string().optional(),
  display_name: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});

const userDataSchema = z
  .object({
    id: z.string().regex(/^diruser_\w+$/, { message: 'expected a directory user id (diruser_…)' }),
    organization_id: nonEmpty.optional(),
    email: optionalText,
    preferred_username: optionalText,
    name: optionalText,
    given_name: optionalText,
    family_name: optionalText,
    active: z.boolean().nullish(),
    dp_id: optionalText,
    // Scalekit's user events carry no directory today; one that does is taken at its word.
    directory_id: optionalText,
    groups: z.array(z.object({ id: z.string().regex(/^dirgroup_\w+$/, { message: 'expected dirgroup_…' }), name: optionalText })).nullish(),
    roles: z.array(z.object({ role_name: nonEmpty })).nullish(),
  })
  .passthrough();

const groupDataSchema = z
  .object({
    id: z.string().regex(/^dirgroup_\w+$/, { message: 'expected a directory group id (dirgroup_…)' }),
    organization_id: nonEmpty.optional(),
    directory_id: optionalText,
    display_name: optionalText,
    external_id: optionalText,
    dp_id: optionalText,
  })
  .passthrough();

const directoryDataSchema = z
  .object({
    id: z.string().regex(/^dir_\w+$/, { message: 'expected a directory id (dir_…)' }),
    organization_id: nonEmpty.optional(),
    directory_type: optionalText,
    provider: optionalText,
    enabled: z.boolean().nullish(),
    updated_at: optionalText,
  })
  .passthrough();

// ---------------------------------------------------------------------------------------------
// Normalized shapes (what travels through Temporal and reaches the activities)

export interface DirectoryUserRecord {
  id: string;
  /** Absent fields are `undefined`; what that means is the planner's rule (domain/plan.ts). */
  email?: string | null;
  preferredUsername?: string | null;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  active?: boolean;
  dpId?: string | null;
  /** The directory that provisioned the user, when the event says (Scalekit's do not). */
  directoryId?: string | null;
  /** Full membership list when the event carries `groups[]`; undefined when it does not. */
  groups?: { id: string; name: string | null }[];
  roles?: string[];
  /** The remaining profile attributes (department, title, custom_attributes, …), as delivered. */
  attributes: Record<string, unknown>;
}

export interface DirectoryGroupRecord {
  id: string;
  displayName?: string | null;
  directoryId?: string | null;
  externalId?: string | null;
  attributes: Record<string, unknown>;
}

export interface DirectoryStateRecord {
  id: string;
  directoryType: string | null;
  provider: string | null;
  enabled: boolean;
}

interface EventBase {
  /** Scalekit's event id (`evt_…`): the deduplication key. */
  id: string;
  organizationId: string;
  environmentId: string | null;
  /** As delivered (RFC 3339, up to nanoseconds). */
  occurredAt: string;
  /** Epoch nanoseconds of occurredAt, as a decimal string: the freshness clock. */
  occurredAtNs: string;
  /** Standard Webhooks message id of the delivery; a second deduplication key. */
  webhookId: string | null;
  receivedAt: string;
}

export type DirectoryEvent =
  | (EventBase & { kind: 'user'; type: UserEventType; user: DirectoryUserRecord })
  | (EventBase & { kind: 'group'; type: GroupEventType; group: DirectoryGroupRecord })
  | (EventBase & { kind: 'directory'; type: DirectoryStateEventType; directory: DirectoryStateRecord });

export type ParseOutcome =
  | { status: 'event'; event: DirectoryEvent }
  | { status: 'ignored'; eventId: string; type: string; organizationId: string | null; reason: string; payload: unknown }
  | {
      status: 'quarantined';
      eventId: string | null;
      type: string | null;
      organizationId: string | null;
      reason: string;
      payload: unknown;
    };

function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${[prefix, ...i.path.map((p) => storableText(String(p), 80))].filter((p) => p !== '').join('.')}: ${i.message}`)
    .join('; ');
}

/** Reasons are stored, logged and answered: bounded, and storable whatever the body held. */
export const MAX_REASON_CHARS = 1000;
const MAX_TYPE_CHARS = 200;
const reasonText = (s: string) => storableText(s, MAX_REASON_CHARS);

/** The envelope's id, if it can key the ledger as it is (otherwise the delivery's id does). */
function usableEventId(id: unknown): string | null {
  return typeof id === 'string' && id.length > 0 && id.length <= 128 && isStorableText(id) ? id : null;
}

function pick(obj: Record<string, unknown>, omit: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!omit.includes(k)) out[k] = v;
  return out;
}

const USER_CORE_FIELDS = [
  'id',
  'organization_id',
  'email',
  'preferred_username',
  'name',
  'given_name',
  'family_name',
  'active',
  'dp_id',
  'directory_id',
  'groups',
  'roles',
] as const;
const GROUP_CORE_FIELDS = ['id', 'organization_id', 'display_name', 'directory_id', 'external_id'] as const;

function has(obj: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function normalizeUser(data: z.infer<typeof userDataSchema>, raw: Record<string, unknown>): DirectoryUserRecord {
  const user: DirectoryUserRecord = { id: data.id, attributes: pick(raw, USER_CORE_FIELDS) };
  if (has(raw, 'email')) user.email = data.email ?? null;
  if (has(raw, 'preferred_username')) user.preferredUsername = data.preferred_username ?? null;
  if (has(raw, 'name')) user.name = data.name ?? null;
  if (has(raw, 'given_name')) user.givenName = data.given_name ?? null;
  if (has(raw, 'family_name')) user.familyName = data.family_name ?? null;
  if (typeof data.active === 'boolean') user.active = data.active;
  if (has(raw, 'dp_id')) user.dpId = data.dp_id ?? null;
  if (data.directory_id) user.directoryId = data.directory_id;
  if (data.groups) user.groups = data.groups.map((g) => ({ id: g.id, name: g.name ?? null }));
  if (data.roles) user.roles = [...new Set(data.roles.map((r) => r.role_name))].sort();
  return user;
}

function normalizeGroup(data: z.infer<typeof groupDataSchema>, raw: Record<string, unknown>): DirectoryGroupRecord {
  const group: DirectoryGroupRecord = { id: data.id, attributes: pick(raw, GROUP_CORE_FIELDS) };
  if (has(raw, 'display_name')) group.displayName = data.display_name ?? null;
  if (has(raw, 'directory_id')) group.directoryId = data.directory_id ?? null;
  if (has(raw, 'external_id')) group.externalId = data.external_id ?? null;
  return group;
}

const MAX_DEPTH = 64;

/**
 * Why a parsed payload cannot be stored as it is (Postgres text and jsonb refuse NUL characters
 * and lone UTF-16 surrogates; absurd nesting is refused before anything recurses over it), or
 * null. Iterative, so no input can overflow the stack.
 */
function unstorable(root: unknown): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  const checkString = (s: string): string | null => {
    if (isStorableText(s)) return null;
    if (s.includes('\u0000')) return 'contains NUL (\\u0000) characters, which cannot be stored';
    return 'contains a lone UTF-16 surrogate (such as \\ud800), which cannot be stored';
  };
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value === 'string') {
      const bad = checkString(value);
      if (bad) return bad;
    } else if (value !== null && typeof value === 'object') {
      if (depth >= MAX_DEPTH) return `is nested deeper than ${MAX_DEPTH} levels`;
      for (const [k, v] of Object.entries(value)) {
        const bad = checkString(k);
        if (bad) return bad;
        stack.push({ value: v, depth: depth + 1 });
      }
    }
  }
  return null;
}

export interface DeliveryInfo {
  webhookId?: string | null;
  receivedAt?: Date;
}

/**
 * Parses a verified webhook body into a DirectoryEvent, or says why it is ignored (unknown type)
 * or quarantined (not JSON, schema violation). Never throws.
 */
export function parseDirectoryWebhook(body: string, delivery: DeliveryInfo = {}): ParseOutcome {
  try {
    return parse(body, delivery);
  } catch (err) {
    return {
      status: 'quarantined',
      eventId: null,
      type: null,
      organizationId: null,
      reason: reasonText(`event could not be parsed: ${(err as Error).message}`),
      payload: undefined,
    };
  }
}

function parse(body: string, delivery: DeliveryInfo): ParseOutcome {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return {
      status: 'quarantined',
      eventId: null,
      type: null,
      organizationId: null,
      // The parser's message quotes the body: whatever it holds must not stop the record.
      reason: reasonText(`body is not valid JSON: ${(err as Error).message}`),
      payload: body,
    };
  }
  const looseId = (json as { id?: unknown } | null)?.id;
  const looseType = (json as { type?: unknown } | null)?.type;
  const looseOrg = (json as { organization_id?: unknown } | null)?.organization_id;
  const env = envelopeSchema.safeParse(json);
  if (!env.success) {
    return {
      status: 'quarantined',
      eventId: usableEventId(looseId),
      type: typeof looseType === 'string' ? storableText(looseType, MAX_TYPE_CHARS) : null,
      organizationId: isOrganizationId(looseOrg) ? looseOrg : null,
      reason: reasonText(`envelope does not match the Scalekit event schema: ${describeIssues(env.error, '')}`),
      payload: json,
    };
  }
  const e = env.data;
  const bad = unstorable(json);
  if (bad) {
    return {
      status: 'quarantined',
      eventId: usableEventId(e.id),
      type: storableText(e.type, MAX_TYPE_CHARS),
      organizationId: isOrganizationId(e.organization_id) ? e.organization_id : null,
      reason: `event ${bad}`,
      // Kept as the raw body only: the parsed form is what cannot be stored.
      payload: undefined,
    };
  }
  const dataOrg = typeof e.data.organization_id === 'string' ? e.data.organization_id : undefined;
  // The envelope's organization wins: Scalekit's own user_deleted example disagrees with itself.
  const organizationId = e.organization_id ?? dataOrg ?? null;

  if (!isKnownEventType(e.type)) {
    const type = storableText(e.type, MAX_TYPE_CHARS);
    return {
      status: 'ignored',
      eventId: e.id,
      type,
      // Only an organization id that can be one (it is indexed, and shown in URLs).
      organizationId: isOrganizationId(organizationId) ? organizationId : null,
      reason: reasonText(`event type ${type} is not a directory event scimflow handles`),
      payload: json,
    };
  }
  if (!isOrganizationId(organizationId)) {
    return {
      status: 'quarantined',
      eventId: e.id,
      type: e.type,
      organizationId: null,
      reason:
        organizationId === null
          ? 'event has no organization_id (neither in the envelope nor in data)'
          : `organization_id must be ${ORGANIZATION_ID_RULE}`,
      payload: json,
    };
  }

  const base: EventBase = {
    id: e.id,
    organizationId,
    environmentId: e.environment_id ?? null,
    occurredAt: e.occurred_at,
    occurredAtNs: toEpochNanos(e.occurred_at) as string,
    webhookId: delivery.webhookId ?? null,
    receivedAt: (delivery.receivedAt ?? new Date()).toISOString(),
  };
  const quarantine = (reason: string): ParseOutcome => ({
    status: 'quarantined',
    eventId: e.id,
    type: e.type,
    organizationId,
    reason: reasonText(reason),
    payload: json,
  });

  if ((USER_EVENT_TYPES as readonly string[]).includes(e.type)) {
    const d = userDataSchema.safeParse(e.data);
    if (!d.success) return quarantine(`data does not match DirectoryUser: ${describeIssues(d.error, 'data')}`);
    return { status: 'event', event: { ...base, kind: 'user', type: e.type as UserEventType, user: normalizeUser(d.data, e.data) } };
  }
  if ((GROUP_EVENT_TYPES as readonly string[]).includes(e.type)) {
    const d = groupDataSchema.safeParse(e.data);
    if (!d.success) return quarantine(`data does not match DirectoryGroup: ${describeIssues(d.error, 'data')}`);
    return {
      status: 'event',
      event: { ...base, kind: 'group', type: e.type as GroupEventType, group: normalizeGroup(d.data, e.data) },
    };
  }
  const d = directoryDataSchema.safeParse(e.data);
  if (!d.success) return quarantine(`data does not match Directory: ${describeIssues(d.error, 'data')}`);
  return {
    status: 'event',
    event: {
      ...base,
      kind: 'directory',
      type: e.type as DirectoryStateEventType,
      directory: {
        id: d.data.id,
        directoryType: d.data.directory_type ?? null,
        provider: d.data.provider ?? null,
        // Examples disagree on `enabled` for the enabled event: the type is the truth.
        enabled: e.type === 'organization.directory_enabled',
      },
    },
  };
}

/** A normalized event as the workflow recorded it (in the ledger's payload), not a raw envelope. */
export function isNormalizedEvent(p: unknown): p is DirectoryEvent {
  const e = p as Partial<DirectoryEvent> | null;
  return (
    !!e &&
    typeof e === 'object' &&
    typeof e.id === 'string' &&
    typeof e.kind === 'string' &&
    typeof e.occurredAtNs === 'string' &&
    /^\d+$/.test(e.occurredAtNs) &&
    typeof e.organizationId === 'string'
  );
}
