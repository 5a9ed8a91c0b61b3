import type { Knex } from 'knex';
import { ping } from '../db/connection';
import { isolationReason } from '../db/errors';
import * as ledger from '../db/repositories/ledger';
import { withMirrorWriter } from '../db/mirror/writer';
import { isNormalizedEvent, parseDirectoryWebhook, type DirectoryEvent } from '../domain/events';
import type { QuarantineRetryResult } from '../domain/quarantine';
import { applyInSavepoint } from './apply-events';
import { explainEmailConflict } from './email-conflicts';

/** Quarantined events retried per request at most (without ids). */
export const RETRY_LIMIT = 5_000;
/** Events described one by one in the result; the counts cover all. */
const DESCRIBED = 200;

/**
 * An operator's "try again" for quarantined events: a constraint conflict that has cleared (say a
 * reconcile deactivated the user who held the email), or a delivery an older scimflow could not
 * read, parsed again from its raw body. Each event is applied in its own savepoint, with the
 * freshness rule; one that still fails stays quarantined with today's reason. Nothing is lost.
 */
export async function retryQuarantinedEvents(
  db: Knex,
  organizationId: string,
  requested: readonly string[] | null,
): Promise<QuarantineRetryResult> {
  const eventIds = requested ? [...new Set(requested)] : null;
  return withMirrorWriter(db, organizationId, async (writer) => {
    const trx = writer.trx;
    // Without ids: the oldest first (see listQuarantinedRows).
    const rows = eventIds ? await ledger.loadRetryRows(trx, eventIds) : await ledger.listQuarantinedRows(trx, organizationId, RETRY_LIMIT);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const results: QuarantineRetryResult['events'] = [];
    const candidates: DirectoryEvent[] = [];
    /** Events the workflow had quarantined itself (constraint conflicts), by id. */
    const fromWorkflow = new Set<string>();

    for (const id of eventIds ?? rows.map((r) => r.id)) {
      const row = byId.get(id);
      // Another organization's event is as unknown here as a missing one.
      if (!row || (row.organization_id !== null && row.organization_id !== organizationId)) {
        results.push({ id, outcome: 'not_found', detail: `no event ${id} of ${organizationId} in the ledger` });
        continue;
      }
      if (row.outcome !== 'quarantined') {
        results.push({ id, outcome: row.outcome, detail: `not quarantined (${row.outcome}): nothing to retry` });
        continue;
      }
      if (isNormalizedEvent(row.payload)) {
        if (row.payload.organizationId !== organizationId || row.payload.id !== id) {
          results.push({ id, outcome: 'not_found', detail: `no event ${id} of ${organizationId} in the ledger` });
          continue;
        }
        candidates.push(row.payload);
        fromWorkflow.add(id);
        continue;
      }
      if (row.raw_body === null) {
        results.push({
          id,
          outcome: 'quarantined',
          detail: 'kept without its body (it could not be stored): cannot be applied; a full reconcile repairs what it would have changed',
        });
        continue;
      }
      // Verified when it arrived; parsed again with today's rules.
      const parsed = parseDirectoryWebhook(row.raw_body, { webhookId: row.webhook_id, receivedAt: row.received_at });
      if (parsed.status === 'event' && parsed.event.organizationId !== organizationId) {
        results.push({ id, outcome: 'quarantined', detail: `parses now, as an event of ${parsed.event.organizationId}: retry it there` });
      } else if (parsed.status === 'event') {
        const event = parsed.event;
        if (event.id === id) {
          await ledger.recordParsedEvent(trx, organizationId, event);
          candidates.push(event);
        } else {
          // Recorded under its delivery id (no event id could be read then): the event gets its own row.
          const created = await ledger.recordEventOfDelivery(trx, organizationId, row, event);
          const detail = created
            ? `parsed now as event ${event.id}: see that entry`
            : `the same event as ${event.id}, already in the ledger`;
          await ledger.setOutcomes(trx, [{ id, outcome: 'duplicate', detail }]);
          results.push({ id, outcome: 'duplicate', detail });
          if (created) candidates.push(event);
        }
      } else if (parsed.status === 'ignored') {
        await ledger.setOutcomes(trx, [{ id, outcome: 'ignored', detail: `on retry: ${parsed.reason}` }]);
        results.push({ id, outcome: 'ignored', detail: parsed.reason });
      } else {
        await ledger.setOutcomes(trx, [{ id, outcome: 'quarantined', detail: parsed.reason }]);
        results.push({ id, outcome: 'quarantined', detail: `still: ${parsed.reason}` });
      }
    }

    // In the order they happened, each in its own savepoint.
    candidates.sort((a, b) =>
      BigInt(a.occurredAtNs) < BigInt(b.occurredAtNs) ? -1 : BigInt(a.occurredAtNs) > BigInt(b.occurredAtNs) ? 1 : 0,
    );
    let recovered = 0;
    for (const event of candidates) {
      try {
        const { plan } = await applyInSavepoint(writer, [event], 'retry');
        const o = plan.outcomes.get(event.id);
        const outcome = o?.outcome === 'stale' ? 'stale' : 'applied';
        const detail = outcome === 'stale' ? `stale on retry: ${o?.detail ?? 'the entity reflects a newer change'}` : 'applied on retry';
        await ledger.setOutcomes(trx, [{ id: event.id, outcome, detail }]);
        results.push({ id: event.id, outcome, detail });
        if (fromWorkflow.has(event.id)) recovered += 1;
      } catch (err) {
        const violation = await isolationReason(err, () => ping(trx));
        if (!violation) throw err;
        const reason = (await explainEmailConflict(trx, organizationId, event, err)) ?? violation;
        await ledger.setOutcomes(trx, [{ id: event.id, outcome: 'quarantined', detail: reason }]);
        results.push({ id: event.id, outcome: 'quarantined', detail: `still: ${reason}` });
      }
    }
    const count = (o: string) => results.filter((r) => r.outcome === o).length;
    const remaining = await ledger.countQuarantined(trx, organizationId);
    return {
      // A delivery row that turned out to be an event counts once, as that event.
      tried: results.filter((r) => r.outcome !== 'not_found' && r.outcome !== 'duplicate' && !r.detail.startsWith('not quarantined'))
        .length,
      applied: count('applied'),
      stale: count('stale'),
      ignored: count('ignored'),
      stillQuarantined: count('quarantined'),
      notFound: count('not_found'),
      recovered,
      remaining,
      events: results.slice(0, DESCRIBED),
    };
  });
}
