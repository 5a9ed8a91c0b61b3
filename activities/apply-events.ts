import type { Knex } from 'knex';
import { describeConstraintViolation } from '../db/errors';
import * as directory from '../db/repositories/directory';
import * as ledger from '../db/repositories/ledger';
import * as roles from '../db/repositories/roles';
import type { DirectoryEvent } from '../domain/events';
import { entitiesOf, planBatch, type BatchPlan } from '../domain/plan';
import { explainEmailConflict } from './email-conflicts';
import type { RoleCounts } from '../workflows/messages';

export interface ApplyResult {
  /** Role grants the batch changed (users whose roles changed, roles gained, roles lost). */
  roles: RoleCounts;
  applied: number;
  /** Earlier quarantined events applied now that their conflict cleared. */
  recovered: number;
  duplicate: number;
  stale: number;
  quarantined: number;
  /** occurred_at of the newest event in the batch that was applied. */
  lastAppliedOccurredAt: string | null;
}

async function loadAndPlan(trx: Knex.Transaction, organizationId: string, events: readonly DirectoryEvent[]): Promise<BatchPlan> {
  const { userIds, groupIds } = entitiesOf(events);
  // One connection: the statements run one after another (lock first).
  const directories = await directory.lockOrganization(trx, organizationId);
  const users = await directory.loadUsers(trx, organizationId, userIds);
  const groups = await directory.loadGroups(trx, organizationId, groupIds);
  return planBatch({ events, users, groups, directories });
}

async function writePlan(trx: Knex.Transaction, organizationId: string, plan: BatchPlan): Promise<void> {
  // Order matters for the foreign keys: groups and users before memberships.
  await directory.upsertGroups(trx, organizationId, [...plan.groups.values()]);
  await directory.upsertUsers(trx, organizationId, [...plan.users.values()]);
  await directory.clearGroupMemberships(trx, organizationId, [...plan.clearedGroups]);
  await directory.replaceMemberships(trx, organizationId, plan.memberships);
  await directory.writeDirectoryStates(trx, organizationId, [...plan.directories.values()]);
}

/** Plans and writes `events` inside a savepoint: a constraint violation rolls back only them. */
export async function applyInSavepoint(trx: Knex.Transaction, organizationId: string, events: readonly DirectoryEvent[]): Promise<BatchPlan> {
  return trx.transaction(async (sp) => {
    const plan = await loadAndPlan(sp, organizationId, events);
    await writePlan(sp, organizationId, plan);
    return plan;
  });
}

const RETRY_LIMIT = 50;

/**
 * Events quarantined earlier because they collided with another record (typically an email that
 * changes hands: the new owner's event arriving before the old owner's deletion) are tried again
 * after each batch that changed something: the conflict may have cleared. Freshness still rules.
 */
async function retryConflicts(
  trx: Knex.Transaction,
  organizationId: string,
  exclude: ReadonlySet<string>,
): Promise<{ updates: (ledger.OutcomeUpdate & { retried: true })[]; applied: DirectoryEvent[] }> {
  const candidates = await ledger.listConflictQuarantined(trx, organizationId, RETRY_LIMIT);
  const updates: (ledger.OutcomeUpdate & { retried: true })[] = [];
  const applied: DirectoryEvent[] = [];
  for (const event of candidates) {
    if (exclude.has(event.id)) continue;
    try {
      const plan = await applyInSavepoint(trx, organizationId, [event]);
      const o = plan.outcomes.get(event.id);
      updates.push({
        id: event.id,
        outcome: o?.outcome ?? 'applied',
        detail: `${o?.outcome === 'stale' ? 'stale' : 'applied'} on retry: the conflict that quarantined it has cleared`,
        retried: true,
      });
      if (o?.outcome !== 'stale') applied.push(event);
    } catch (err) {
      if (!describeConstraintViolation(err)) throw err;
    }
  }
  await ledger.setOutcomes(trx, updates);
  return { updates, applied };
}

/**
 * Roles follow the users and groups the applied events changed; each user's grant names the
 * newest event that touched the user (or the group event that changed the user's groups).
 */
