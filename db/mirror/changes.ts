import type { Knex } from 'knex';
import { chunkRows } from '../batch';
import type { ChangeCause, FieldChange } from '../../domain/changes';
import { diffUnit, type DirectoryState, type GrantState, type GroupState, type UserState } from '../../domain/change-diff';
import { heldReason } from '../../domain/email-policy';
import { readAllowedDomains } from './policy';
import type { RoleSource } from '../../domain/roles';

/**
 * Change records, made by the mirror's writer (db/mirror/writer.ts) and nowhere else.
 *
 * Each writer method names the users, groups and directories it is about to change (or the whole
 * organization) with the cause of the change. The first time a subject is named in a writer's
 * transaction its state is read ("before"); when the transaction's work is done, every named
 * subject is read again ("after"), the two are compared (domain/change-diff.ts) and the records
 * are inserted, numbered from the organization's counter, in the same transaction. So a write
 * rolled back to a savepoint, a duplicate, a stale event or an update to the same values leaves
 * after equal to before, and records nothing. States are read set-based: a few statements per
 * kind, never one per row.
 */

/** Ids per `= ANY(?)` read. */
const CHUNK = 5_000;

export interface Cause {
  cause: ChangeCause;
  /** When the directory change happened (an event's occurred_at), when known. */
  occurredAt: string | null;
}

export type CauseOf = Cause | ((id: string) => Cause);

interface Saved {
  users: Map<string, Cause>;
  groups: Map<string, Cause>;
  directories: Map<string, Cause>;
  organization: Cause | null;
}

type Db = Knex | Knex.Transaction;

async function chunked<T>(ids: readonly string[] | null, read: (ids: string[] | null) => Promise<T[]>): Promise<T[]> {
  if (ids === null) return read(null);
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) out.push(...(await read(ids.slice(i, i + CHUNK))));
  return out;
}

/** Users' states (null ids: every user of the organization), by id. */
export async function readUserStates(db: Db, organizationId: string, ids: readonly string[] | null): Promise<Map<string, UserState>> {
  const out = new Map<string, UserState>();
  if (ids !== null && ids.length === 0) return out;
  await chunked(ids, async (part) => {
    const only = (col: string) => (part ? `AND ${col} = ANY(?::text[])` : '');
    const args = part ? [organizationId, part] : [organizationId];
    const users = (
      await db.raw(
        `SELECT id, dp_id, directory_id, email, preferred_username, name, given_name, family_name, active, held_reason,
                provisioned_at IS NOT NULL AS provisioned
           FROM directory_users WHERE organization_id = ? ${only('id')}`,
        args,
      )
    ).rows as Record<string, unknown>[];
    for (const u of users) {
      out.set(u.id as string, {
        id: u.id as string,
        externalId: (u.dp_id as string | null) ?? null,
        directoryId: (u.directory_id as string | null) ?? null,
        email: (u.email as string | null) ?? null,
        preferredUsername: (u.preferred_username as string | null) ?? null,
        name: (u.name as string | null) ?? null,
        givenName: (u.given_name as string | null) ?? null,
        familyName: (u.family_name as string | null) ?? null,
        active: u.active as boolean,
        held: (u.held_reason as string | null) ?? null,
        provisioned: u.provisioned as boolean,
        groups: [],
        grants: [],
      });
    }
    if (users.length === 0) return [];
    const memberships = (
      await db.raw(
        `SELECT m.user_id, g.id, g.display_name FROM group_memberships m
           JOIN directory_groups g ON g.organization_id = m.organization_id AND g.id = m.group_id AND g.deleted_at IS NULL
          WHERE m.organization_id = ? ${only('m.user_id')} ORDER BY m.user_id, g.id`,
        args,
      )
    ).rows as { user_id: string; id: string; display_name: string | null }[];
    for (const m of memberships) out.get(m.user_id)?.groups.push({ id: m.id, name: m.display_name });
    const grants = (
      await db.raw(
        `SELECT r.user_id, r.role, r.source, r.group_id, r.precedence, g.display_name FROM user_roles r
           LEFT JOIN directory_groups g ON g.organization_id = r.organization_id AND g.id = r.group_id
          WHERE r.organization_id = ? ${only('r.user_id')}
          ORDER BY r.user_id, CASE r.source WHEN 'mapping' THEN 0 WHEN 'scalekit' THEN 1 ELSE 2 END, r.role`,
        args,
      )
    ).rows as {
      user_id: string;
      role: string;
      source: RoleSource;
      group_id: string | null;
      precedence: number | null;
      display_name: string | null;
    }[];
    for (const r of grants) {
      const grant: GrantState = {
        role: r.role,
        source: r.source,
        groupId: r.group_id,
        groupName: r.display_name,
        precedence: r.precedence,
      };
      out.get(r.user_id)?.grants.push(grant);
    }
    return [];
  });
  return out;
}

