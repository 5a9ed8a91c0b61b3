import type { Knex } from 'knex';
import { ping } from '../db/connection';
import { isolationReason } from '../db/errors';
import { withMirrorWriter, type EventOrigin, type MirrorWriter } from '../db/mirror/writer';
import * as directory from '../db/repositories/directory';
import * as ledger from '../db/repositories/ledger';
import * as roles from '../db/repositories/roles';
import type { DirectoryEvent } from '../domain/events';
import { entitiesOf, planBatch, type BatchPlan } from '../domain/plan';
import { explainEmailConflict } from './email-conflicts';
import type { EventObserver, ResolvedEvent } from './event-metrics';
import type { RoleCounts } from '../domain/roles';

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

async function loadAndPlan(writer: MirrorWriter, events: readonly DirectoryEvent[]): Promise<BatchPlan> {
  const { userIds, groupIds } = entitiesOf(events);
  // One connection: the statements run one after another (the lock's first).
  const directories = await writer.directories();
  const users = await directory.loadUsers(writer.trx, writer.organizationId, userIds);
  const groups = await directory.loadGroups(writer.trx, writer.organizationId, groupIds);
  return planBatch({ events, users, groups, directories });
}

export interface SavepointResult {
  plan: BatchPlan;
  roles: roles.RoleResolution;
}

/**
 * Plans and writes `events`, and resolves the roles they change, inside a savepoint: an error
 * rolls back only them. `origin` says how they came (a quarantined event retried), for their
 * change records.
 */
export async function applyInSavepoint(
  writer: MirrorWriter,
  events: readonly DirectoryEvent[],
  origin?: EventOrigin,
): Promise<SavepointResult> {
  return writer.savepoint(async (sp) => {
    const plan = await loadAndPlan(sp, events);
    await sp.writeEventPlan(plan, events);
    const applied = events.filter((e) => plan.outcomes.get(e.id)?.outcome !== 'stale');
    return { plan, roles: await resolveRolesAfter(sp, applied) };
  }, origin);
}

type Outcome = ledger.OutcomeUpdate;

interface Isolated {
  outcomes: Map<string, Outcome>;
  roles: roles.RoleResolution;
}

const addRoles = (into: roles.RoleResolution, from: roles.RoleResolution): void => {
  into.usersChanged += from.usersChanged;
  into.reasonsChanged += from.reasonsChanged;
  into.granted += from.granted;
  into.revoked += from.revoked;
};

/**
 * Applies `events` in order; when the data makes the write fail, the batch is split in halves
 * (each applied in order, in its own savepoint) until the failing event is alone, and that event
 * is quarantined with the reason. A transient error (connection lost) is thrown: the transaction
 * rolls back and Temporal retries the whole batch.
 */
async function applyIsolating(writer: MirrorWriter, events: readonly DirectoryEvent[], out: Isolated): Promise<void> {
  if (events.length === 0) return;
  const { trx, organizationId } = writer;
  try {
    const { plan, roles: changed } = await applyInSavepoint(writer, events);
    for (const e of events) {
      const o = plan.outcomes.get(e.id);
      out.outcomes.set(e.id, { id: e.id, outcome: o?.outcome ?? 'applied', detail: o?.detail ?? null });
    }
    addRoles(out.roles, changed);
  } catch (err) {
    const reason = await isolationReason(err, () => ping(trx));
    if (!reason) throw err;
    if (events.length === 1) {
      const event = events[0]!;
      out.outcomes.set(event.id, {
        id: event.id,
        outcome: 'quarantined',
        detail: (await explainEmailConflict(trx, organizationId, event, err)) ?? reason,
      });
      return;
    }
    const half = Math.ceil(events.length / 2);
    await applyIsolating(writer, events.slice(0, half), out);
    await applyIsolating(writer, events.slice(half), out);
  }
}

const RETRY_LIMIT = 50;

interface ConflictRetry {
  /** Outcomes of retried events (applied or stale), by id. */
  outcomes: Map<string, Outcome>;
  applied: number;
  roles: roles.RoleResolution;
}

/**
 * Events quarantined because they collided with another record (typically an email that changes
 * hands: the new owner's event arriving before the old owner's deletion) are tried again after
 * each write that changed the organization, the conflict may have cleared, including those
 * quarantined a moment ago by the same batch (the deletion that frees the email may come later in
 * it). Freshness still rules: an event the entity has moved past is stale.
 */
