import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { withMirrorWriter } from '../db/mirror/writer';
import * as ledger from '../db/repositories/ledger';
import { recordSyncPause as recordPause } from '../db/repositories/organizations';
import type { DirectoryEvent } from '../domain/events';
import { applyDirectoryEvents, type ApplyResult } from './apply-events';
import type { EventObserver } from './event-metrics';
import { cliPrefix } from '../domain/cli-command';

/**
 * Pausing an organization's sync keeps everyone's access as it is: events that arrive meanwhile
 * are kept in the ledger as `deferred` (nothing lost, nothing applied), and resuming applies them
 * in arrival order, a batch at a time, before any new event.
 */

export interface DeferResult {
  deferred: number;
  duplicate: number;
  /** Events the ledger could not hold (recorded as quarantined without their payload). */
  quarantined: number;
}

export async function deferDirectoryEvents(
  db: Knex,
  organizationId: string,
  events: readonly DirectoryEvent[],
  observe?: EventObserver,
): Promise<DeferResult> {
  // Under the organization's lock, like the batches whose ledger rows these may become.
  const { fresh, unrecordable } = await withMirrorWriter(
    db,
    organizationId,
    async (writer) => {
      const seen = new Set<string>();
      const unique = events.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
      return ledger.recordDeferred(writer.trx, unique);
    },
    { ensureOrganization: true },
  );
  // Committed. A deferred event is counted again, with its final outcome, when it is applied.
  const counted = new Set<string>();
  observe?.(
    events.map((event) => {
      const first = !counted.has(event.id);
      counted.add(event.id);
      const reason = first ? unrecordable.get(event.id) : undefined;
      if (reason !== undefined) return { event, outcome: 'quarantined', detail: `could not be recorded: ${reason}` };
      return { event, outcome: first && fresh.has(event.id) ? 'deferred' : 'duplicate', detail: null };
    }),
  );
  return { deferred: fresh.size, duplicate: events.length - fresh.size - unrecordable.size, quarantined: unrecordable.size };
}

export interface DeferredApplyResult extends ApplyResult {
  /** Deferred events in this batch. */
  taken: number;
  /** Deferred events still waiting after it. */
  remaining: number;
}

/** Applies the oldest `limit` deferred events of the organization, exactly as a batch. */
export async function applyDeferredEvents(
  db: Knex,
  organizationId: string,
  limit: number,
  observe?: EventObserver,
): Promise<DeferredApplyResult> {
  const events = await ledger.loadDeferred(db, organizationId, limit);
  const result = await applyDirectoryEvents(db, organizationId, events, { deferred: true, ...(observe ? { observe } : {}) });
  return { ...result, taken: events.length, remaining: await ledger.countDeferred(db, organizationId) };
}

/**
 * Records the pause on the organization row (for listings; the workflow holds the real state) and
 * returns how many events wait in the ledger. An organization scimflow does not know is refused.
 */
export async function recordSyncPause(
  db: Knex,
  organizationId: string,
  pause: { since: string; note: string | null } | null,
): Promise<number> {
  if (!(await recordPause(db, organizationId, pause))) {
    throw ApplicationFailure.nonRetryable(
      `scimflow does not know organization ${organizationId} yet; register it first (${cliPrefix()} orgs add ${organizationId})`,
      'OrganizationNotFound',
    );
  }
  return ledger.countDeferred(db, organizationId);
}