export async function readGroupStates(db: Db, organizationId: string, ids: readonly string[] | null): Promise<Map<string, GroupState>> {
  const out = new Map<string, GroupState>();
  if (ids !== null && ids.length === 0) return out;
  await chunked(ids, async (part) => {
    const rows = (
      await db.raw(
        `SELECT id, directory_id, display_name, external_id, deleted_at IS NOT NULL AS deleted
           FROM directory_groups WHERE organization_id = ? ${part ? 'AND id = ANY(?::text[])' : ''}`,
        part ? [organizationId, part] : [organizationId],
      )
    ).rows as { id: string; directory_id: string | null; display_name: string | null; external_id: string | null; deleted: boolean }[];
    for (const g of rows) {
      out.set(g.id, { id: g.id, directoryId: g.directory_id, name: g.display_name, externalId: g.external_id, deleted: g.deleted });
    }
    return [];
  });
  return out;
}

export async function readDirectoryStates(
  db: Db,
  organizationId: string,
  ids: readonly string[] | null,
): Promise<Map<string, DirectoryState>> {
  const out = new Map<string, DirectoryState>();
  if (ids !== null && ids.length === 0) return out;
  const rows = (
    await db.raw(
      `SELECT id, directory_type, provider, enabled IS TRUE AND removed_at IS NULL AS enabled
         FROM organization_directories WHERE organization_id = ? ${ids ? 'AND id = ANY(?::text[])' : ''}`,
      ids ? [organizationId, [...ids]] : [organizationId],
    )
  ).rows as { id: string; directory_type: string | null; provider: string | null; enabled: boolean }[];
  for (const d of rows) out.set(d.id, { id: d.id, enabled: d.enabled, type: d.directory_type, provider: d.provider });
  return out;
}

/** A kind of subject: its states before the write, and who caused each one's change. */
class Subjects<S> {
  /** State before the write (null: it did not exist), for every subject named so far. */
  readonly before = new Map<string, S | null>();
  causes = new Map<string, Cause>();

  constructor(private readonly read: (db: Db, ids: readonly string[] | null) => Promise<Map<string, S>>) {}

  async touch(db: Db, ids: Iterable<string>, cause: CauseOf | null, keepCause: boolean, covered: boolean): Promise<void> {
    const fresh: string[] = [];
    for (const id of new Set(ids)) {
      if (!this.before.has(id) && !covered) fresh.push(id);
      if (cause && !(keepCause && this.causes.has(id))) this.causes.set(id, typeof cause === 'function' ? cause(id) : cause);
    }
    if (fresh.length === 0) return;
    const states = await this.read(db, fresh);
    for (const id of fresh) this.before.set(id, states.get(id) ?? null);
  }

  /** Every subject of the organization, read once (a subject named before keeps its earlier state). */
  async touchAll(db: Db): Promise<void> {
    const states = await this.read(db, null);
    for (const [id, s] of states) if (!this.before.has(id)) this.before.set(id, s);
  }
}

/** The change records of one writer's transaction (see the module's comment). */
export class ChangeCapture {
  private readonly users: Subjects<UserState>;
  private readonly groups: Subjects<GroupState>;
  private readonly directories: Subjects<DirectoryState>;
  /** The whole organization was named (a sync run, a role change), with this cause. */
  private organization: Cause | null = null;

  constructor(readonly organizationId: string) {
    this.users = new Subjects((db, ids) => readUserStates(db, organizationId, ids));
    this.groups = new Subjects((db, ids) => readGroupStates(db, organizationId, ids));
    this.directories = new Subjects((db, ids) => readDirectoryStates(db, organizationId, ids));
  }

  /**
   * Names users about to change. With `keepCause`, a user already named keeps the cause it has
   * (roles resolved after an event batch: the event that changed the user is the cause).
   */
  async touchUsers(db: Db, ids: Iterable<string>, cause: CauseOf, keepCause = false): Promise<void> {
    await this.users.touch(db, ids, cause, keepCause, this.organization !== null);
  }

  async touchGroups(db: Db, ids: Iterable<string>, cause: CauseOf): Promise<void> {
    await this.groups.touch(db, ids, cause, false, this.organization !== null);
  }

  async touchDirectories(db: Db, ids: Iterable<string>, cause: CauseOf): Promise<void> {
    await this.directories.touch(db, ids, cause, false, this.organization !== null);
  }

  /** Names every user, group and directory of the organization (whatever the write changes, it is covered). */
  async touchOrganization(db: Db, cause: Cause): Promise<void> {
    if (this.organization === null) {
      await this.users.touchAll(db);
      await this.groups.touchAll(db);
      await this.directories.touchAll(db);
    }
    this.organization = cause;
    // The organization's cause applies to every subject from here on.
    this.users.causes.clear();
    this.groups.causes.clear();
    this.directories.causes.clear();
  }

  /** The causes as they stand, to put back when a savepoint rolls back (its changes are gone, so are its causes). */
  save(): Saved {
    return {
      users: new Map(this.users.causes),
      groups: new Map(this.groups.causes),
      directories: new Map(this.directories.causes),
      organization: this.organization,
    };
  }

