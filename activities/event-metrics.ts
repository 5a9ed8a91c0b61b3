import type { LedgerOutcome } from '../db/repositories/ledger';
import type { DirectoryEvent } from '../domain/events';
import type { DeliveredRecord, DeliveryChannel } from '../db/repositories/deliveries';
import type { ApplyCounts } from '../domain/reconcile';
import type { WorkerMetrics } from '../observability/metrics';

/** One event as a committed batch resolved it: its ledger outcome and, quarantined, the reason. */
export interface ResolvedEvent {
  event: DirectoryEvent;
  outcome: Exclude<LedgerOutcome, 'pending'>;
  detail: string | null;
}

/** Where the worker reports committed batches (the metrics, or nothing). */
export type EventObserver = (resolved: readonly ResolvedEvent[]) => void;

/** A user deleted, or deactivated, in the directory: deprovisioning, measured on its own. */
export function isDeprovisioning(event: DirectoryEvent): boolean {
  if (event.kind !== 'user') return false;
  return event.type === 'organization.directory.user_deleted' || event.user.active === false;
}

/**
 * A quarantine reason as a bounded label: the SQLSTATE the write failed with (db/errors.ts
 * describes errors as "<meaning> (<SQLSTATE>): …"), grouped; a ledger row that could not be
 * written; anything else.
 */
export function quarantineReasonClass(detail: string | null): string {
  if (detail?.startsWith('could not be recorded')) return 'unrecordable';
  const sqlState = /\((\w{5})\)/.exec(detail ?? '')?.[1];
  if (!sqlState) return 'other';
  if (sqlState === '23505') return 'unique_violation';
  if (sqlState.startsWith('23')) return 'integrity_constraint';
  if (sqlState.startsWith('22')) return 'invalid_data';
  return 'database_other';
}

/** Milliseconds since the epoch of an event's occurred_at (its nanosecond clock, exact). */
function occurredAtMs(event: DirectoryEvent): number {
  return Number(BigInt(event.occurredAtNs) / 1_000_000n);
}

/** Counts a committed batch's events by outcome, its quarantines by reason, and the latency of what it applied. */
export function observeEvents(metrics: WorkerMetrics, resolved: readonly ResolvedEvent[], now = Date.now()): void {
  for (const { event, outcome, detail } of resolved) {
    metrics.events.inc({ event_type: event.type, outcome });
    if (outcome === 'quarantined') metrics.quarantines.inc({ event_type: event.type, reason_class: quarantineReasonClass(detail) });
    if (outcome !== 'applied') continue;
    const histogram = isDeprovisioning(event) ? metrics.deprovisioningSeconds : metrics.provisioningSeconds;
    // A clock ahead of ours (Scalekit's) is no negative latency.
    histogram.observe({ from: 'occurred', to: 'mirror' }, Math.max(0, now - occurredAtMs(event)) / 1000);
    const received = Date.parse(event.receivedAt);
    if (Number.isFinite(received)) histogram.observe({ from: 'received', to: 'mirror' }, Math.max(0, now - received) / 1000);
  }
}

/** What a full reconcile found drifted, by kind, and the share of its users whose roles were already right. */
export function observeFullReconcile(metrics: WorkerMetrics, counts: ApplyCounts): void {
  const u = counts.users;
  metrics.reconcileDrift.inc({ kind: 'users' }, u.created + u.updated + u.deactivated + u.reactivated);
  metrics.reconcileDrift.inc({ kind: 'memberships' }, counts.memberships ?? 0);
  metrics.reconcileDrift.inc({ kind: 'roles' }, counts.roles?.usersChanged ?? 0);
  const users = u.created + u.updated + u.deactivated + u.reactivated + u.unchanged;
  if (users > 0 && counts.roles) metrics.reconcileRolesRight.observe(Math.max(0, users - counts.roles.usersChanged) / users);
}

/** Where the application's commit is measured to: Temporal-native delivery, or the signed HTTP push. */
const APPLICATION: Record<DeliveryChannel, string> = { temporal: 'application', webhook: 'application_push' };

/**
 * The latency of records the application has committed (its activity returned, or its push
 * handler answered 2xx), from the directory change and from the commit in the mirror. A record
 * delivered again after a rewind counts again.
 */
export function observeDelivered(metrics: WorkerMetrics, channel: DeliveryChannel, records: readonly DeliveredRecord[]): void {
  const to = APPLICATION[channel];
  for (const r of records) {
    const histogram = r.kind === 'user.deactivated' ? metrics.deprovisioningSeconds : metrics.provisioningSeconds;
    if (r.secondsSinceOccurred !== null) histogram.observe({ from: 'occurred', to }, r.secondsSinceOccurred);
    histogram.observe({ from: 'committed', to }, r.secondsSinceCommitted);
  }
}
