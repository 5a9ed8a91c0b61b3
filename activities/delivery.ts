import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { ChangeRecord } from '../domain/changes';
import type { DeliverySettings } from '../domain/delivery';
import {
  firstSequenceAt,
  loadDelivery,
  organizationsWithUndelivered,
  readDeliveryBatch,
  recordsDeliveredThrough,
  recordSkip,
  saveDelivered,
  saveDelivery,
  type DeliveryChannel,
  type DeliveryPage,
  type DeliveryRow,
  type DeliverySnapshot,
} from '../db/repositories/deliveries';
import { newestChanges } from '../db/repositories/changes';
import {
  changesAvailableSignal,
  DELIVERY_WORKFLOW_TYPE,
  deliveryInput,
  deliverySummary,
  deliveryWorkflowId,
  type DeliveryWorkflowInput,
} from '../workflows/delivery-messages';
import { SCIM_ORG_ID } from '../workflows/messages';
import type { WorkerMetrics } from '../observability/metrics';
import { observeDelivered } from './event-metrics';

/** Temporal-native delivery as the worker runs it: on when APP_TASK_QUEUE is set. */
export interface DeliveryDeps {
  /** Temporal-native delivery (APP_TASK_QUEUE); undefined: off. */
  settings?: DeliverySettings | undefined;
  /** Signed HTTP push (APP_WEBHOOK_URL): its settings, `appTaskQueue` being scimflow's push queue; undefined: off. */
  push?: DeliverySettings | undefined;
  /** scimflow's main task queue: the delivery workflows run there. */
  taskQueue: string;
}

/** The channels `deps` turns on, with their settings. */
export function enabledChannels(deps: Pick<DeliveryDeps, 'settings' | 'push'>): [DeliveryChannel, DeliverySettings][] {
  const out: [DeliveryChannel, DeliverySettings][] = [];
  if (deps.settings) out.push(['temporal', deps.settings]);
  if (deps.push) out.push(['webhook', deps.push]);
  return out;
}

/** The delivery workflow's steps: the cursor and state it keeps in PostgreSQL, and reading records. */
export function createDeliveryActivities(db: Knex, metrics?: WorkerMetrics) {
  return {
    async readDeliveryBatch(organizationId: string, after: number, limit: number): Promise<DeliveryPage> {
      return readDeliveryBatch(db, organizationId, after, limit);
    },
    // The channel is absent for Temporal-native delivery (as before there were two).
    async loadDelivery(organizationId: string, channel: DeliveryChannel = 'temporal'): Promise<DeliveryRow | null> {
      return loadDelivery(db, organizationId, channel);
    },
    async saveDelivered(organizationId: string, sequence: number, channel: DeliveryChannel = 'temporal'): Promise<void> {
      // Read before the cursor moves: the records this save marks delivered.
      const delivered = metrics ? await recordsDeliveredThrough(db, organizationId, channel, sequence) : [];
      await saveDelivered(db, organizationId, channel, sequence);
      if (metrics) observeDelivered(metrics, channel, delivered);
    },
    async saveDelivery(organizationId: string, snapshot: DeliverySnapshot, channel: DeliveryChannel = 'temporal'): Promise<void> {
      await saveDelivery(db, organizationId, channel, snapshot);
    },
    /** False when `recordId` is not the organization's record at `sequence`. */
    async recordDeliverySkip(
      organizationId: string,
      skip: { recordId: string; sequence: number; reason: string },
      channel: DeliveryChannel = 'temporal',
    ): Promise<boolean> {
      return recordSkip(db, organizationId, channel, skip);
    },
    async firstDeliverySequenceAt(organizationId: string, time: string): Promise<number | null> {
      return firstSequenceAt(db, organizationId, time);
    },
  };
}

/** The most records a wake-up carries, and their most weight as JSON: a live change's few records travel in it; an import's do not. */
export const WAKE_UP_RECORDS = 50;
export const WAKE_UP_BYTES = 64 * 1024;

/**
 * Wakes an organization's delivery workflow (starting it on the organization's first record)
 * right after a step that may have committed records: the workflow starts delivering within
 * moments of the commit instead of at its next idle check. A wake-up is sent only when the
 * organization has records newer than this process last told of, so steps that recorded nothing
 * (duplicates, a paused sync) cost one indexed read. The wake-up carries those records when they
 * are few (a live change): a delivery that is caught up hands them to the application at once,
 * without reading them again. A failure to wake is not the step's: it is logged, and the
 * delivery's idle check finds the records anyway.
 */
