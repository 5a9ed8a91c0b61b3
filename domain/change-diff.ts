import type { ChangeKind, DirectoryView, FieldChange, GroupView, UserView } from './changes';
import { grantReason, roleNames, type RoleSource } from './roles';

/**
 * The change records one write makes: each subject it touched, as it was before the write and
 * as it is after, compared field by field. Pure: the writer reads the states (db/mirror/changes.ts),
 * this decides what the application is told.
 *
 * - A user reaches the application when they are active in the directory and not held by the
 *   organization's allowed e-mail domains (domain/email-policy.ts).
 * - A user is told about once they are provisioned: their first appearance that reaches the
 *   application is `user.provisioned` (with the whole view, nothing else for them in the same
 *   write). A user who never reached it (never active, or held) is not the application's business
 *   yet. One held after they were told is deactivated in it, and reactivated when released.
 * - Deactivation and reactivation carry everything else that changed with them (profile, groups,
 *   roles). Otherwise profile and membership changes are `user.updated` and effective role
 *   changes `user.roles_changed`, in that order.
 * - Group memberships compare by group id: a group renamed is `group.updated`, not an update of
 *   each member. Where a directory learns which directory a user or group came from is
 *   bookkeeping: the view shows it, it is never a change by itself.
 */

/** A grant as the writer reads it, with its group's name for the reason. */
export interface GrantState {
  role: string;
  source: RoleSource;
  groupId: string | null;
  groupName: string | null;
  precedence: number | null;
}

/**
 * A user as stored: the view's fields but the resolved roles (`active` is the directory's: the
 * view's is whether the user reaches the application), whether the application was told about
 * them, and their grants.
 */
export interface UserState extends Omit<UserView, 'roles'> {
  /** The user was provisioned (the application was told about them) at some point. */
  provisioned: boolean;
  /** Live groups, sorted by id. */
  groups: { id: string; name: string | null }[];
  grants: GrantState[];
}

export type GroupState = GroupView;
export type DirectoryState = DirectoryView;

export interface PlannedRecord {
  kind: ChangeKind;
  subject: { type: 'user' | 'group' | 'directory'; id: string };
  view: UserView | GroupView | DirectoryView;
  changes: Record<string, FieldChange>;
}

export interface UnitStates {
  users: { before: UserState | null; after: UserState | null }[];
  groups: { before: GroupState | null; after: GroupState | null }[];
  directories: { before: DirectoryState | null; after: DirectoryState | null }[];
}

/** Profile fields a `user.updated` reports (directoryId is bookkeeping). */
const USER_FIELDS = ['externalId', 'email', 'preferredUsername', 'name', 'givenName', 'familyName'] as const;
const GROUP_FIELDS = ['name', 'externalId'] as const;

/** Whether the user reaches the application: active in the directory and not held by the organization's policy. */
export const reachesApplication = (s: UserState | null): boolean => s !== null && s.active && s.held === null;

export function userView(s: UserState): UserView {
  const reaches = reachesApplication(s);
  return {
    id: s.id,
    externalId: s.externalId,
    directoryId: s.directoryId,
    email: s.email,
    preferredUsername: s.preferredUsername,
    name: s.name,
    givenName: s.givenName,
    familyName: s.familyName,
    active: reaches,
    held: s.held,
    groups: s.groups.map((g) => ({ id: g.id, name: g.name })),
    roles: reaches ? roleNames(s.grants) : [],
  };
}

