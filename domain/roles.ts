/**
 * Role resolution: which of the application's roles a directory user holds, and why.
 *
 * - Scalekit's own roles (`roles[]` on the user, from group → role assignments made in Scalekit)
 *   are kept, each as a grant from `scalekit`.
 * - The organization's role mappings (directory group → role, with a precedence) grant ONE role:
 *   the mapping with the lowest precedence among the user's live groups; a tie goes to the role
 *   name, then the group id, in alphabetical order, so the answer never depends on row order.
 * - The organization's default role is granted only when nothing else grants a role.
 * - A deactivated user holds no role.
 */

export type RoleSource = 'scalekit' | 'mapping' | 'default';

export interface RoleMapping {
  groupId: string;
  role: string;
  precedence: number;
}

export interface RoleGrant {
  role: string;
  source: RoleSource;
  /** The group whose mapping granted the role (source `mapping`). */
  groupId: string | null;
  precedence: number | null;
}

export interface RoleSubject {
  active: boolean;
  scalekitRoles: readonly string[];
  /** Ids of the live (not deleted) groups the user is a member of. */
  groupIds: readonly string[];
}

export const DEFAULT_PRECEDENCE = 100;
export const MAX_PRECEDENCE = 1_000_000;
const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** Why a role name is not acceptable, or null when it is. */
export function roleNameProblem(role: unknown): string | null {
  if (typeof role !== 'string' || role.length === 0) return 'a role name is required';
  if (!ROLE_NAME.test(role)) {
    return `"${role.slice(0, 80)}" is not a role name: use 1 to 64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit`;
  }
  return null;
}

/** Why a precedence is not acceptable, or null when it is. */
export function precedenceProblem(precedence: unknown): string | null {
  if (typeof precedence !== 'number' || !Number.isInteger(precedence) || precedence < 0 || precedence > MAX_PRECEDENCE) {
    return `precedence must be a whole number from 0 to ${MAX_PRECEDENCE} (lower wins)`;
  }
  return null;
}

function compareMappings(a: RoleMapping, b: RoleMapping): number {
  return (
    a.precedence - b.precedence ||
    (a.role < b.role ? -1 : a.role > b.role ? 1 : 0) ||
    (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0)
  );
}

const SOURCE_ORDER: Record<RoleSource, number> = { mapping: 0, scalekit: 1, default: 2 };

export function compareGrants(a: RoleGrant, b: RoleGrant): number {
  return SOURCE_ORDER[a.source] - SOURCE_ORDER[b.source] || (a.role < b.role ? -1 : a.role > b.role ? 1 : 0);
}

/** The roles `user` holds under `mappings` (by group id) and the organization's default role. */
export function resolveRoles(user: RoleSubject, mappings: ReadonlyMap<string, RoleMapping>, defaultRole: string | null): RoleGrant[] {
  if (!user.active) return [];
  const grants: RoleGrant[] = [];
  let best: RoleMapping | undefined;
  for (const groupId of user.groupIds) {
    const m = mappings.get(groupId);
    if (m && (!best || compareMappings(m, best) < 0)) best = m;
  }
  if (best) grants.push({ role: best.role, source: 'mapping', groupId: best.groupId, precedence: best.precedence });
  for (const role of new Set(user.scalekitRoles)) {
    if (role) grants.push({ role, source: 'scalekit', groupId: null, precedence: null });
  }
  if (grants.length === 0 && defaultRole) grants.push({ role: defaultRole, source: 'default', groupId: null, precedence: null });
  return grants.sort(compareGrants);
}

export interface GrantDiff {
  /** Grants to write (new, or held for another reason: another group or precedence). */
  upsert: RoleGrant[];
  /** Grants the user no longer holds. */
  revoke: RoleGrant[];
}

const grantKey = (g: RoleGrant) => `${g.source}\u0000${g.role}`;

/** What changes between the grants a user holds and the grants resolved for them. */
export function diffGrants(current: readonly RoleGrant[], desired: readonly RoleGrant[]): GrantDiff {
  const before = new Map(current.map((g) => [grantKey(g), g]));
  const after = new Map(desired.map((g) => [grantKey(g), g]));
  const upsert: RoleGrant[] = [];
  const revoke: RoleGrant[] = [];
  for (const [key, g] of after) {
    const old = before.get(key);
    if (!old || old.groupId !== g.groupId || old.precedence !== g.precedence) upsert.push(g);
  }
  for (const [key, g] of before) if (!after.has(key)) revoke.push(g);
  return { upsert, revoke };
}

/** The role names in a list of grants, each once, sorted. */
export function roleNames(grants: readonly RoleGrant[]): string[] {
  return [...new Set(grants.map((g) => g.role))].sort();
}

/** Why a user holds a role, in words, for people (the role explainer and the change stream say it alike). */
export function grantReason(grant: Pick<RoleGrant, 'role' | 'source' | 'groupId' | 'precedence'>, groupName: string | null): string {
  if (grant.source === 'mapping') {
    const label = grant.groupId ? `"${groupName ?? grant.groupId}" (${grant.groupId})` : '';
    return `member of group ${label}, which maps to ${grant.role} with precedence ${String(grant.precedence)}, the lowest among the user's mapped groups`;
  }
  if (grant.source === 'scalekit') return 'assigned in Scalekit (the roles[] Scalekit sends for the user)';
  return "the organization's default role: no mapping and no Scalekit role applies";
}

