/**
 * The identifiers scimflow takes from outside (webhooks, the API's paths, the CLI's arguments), one
 * rule each. Pure: safe to import from workflow code.
 */

/**
 * An organization id. Scalekit's are `org_` and digits; external ids vary. It becomes part of
 * workflow and schedule ids and of URLs, and is indexed: a safe alphabet, and a bounded length.
 */
const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The organization-id rule in words. */
export const ORGANIZATION_ID_RULE = '1-128 letters, digits, "_" or "-"';

export function isOrganizationId(value: unknown): value is string {
  return typeof value === 'string' && ORGANIZATION_ID.test(value);
}

/** What whoever gives something else as an organization id is told. */
export const NOT_AN_ORGANIZATION_ID = 'expected an organization id such as org_123';

/** Why a value is not an organization id, or null when it is one. */
export function organizationIdProblem(value: unknown): string | null {
  return isOrganizationId(value) ? null : NOT_AN_ORGANIZATION_ID;
}

/** A sync run id: the run row's bigint id, in digits (18 of them always fit). */
const RUN_ID = /^\d{1,18}$/;

export function isRunId(value: unknown): value is string {
  return typeof value === 'string' && RUN_ID.test(value);
}