  restore(saved: Saved): void {
    this.users.causes = saved.users;
    this.groups.causes = saved.groups;
    this.directories.causes = saved.directories;
    this.organization = saved.organization;
  }

  private get empty(): boolean {
    return (
      this.organization === null && this.users.before.size === 0 && this.groups.before.size === 0 && this.directories.before.size === 0
    );
  }

  /**
   * Compares every named subject with its state now and inserts the records, numbered from the
   * organization's counter (its row is locked by the writer: the numbers follow commit order).
   * Users' held state is settled and those reaching the application for the first time are
   * marked provisioned (settleUsers). Returns the records made.
   */
  async finish(trx: Knex.Transaction): Promise<number> {
    if (this.empty) return 0;
    const org = this.organizationId;
    const all = this.organization !== null;
    const userIds = all ? null : [...this.users.before.keys()];
    const users = userIds === null || userIds.length > 0 ? await readUserStates(trx, org, userIds) : new Map<string, UserState>();
    if (users.size > 0) await settleUsers(trx, org, users);
    const groups = await readGroupStates(trx, org, all ? null : [...this.groups.before.keys()]);
    const directories = await readDirectoryStates(trx, org, all ? null : [...this.directories.before.keys()]);
    const pairs = <S>(subjects: Subjects<S>, after: Map<string, S>) => {
      const ids = new Set([...subjects.before.keys(), ...after.keys()]);
      // A subject named but never written (its savepoint rolled back) is in neither state: nothing to compare.
      return [...ids]
        .map((id) => ({ before: subjects.before.get(id) ?? null, after: after.get(id) ?? null }))
        .filter((p) => p.before || p.after);
    };
    const planned = diffUnit({
      users: pairs(this.users, users),
      groups: pairs(this.groups, groups),
      directories: pairs(this.directories, directories),
    });
    if (planned.length === 0) return 0;

    const { rows } = await trx.raw(
      `UPDATE organizations SET change_sequence = change_sequence + ? WHERE id = ? RETURNING change_sequence`,
      [planned.length, org],
    );
    const last = (rows as { change_sequence: string }[])[0];
    if (!last) throw new Error(`organization ${org} has no row: its changes cannot be recorded`);
    const first = Number(last.change_sequence) - planned.length + 1;
    const causeOf = (type: string, id: string): Cause => {
      const subjects = type === 'user' ? this.users : type === 'group' ? this.groups : this.directories;
      return subjects.causes.get(id) ?? this.organization ?? { cause: { type: 'retention' }, occurredAt: null };
    };
    const records = planned.map((p, i) => {
      const { cause, occurredAt } = causeOf(p.subject.type, p.subject.id);
      return {
        organization_id: org,
        sequence: first + i,
        kind: p.kind,
        subject_type: p.subject.type,
        subject_id: p.subject.id,
        view: JSON.stringify(p.view),
        changes: JSON.stringify(cause.type === 'retention' ? withoutBefore(p.changes) : p.changes),
        cause: JSON.stringify(cause),
        occurred_at: occurredAt,
      };
    });
    for (const part of chunkRows(records)) await trx('change_records').insert(part);
    return records.length;
  }
}

/**
 * Brings the users' stored held state in line with their e-mail and the organization's allowed
 * domains, and marks those who reach the application for the first time provisioned (the
 * application is told now). `users` (after the write) get their held state as it now stands.
 */
async function settleUsers(trx: Knex.Transaction, organizationId: string, users: Map<string, UserState>): Promise<void> {
  const domains = await readAllowedDomains(trx, organizationId);
  const held: { id: string; reason: string | null }[] = [];
  const provisioned: string[] = [];
  for (const u of users.values()) {
    const reason = heldReason(u, domains);
    if (reason !== u.held) {
      held.push({ id: u.id, reason });
      u.held = reason;
    }
    if (!u.provisioned && u.active && reason === null) provisioned.push(u.id);
  }
  for (const part of chunkList(held)) {
    await trx.raw(
      `UPDATE directory_users u SET held_reason = v.reason
         FROM unnest(?::text[], ?::text[]) AS v(id, reason)
        WHERE u.organization_id = ? AND u.id = v.id`,
      [part.map((h) => h.id), part.map((h) => h.reason) as string[], organizationId],
    );
  }
  for (const part of chunkList(provisioned)) {
    await trx.raw(`UPDATE directory_users SET provisioned_at = now() WHERE organization_id = ? AND id = ANY(?::text[])`, [
      organizationId,
      part,
    ]);
  }
}

function* chunkList<T>(list: readonly T[]): Generator<T[]> {
  for (let i = 0; i < list.length; i += CHUNK) yield list.slice(i, i + CHUNK);
}

/** Retention erases personal fields: its records say which were cleared, not what they held. */
function withoutBefore(changes: Record<string, FieldChange>): Record<string, FieldChange> {
  return Object.fromEntries(Object.entries(changes).map(([k, c]) => [k, { before: null, after: c.after }]));
}