/** A role mapping change as the API and CLI accept it and the organization workflow makes it. */
export type RoleChangeInput =
  | { action: 'map'; groupId: string; role: string; precedence: number }
  | { action: 'unmap'; groupId: string }
  | { action: 'default'; role: string | null };

/** Why a change cannot be made, or null when it is well-formed. */
export function roleChangeProblem(change: RoleChangeInput): string | null {
  if (change.action === 'map' || change.action === 'unmap') {
    if (typeof change.groupId !== 'string' || change.groupId.length === 0 || change.groupId.length > 256)
      return 'a directory group id is required';
  }
  if (change.action === 'map') return roleNameProblem(change.role) ?? precedenceProblem(change.precedence);
  if (change.action === 'default') return change.role === null ? null : roleNameProblem(change.role);
  if (change.action !== 'unmap') return `unknown role change "${String((change as { action: unknown }).action)}"`;
  return null;
}

/** A change in words, for results, logs and `granted_by`. */
export function describeRoleChange(change: RoleChangeInput): string {
  if (change.action === 'map') return `${change.groupId} → ${change.role} (precedence ${change.precedence})`;
  if (change.action === 'unmap') return `${change.groupId} unmapped`;
  return change.role === null ? 'no default role' : `default role ${change.role}`;
}

/** What a role change, or a run, did to users' roles. */
export interface RoleCounts {
  /** Users whose set of roles changed. */
  usersChanged: number;
  /** Roles users gained, and lost. */
  granted: number;
  revoked: number;
}

/** A role change as the organization workflow takes it. */
export interface RoleChangeRequest {
  change: RoleChangeInput;
  /** Compute what would change and change nothing. */
  dryRun: boolean;
}

/** What a role change did, or would do (dry run). */
export interface RoleChangeResult extends RoleCounts {
  dryRun: boolean;
  /** Users whose roles stay the same but are held for another reason after the change. */
  reasonsChanged: number;
  /** The change in words, e.g. `grp_1 → admin (precedence 10)`. */
  summary: string;
  /** The first users whose roles change, with their role names before and after. */
  changes: { userId: string; email: string | null; before: string[]; after: string[] }[];
  /** When no one's roles change: why (no members, Scalekit's roles, other groups…); else null. */
  unchangedBecause?: string | null;
}

/**
 * Who a role change could reach, as the tables hold them after it: for a group's mapping, the
 * group's members; for the default role, every user. The active ones fall in one bucket each.
 */
export interface RoleChangeAudience {
  /** Active users it reaches. */
  active: number;
  /** Deactivated users it reaches (they hold no role). */
  inactive: number;
  /** Active users Scalekit assigns the role to (for the default role: any role). */
  scalekit: number;
  /** Active users, not counted above, whose mapped role comes from another of their groups. */
  otherGroup: number;
}

const users = (count: number) => `${count} ${count === 1 ? 'user' : 'users'}`;
/** `1 user holds`, `2 users hold`. */
const usersVerb = (count: number, one: string, many: string) => `${users(count)} ${count === 1 ? one : many}`;

/**
 * Why a role change changed no one's roles, in a sentence an operator can act on (called only
 * when it changed none). `role` is the mapping's role: the new one for a map, the removed one for
 * an unmap.
 */
export function explainUnchangedRoles(change: RoleChangeInput, role: string | null, a: RoleChangeAudience): string {
  const inactive = a.inactive > 0 ? `; ${users(a.inactive)} deactivated, holding no role` : '';
  if (change.action === 'default') {
    if (a.active === 0) return `the organization has no active users${inactive}`;
    return change.role === null
      ? `no active user held the default role: all ${users(a.active)} hold a role from a mapping or from Scalekit`
      : `the default role goes only to active users with no other role, and all ${users(a.active)} hold one from a mapping or from Scalekit`;
  }
  const group = `group ${change.groupId}`;
  if (a.active === 0) return `${group} has no active members${inactive}`;
  const rest = Math.max(0, a.active - a.scalekit - a.otherGroup);
  const parts: string[] = [];
  const name = role ?? 'its role';
  if (a.scalekit > 0) parts.push(`${usersVerb(a.scalekit, 'holds', 'hold')} ${name} already: Scalekit assigns it to them`);
  if (a.otherGroup > 0)
    parts.push(`${usersVerb(a.otherGroup, 'keeps', 'keep')} the role of another of their groups, whose mapping has a lower precedence`);
  if (rest > 0)
    parts.push(
      change.action === 'map'
        ? `${users(rest)} held ${name} already, through a mapping (this one as it was, or another group's) or the organization's default`
        : `${usersVerb(rest, 'gets', 'get')} the same role from the organization's default`,
    );
  return `of the ${users(a.active)} in ${group}: ${parts.join('; ')}${inactive}`;
}