export async function retryConflicts(writer: MirrorWriter): Promise<ConflictRetry> {
  const trx = writer.trx;
  const result: ConflictRetry = { outcomes: new Map(), applied: 0, roles: roles.emptyResolution() };
  const candidates = await ledger.listConflictQuarantined(trx, writer.organizationId, RETRY_LIMIT);
  for (const event of candidates) {
    try {
      const { plan, roles: changed } = await applyInSavepoint(writer, [event], 'retry');
      const stale = plan.outcomes.get(event.id)?.outcome === 'stale';
      result.outcomes.set(event.id, {
        id: event.id,
        outcome: stale ? 'stale' : 'applied',
        detail: `${stale ? 'stale' : 'applied'} on retry: the conflict that quarantined it has cleared`,
      });
      if (!stale) result.applied += 1;
      addRoles(result.roles, changed);
    } catch (err) {
      // Still failing for its data (or no longer understood at all): it stays quarantined.
      if (!(await isolationReason(err, () => ping(trx)))) throw err;
    }
  }
  await ledger.setOutcomes(trx, [...result.outcomes.values()]);
  return result;
}

/**
 * Roles follow the users and groups the applied events changed; each user's grant names the
 * newest event that touched the user (or the group event that changed the user's groups).
 */
export async function resolveRolesAfter(writer: MirrorWriter, applied: readonly DirectoryEvent[]): Promise<roles.RoleResolution> {
  if (applied.length === 0) return roles.emptyResolution();
  const { trx, organizationId } = writer;
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
  const last = applied[applied.length - 1]!;
  return writer.resolveRoles(
    [...cause.keys()],
    (userId) => `event:${cause.get(userId)?.id ?? 'unknown'}`,
    (userId) => writer.eventCause(cause.get(userId) ?? last),
  );
}

/**
 * Applies one batch of one organization's events in one transaction: ledger rows first (a
 * redelivered id changes nothing), then the planned state with multi-row statements. An event
 * whose data makes a write fail is isolated and quarantined, the rest applies (see
 * applyIsolating). Any transient error propagates, the transaction rolls back, and Temporal
 * retries the activity.
 */
async function applyBatch(
  db: Knex,
  organizationId: string,
  events: readonly DirectoryEvent[],
  deferred: boolean,
  observe: EventObserver | undefined,
): Promise<ApplyResult> {
  let resolved: ResolvedEvent[] = [];
  // The organization's lock before any write (ledger rows included): every writer takes them in
  // the same order, so none waits on another in a cycle.
  const result = await withMirrorWriter(
    db,
    organizationId,
    async (writer) => {
      const trx = writer.trx;
      // Within one batch an id counts once; later copies are duplicates.
      const seen = new Set<string>();
      const unique = events.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
      const { fresh, unrecordable } = await ledger.recordPending(trx, unique);
      const toApply = unique.filter((e) => fresh.has(e.id));

      const isolated: Isolated = { outcomes: new Map(), roles: roles.emptyResolution() };
      await applyIsolating(writer, toApply, isolated);
      await ledger.setOutcomes(trx, [...isolated.outcomes.values()]);
      const outcomes = isolated.outcomes;
      const roleChanges = isolated.roles;

      let recovered = 0;
      if ([...outcomes.values()].some((o) => o.outcome === 'applied')) {
        const retried = await retryConflicts(writer);
        addRoles(roleChanges, retried.roles);
        for (const [id, o] of retried.outcomes) {
          // Quarantined earlier in this same batch: it counts as what it finally became.
          if (outcomes.has(id)) outcomes.set(id, o);
          else if (o.outcome === 'applied') recovered += 1;
        }
      }

      const count = (o: string) => [...outcomes.values()].filter((u) => u.outcome === o).length;
      let lastAppliedOccurredAt: string | null = null;
      let lastNs = -1n;
      for (const e of toApply) {
        if (outcomes.get(e.id)?.outcome === 'applied' && BigInt(e.occurredAtNs) > lastNs) {
          lastNs = BigInt(e.occurredAtNs);
          lastAppliedOccurredAt = e.occurredAt;
        }
      }
      resolved = resolvedEvents(events, outcomes, unrecordable);
      return {
        roles: { usersChanged: roleChanges.usersChanged, granted: roleChanges.granted, revoked: roleChanges.revoked },
        applied: count('applied'),
        recovered,
        duplicate: unique.length - toApply.length - unrecordable.size + (events.length - unique.length),
        stale: count('stale'),
        quarantined: count('quarantined') + unrecordable.size,
        lastAppliedOccurredAt,
      };
    },
    { ensureOrganization: true, deferredEvents: deferred },
  );
  // Committed: only now is what the batch did true.
  observe?.(resolved);
  return result;
}

