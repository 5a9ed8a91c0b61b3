/**
 * The shape of an allowed-domains list, checked where node:url is not available (the organization
 * workflow's validator): the full check, domain by domain, is normalizeAllowedDomains
 * (domain/email-policy.ts), made by the API, the CLI and the activity.
 */

/** At most this many domains per organization. */
export const MAX_ALLOWED_DOMAINS = 200;

/** Why `domains` cannot be a policy's list, or null when its shape is right. */
export function allowedDomainsShapeProblem(domains: unknown): string | null {
  if (!Array.isArray(domains)) return 'expected a list of e-mail domains, such as ["example.com", "*.example.org"]';
  if (domains.length > MAX_ALLOWED_DOMAINS) return `at most ${MAX_ALLOWED_DOMAINS} domains per organization`;
  if (domains.some((d) => typeof d !== 'string' || d.length === 0 || d.length > 255))
    return 'expected each domain as a string of 1-255 characters';
  return null;
}