/** Role → why the user holds it (several grants of one role: their reasons joined). */
export function roleReasons(s: UserState | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!reachesApplication(s)) return out;
  for (const g of s!.grants) {
    const reason = grantReason(g, g.groupName);
    out[g.role] = out[g.role] ? `${out[g.role]}; ${reason}` : reason;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const groupIds = (s: UserState | null) => (s ? s.groups.map((g) => g.id).sort() : []);

function profileChanges(before: UserState | null, after: UserState): Record<string, FieldChange> {
  const changes: Record<string, FieldChange> = {};
  for (const f of USER_FIELDS) {
    const b = before ? before[f] : null;
    if (b !== after[f]) changes[f] = { before: b, after: after[f] };
  }
  if (!sameList(groupIds(before), groupIds(after))) {
    changes.groups = { before: before ? userView(before).groups : [], after: userView(after).groups };
  }
  return changes;
}

function roleChanges(before: UserState | null, after: UserState): Record<string, FieldChange> {
  const b = before ? userView(before).roles : [];
  const a = userView(after).roles;
  if (sameList(b, a)) return {};
  return { roles: { before: b, after: a }, reasons: { before: roleReasons(before), after: roleReasons(after) } };
}

/** What a user's change means to the application: none, one or two records. */
export function diffUser(before: UserState | null, after: UserState | null): PlannedRecord[] {
  if (!after) return [];
  const subject = { type: 'user' as const, id: after.id };
  const view = userView(after);
  const wasProvisioned = before?.provisioned === true;
  const reaches = reachesApplication(after);
  if (!wasProvisioned) {
    return reaches ? [{ kind: 'user.provisioned', subject, view, changes: {} }] : [];
  }
  const profile = profileChanges(before, after);
  const roles = roleChanges(before, after);
  const reached = reachesApplication(before);
  if (reached !== reaches) {
    const kind = reaches ? 'user.reactivated' : 'user.deactivated';
    const held: Record<string, FieldChange> = before!.held !== after.held ? { held: { before: before!.held, after: after.held } } : {};
    return [{ kind, subject, view, changes: { active: { before: reached, after: reaches }, ...held, ...profile, ...roles } }];
  }
  const out: PlannedRecord[] = [];
  if (Object.keys(profile).length > 0) out.push({ kind: 'user.updated', subject, view, changes: profile });
  if (Object.keys(roles).length > 0) out.push({ kind: 'user.roles_changed', subject, view, changes: roles });
  return out;
}

/** A group appearing (or restored), renamed, or deleted. */
export function diffGroup(before: GroupState | null, after: GroupState | null): PlannedRecord[] {
  if (!after) return [];
  const subject = { type: 'group' as const, id: after.id };
  const live = (g: GroupState | null) => g !== null && !g.deleted;
  if (!live(before) && live(after)) return [{ kind: 'group.created', subject, view: after, changes: {} }];
  if (live(before) && !live(after))
    return [{ kind: 'group.deleted', subject, view: after, changes: { deleted: { before: false, after: true } } }];
  if (!live(after)) return [];
  const changes: Record<string, FieldChange> = {};
  for (const f of GROUP_FIELDS) if (before![f] !== after[f]) changes[f] = { before: before![f], after: after[f] };
  return Object.keys(changes).length > 0 ? [{ kind: 'group.updated', subject, view: after, changes }] : [];
}

/** A directory turned on or off (one that is removed counts as off). */
export function diffDirectory(before: DirectoryState | null, after: DirectoryState | null): PlannedRecord[] {
  if (!after) return [];
  const was = before?.enabled === true;
  if (was === after.enabled) return [];
  return [
    {
      kind: after.enabled ? 'directory.enabled' : 'directory.disabled',
      subject: { type: 'directory', id: after.id },
      view: after,
      changes: { enabled: { before: was, after: after.enabled } },
    },
  ];
}

const byId = <T extends { before: { id: string } | null; after: { id: string } | null }>(list: readonly T[]): T[] =>
  list
    .filter((p) => p.before !== null || p.after !== null)
    .sort((x, y) => {
      const a = (x.after ?? x.before)!.id;
      const b = (y.after ?? y.before)!.id;
      return a < b ? -1 : a > b ? 1 : 0;
    });

/**
 * Every record of one write, in a fixed order: directories enabled, groups created or updated,
 * users (by id), groups deleted, directories disabled. What the application needs first comes
 * first: a group exists before its members are told about it, and is deleted after.
 */
export function diffUnit(states: UnitStates): PlannedRecord[] {
  const dirs = byId(states.directories).flatMap((d) => diffDirectory(d.before, d.after));
  const groups = byId(states.groups).flatMap((g) => diffGroup(g.before, g.after));
  const users = byId(states.users).flatMap((u) => diffUser(u.before, u.after));
  return [
    ...dirs.filter((r) => r.kind === 'directory.enabled'),
    ...groups.filter((r) => r.kind !== 'group.deleted'),
    ...users,
    ...groups.filter((r) => r.kind === 'group.deleted'),
    ...dirs.filter((r) => r.kind === 'directory.disabled'),
  ];
}