/**
 * Each event of a batch with the outcome its ledger row has now: `outcomes` for those applied
 * here, quarantined for those the ledger could not hold, duplicate for the rest (recorded before,
 * or a second copy in the batch).
 */
function resolvedEvents(
  events: readonly DirectoryEvent[],
  outcomes: ReadonlyMap<string, Outcome>,
  unrecordable: ReadonlyMap<string, string>,
): ResolvedEvent[] {
  const seen = new Set<string>();
  return events.map((event) => {
    const first = !seen.has(event.id);
    seen.add(event.id);
    const o = first ? outcomes.get(event.id) : undefined;
    if (o) return { event, outcome: o.outcome, detail: o.detail };
    const reason = first ? unrecordable.get(event.id) : undefined;
    if (reason !== undefined) return { event, outcome: 'quarantined', detail: `could not be recorded: ${reason}` };
    return { event, outcome: 'duplicate', detail: null };
  });
}

const emptyResult = (): ApplyResult => ({
  roles: { usersChanged: 0, granted: 0, revoked: 0 },
  applied: 0,
  recovered: 0,
  duplicate: 0,
  stale: 0,
  quarantined: 0,
  lastAppliedOccurredAt: null,
});

function addResult(into: ApplyResult, from: ApplyResult): ApplyResult {
  into.roles.usersChanged += from.roles.usersChanged;
  into.roles.granted += from.roles.granted;
  into.roles.revoked += from.roles.revoked;
  into.applied += from.applied;
  into.recovered += from.recovered;
  into.duplicate += from.duplicate;
  into.stale += from.stale;
  into.quarantined += from.quarantined;
  if (from.lastAppliedOccurredAt && (!into.lastAppliedOccurredAt || from.lastAppliedOccurredAt > into.lastAppliedOccurredAt)) {
    into.lastAppliedOccurredAt = from.lastAppliedOccurredAt;
  }
  return into;
}

/**
 * Applies a batch (see applyBatch). Should the data break something outside the per-event
 * isolation (the ledger writes, the conflict retry, the commit), the batch is split into
 * transactions the same way, down to the one event, which is then kept as quarantined with the
 * reason: one bad event costs a few round trips, never its organization's queue. Halves commit in
 * order, so the order of the organization's changes holds.
 */
export async function applyDirectoryEvents(
  db: Knex,
  organizationId: string,
  events: readonly DirectoryEvent[],
  options: { deferred?: boolean; observe?: EventObserver } = {},
): Promise<ApplyResult> {
  try {
    return await applyBatch(db, organizationId, events, options.deferred === true, options.observe);
  } catch (err) {
    const reason = await isolationReason(err, () => ping(db));
    if (!reason) throw err;
    if (events.length === 1) return quarantineEvent(db, organizationId, events[0]!, reason, options.observe);
    const half = Math.ceil(events.length / 2);
    const result = await applyDirectoryEvents(db, organizationId, events.slice(0, half), options);
    return addResult(result, await applyDirectoryEvents(db, organizationId, events.slice(half), options));
  }
}

/** Keeps an event that cannot be applied as quarantined, with its payload when it can be stored. */
async function quarantineEvent(
  db: Knex,
  organizationId: string,
  event: DirectoryEvent,
  reason: string,
  observe: EventObserver | undefined,
): Promise<ApplyResult> {
  const result = emptyResult();
  const outcome = await withMirrorWriter(db, organizationId, (writer) => ledger.recordQuarantined(writer.trx, event, reason), {
    ensureOrganization: true,
  });
  if (outcome === 'duplicate') result.duplicate = 1;
  else result.quarantined = 1;
  observe?.([{ event, outcome: outcome === 'duplicate' ? 'duplicate' : 'quarantined', detail: reason }]);
  return result;
}