export async function resolveRolesAfter(trx: Knex.Transaction, organizationId: string, applied: readonly DirectoryEvent[]): Promise<roles.RoleResolution> {
  if (applied.length === 0) return roles.emptyResolution();
  const cause = new Map<string, DirectoryEvent>();
  const note = (userId: string, e: DirectoryEvent) => {
    const seen = cause.get(userId);
    if (!seen || BigInt(e.occurredAtNs) >= BigInt(seen.occurredAtNs)) cause.set(userId, e);
  };
  for (const e of applied) if (e.kind === 'user') note(e.user.id, e);
  // Mappings are by group id: of the group events, only a deletion changes anyone's roles (its
  // memberships are gone), and only for users whose role came from that group.
  for (const e of applied) {
    if (e.kind !== 'group' || e.type !== 'organization.directory.group_deleted') continue;
    for (const userId of await roles.holdersOfGroupMappings(trx, organizationId, [e.group.id])) note(userId, e);
  }
  return roles.resolveUserRoles(trx, organizationId, [...cause.keys()], (userId) => `event:${cause.get(userId)?.id ?? 'unknown'}`);
}

/**
 * Applies one batch of one organization's events in one transaction: ledger rows first (a
 * redelivered id changes nothing), then the planned state with multi-row statements. If the
 * set-based write hits a constraint (one bad record), the batch is retried event by event, each
 * in a savepoint, and only the offending events are quarantined. Any other error (connection
 * lost) propagates, the transaction rolls back, and Temporal retries the activity.
 */
export async function applyDirectoryEvents(
  db: Knex,
  organizationId: string,
  events: readonly DirectoryEvent[],
): Promise<ApplyResult> {
  return db.transaction(async (trx) => {
    await directory.ensureOrganization(trx, organizationId);
    // The organization's lock before any write (ledger rows included): every writer takes them in
    // the same order, so none waits on another in a cycle.
    await directory.lockOrganization(trx, organizationId);
    // Within one batch an id counts once; later copies are duplicates.
    const seen = new Set<string>();
    const unique = events.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
    const { fresh, unrecordable } = await ledger.recordPending(trx, unique);
    const toApply = unique.filter((e) => fresh.has(e.id));
    const outcomes: (ledger.OutcomeUpdate & { retried?: true })[] = [];

    try {
      const plan = await applyInSavepoint(trx, organizationId, toApply);
      for (const e of toApply) {
        const o = plan.outcomes.get(e.id);
        outcomes.push({ id: e.id, outcome: o?.outcome ?? 'applied', detail: o?.detail ?? null });
      }
    } catch (err) {
      if (!describeConstraintViolation(err)) throw err;
      // Slow path: isolate the record(s) that break a constraint, apply the rest in order.
      for (const e of toApply) {
        try {
          const plan = await applyInSavepoint(trx, organizationId, [e]);
          const o = plan.outcomes.get(e.id);
          outcomes.push({ id: e.id, outcome: o?.outcome ?? 'applied', detail: o?.detail ?? null });
        } catch (inner) {
          const reason = describeConstraintViolation(inner);
          if (!reason) throw inner;
          outcomes.push({ id: e.id, outcome: 'quarantined', detail: (await explainEmailConflict(trx, organizationId, e, inner)) ?? reason });
        }
      }
    }
    await ledger.setOutcomes(trx, outcomes);
    const appliedEvents = toApply.filter((e) => outcomes.some((o) => o.id === e.id && o.outcome === 'applied'));
    if (appliedEvents.length > 0) {
      const recovered = await retryConflicts(trx, organizationId, new Set(unique.map((e) => e.id)));
      outcomes.push(...recovered.updates);
      appliedEvents.push(...recovered.applied);
    }
    const roleChanges = await resolveRolesAfter(trx, organizationId, appliedEvents);

    const count = (o: string) => outcomes.filter((u) => u.outcome === o && !u.retried).length;
    let lastAppliedOccurredAt: string | null = null;
    let lastNs = -1n;
    const applied = new Set(outcomes.filter((o) => o.outcome === 'applied').map((o) => o.id));
    for (const e of toApply) {
      if (applied.has(e.id) && BigInt(e.occurredAtNs) > lastNs) {
        lastNs = BigInt(e.occurredAtNs);
        lastAppliedOccurredAt = e.occurredAt;
      }
    }
    return {
      roles: { usersChanged: roleChanges.usersChanged, granted: roleChanges.granted, revoked: roleChanges.revoked },
      applied: count('applied'),
      recovered: outcomes.filter((o) => o.retried).length,
      duplicate: unique.length - toApply.length - unrecordable.size + (events.length - unique.length),
      stale: count('stale'),
      quarantined: count('quarantined') + unrecordable.size,
      lastAppliedOccurredAt,
    };
  });
}