export class DeliveryNotifier {
  private readonly notified = new Map<string, number>();
  private readonly channels: [DeliveryChannel, DeliverySettings][];

  constructor(
    private readonly db: Knex,
    private readonly client: Client,
    private readonly deps: DeliveryDeps,
  ) {
    this.channels = enabledChannels(deps);
  }

  async notify(organizationId: string): Promise<void> {
    try {
      await this.wake(organizationId);
    } catch (err) {
      try {
        Context.current().log.warn('could not wake the delivery workflow; its idle check will find the records', {
          organizationId,
          error: err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300),
        });
      } catch {
        // not in an activity
      }
    }
  }

  /**
   * Wakes (or starts) the organization's deliveries (one per enabled channel) if it has records this
   * process has not told them of; throws what fails.
   */
  async wake(organizationId: string, only?: DeliveryChannel): Promise<void> {
    const channels = this.channels.filter(([channel]) => !only || channel === only);
    if (channels.length === 0) return;
    const told = channels.map(([channel]) => this.notified.get(`${channel}:${organizationId}`));
    const since = told.some((t) => t === undefined) ? undefined : Math.min(...(told as number[]));
    const { sequence, records } = await this.newest(organizationId, since);
    if (sequence === 0) return;
    for (const [channel, settings] of channels) {
      const key = `${channel}:${organizationId}`;
      if ((this.notified.get(key) ?? 0) >= sequence) continue;
      const input: DeliveryWorkflowInput = deliveryInput(organizationId, channel, settings);
      await this.client.workflow.signalWithStart(DELIVERY_WORKFLOW_TYPE, {
        workflowId: deliveryWorkflowId(organizationId, channel),
        taskQueue: this.deps.taskQueue,
        args: [input],
        signal: changesAvailableSignal,
        signalArgs: [records ? { sequence, settings, records } : { sequence, settings }],
        typedSearchAttributes: [{ key: SCIM_ORG_ID, value: organizationId }],
        staticSummary: deliverySummary(organizationId, channel, settings),
      });
      // Bounded: a worker serving many organizations keeps the newest few thousand.
      if (this.notified.size > 10_000) this.notified.clear();
      this.notified.set(key, sequence);
    }
  }

  /**
   * The organization's newest sequence, and the records a wake-up carries: those after `since` (what
   * this process told of last) when they are few and light, or else the newest few (this process
   * told of nothing yet). One indexed read.
   */
  private async newest(organizationId: string, since: number | undefined): Promise<{ sequence: number; records?: ChangeRecord[] }> {
    const page = await newestChanges(this.db, organizationId, since ?? 0, WAKE_UP_RECORDS);
    const last = page.records[page.records.length - 1];
    if (!last) return { sequence: since ?? 0 };
    let bytes = 0;
    for (const r of page.records) bytes += Buffer.byteLength(JSON.stringify(r));
    const carried = (since === undefined || !page.more) && bytes <= WAKE_UP_BYTES;
    return carried ? { sequence: last.sequence, records: page.records } : { sequence: last.sequence };
  }
}

/**
 * At worker start: wakes the delivery of every organization with records not delivered yet (a
 * wake-up that failed, delivery just turned on for organizations with records). A delivery that
 * is running, paused or stopped only takes note; one that is not running starts from its cursor.
 * Returns how many were woken.
 */
export async function wakeWaitingDeliveries(db: Knex, client: Client, deps: DeliveryDeps): Promise<number> {
  const notifier = new DeliveryNotifier(db, client, deps);
  let woken = 0;
  for (const [channel] of enabledChannels(deps)) {
    for (const organizationId of await organizationsWithUndelivered(db, channel)) {
      await notifier.wake(organizationId, channel);
      woken++;
    }
  }
  return woken;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyActivity = (...args: any[]) => Promise<unknown>;

/** `fns` whose named members (their first argument is the organization's id) wake the organization's delivery after they succeed. */
export function wakingDelivery<T extends Record<string, AnyActivity>>(
  fns: T,
  notifier: DeliveryNotifier | undefined,
  names: (keyof T)[],
): T {
  if (!notifier) return fns;
  const out = { ...fns };
  for (const name of names) {
    const fn = fns[name];
    if (!fn) continue;
    out[name] = (async (organizationId: string, ...rest: unknown[]) => {
      const result = await fn(organizationId, ...rest);
      await notifier.notify(organizationId);
      return result;
    }) as T[keyof T];
  }
  return out;
}
