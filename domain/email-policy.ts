import { allowedDomainsShapeProblem, MAX_ALLOWED_DOMAINS } from './email-policy-shape';

/**
 * An organization's allowed e-mail domains: who reaches the application. A user active in the
 * directory whose e-mail is outside them stays in the mirror but is held: the application is not
 * told about them (or, if it was, is told to deactivate them), until the policy or the user's
 * e-mail changes. No domains means no policy: everyone is allowed.
 *
 * - `example.com` allows addresses at example.com exactly.
 * - `*.example.com` allows every subdomain of example.com (not example.com itself: list both).
 * Domains compare case-insensitively, internationalized ones in their ASCII (punycode) form.
 *
 * Not for workflow code (it uses the WHATWG URL parser for internationalized domains); the
 * workflow checks a request's shape with `allowedDomainsShapeProblem` (domain/email-policy-shape.ts).
 */

export { MAX_ALLOWED_DOMAINS };

/** One DNS label: letters, digits, hyphens inside, 1-63 characters. */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** The host's ASCII (punycode) form, lowercased, as the WHATWG URL parser gives it; null when it is not a host name. */
function toAscii(host: string): string | null {
  if (/[\s/\\?#@:%[\]]/.test(host)) return null;
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
}

/** A domain name in its canonical form (lowercase ASCII, no trailing dot), or null when it is not one. */
function canonicalDomain(raw: string): string | null {
  const trimmed = raw.trim().replace(/\.$/, '');
  if (trimmed.length === 0 || trimmed.length > 253) return null;
  const ascii = toAscii(trimmed);
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  return ascii;
}

/** The policy's domains in canonical form (sorted, no repeats), or a problem naming the entry refused. */
export function normalizeAllowedDomains(input: unknown): { domains: string[] } | { problem: string } {
  const shape = allowedDomainsShapeProblem(input);
  if (shape) return { problem: shape };
  const out = new Set<string>();
  for (const entry of input as string[]) {
    const wildcard = entry.trim().startsWith('*.');
    const domain = canonicalDomain(wildcard ? entry.trim().slice(2) : entry.replace(/^\s*@/, ''));
    if (!domain) {
      return {
        problem: `"${entry.slice(0, 80)}" is not an e-mail domain: expected a domain such as example.com, or *.example.com for its subdomains`,
      };
    }
    out.add(wildcard ? `*.${domain}` : domain);
  }
  return { domains: [...out].sort() };
}

/** The domain of an e-mail address in canonical form, or null when the address has none. */
export function emailDomain(email: string | null): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return null;
  return canonicalDomain(email.slice(at + 1));
}

/** Whether `domain` (canonical) is allowed by `domains` (canonical, as normalizeAllowedDomains gives them). */
export function domainAllowed(domain: string, domains: readonly string[]): boolean {
  for (const d of domains) {
    if (d.startsWith('*.')) {
      if (domain.endsWith(d.slice(1))) return true;
    } else if (domain === d) return true;
  }
  return false;
}

/**
 * Why a user is held by the policy, or null when they reach the application: only users active in
 * the directory are held (an inactive one is not the application's business either way).
 */
export function heldReason(user: { active: boolean; email: string | null }, domains: readonly string[]): string | null {
  if (!user.active || domains.length === 0) return null;
  const domain = emailDomain(user.email);
  if (domain === null) {
    return user.email
      ? 'the e-mail address has no valid domain, and the organization allows only some domains'
      : 'the user has no e-mail address, and the organization allows only some domains';
  }
  return domainAllowed(domain, domains) ? null : `e-mail domain ${domain} is not among the organization's allowed domains`;
}

/** A policy in words, for results, logs and change records. */
export function describeAllowedDomains(domains: readonly string[]): string {
  return domains.length === 0 ? 'every e-mail domain allowed' : `allowed e-mail domains: ${domains.join(', ')}`;
}

/** A policy change as the organization workflow takes it. */
export interface EmailPolicyRequest {
  /** The new allowed domains (any form normalizeAllowedDomains accepts); none: everyone allowed. */
  allowedDomains: string[];
  /** Compute who would be held or released and change nothing. */
  dryRun: boolean;
}

/** A user the policy holds or releases. */
export interface PolicyUser {
  id: string;
  email: string | null;
  name: string | null;
  /** Why they are (or would be) held; null for a release. */
  reason: string | null;
}

/** What a policy change did, or would do (dry run). */
export interface EmailPolicyResult {
  dryRun: boolean;
  before: string[];
  after: string[];
  /** The change in words. */
  summary: string;
  /** Users active in the directory who are held after the change but were not before, and how many. */
  held: number;
  /** Users held before and not after. */
  released: number;
  /** Users held after the change, all told. */
  heldAfter: number;
  /** The first users held, and released (at most 100 each). */
  heldUsers: PolicyUser[];
  releasedUsers: PolicyUser[];
}

/** Users listed in a result, at most. */
export const POLICY_SAMPLE = 100;
