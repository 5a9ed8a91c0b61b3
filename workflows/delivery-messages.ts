import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ChangeRecord } from '../domain/changes';
import type { DeliverySettings, DeliveryStop, RewindRequest, RewindResult } from '../domain/delivery';

/**
 * Messages of the delivery workflow (one per organization, `scim-delivery:<orgId>`), shared by the
 * workflow and its clients (API, CLI, the activities that wake it). Importing this module does
 * not import workflow code.
 */

export const DELIVERY_WORKFLOW_TYPE = 'deliveryWorkflow';

/** 'temporal': the application's activity on APP_TASK_QUEUE; 'webhook': signed HTTP push to APP_WEBHOOK_URL. */
export type DeliveryChannelName = 'temporal' | 'webhook';
/** Every delivery channel (each its own workflow per organization). */
export const DELIVERY_CHANNELS: readonly DeliveryChannelName[] = ['temporal', 'webhook'];

/** `scim-delivery:<org>` for Temporal-native delivery, `scim-delivery-webhook:<org>` for the push: each channel has its own order and cursor. */
export function deliveryWorkflowId(organizationId: string, channel: DeliveryChannelName = 'temporal'): string {
  return channel === 'temporal' ? `scim-delivery:${organizationId}` : `scim-delivery-${channel}:${organizationId}`;
}

/** A delivery workflow's input (the channel is left out for Temporal-native delivery). */
export function deliveryInput(organizationId: string, channel: DeliveryChannelName, settings: DeliverySettings): DeliveryWorkflowInput {
  return channel === 'temporal' ? { organizationId, settings } : { organizationId, settings, channel };
}

/** What the Temporal UI says a delivery workflow is. */
export function deliverySummary(organizationId: string, channel: DeliveryChannelName, settings: DeliverySettings): string {
  return channel === 'temporal'
    ? `Delivery of directory changes to ${settings.appTaskQueue} for organization ${organizationId}`
    : `Signed HTTP push of directory changes to the application for organization ${organizationId}`;
}

export interface DeliveryWorkflowInput {
  organizationId: string;
  settings: DeliverySettings;
  /** Absent: Temporal-native delivery. 'webhook': the push (`settings.appTaskQueue` is scimflow's push queue). */
  channel?: DeliveryChannelName;
  /** Carried across continue-as-new; absent on a first start (the cursor is read from the database). */
  carried?: DeliveryCarried;
}

/** What a run hands to the next one on continue-as-new. */
export interface DeliveryCarried {
  deliveredSequence: number;
  paused: { since: string; note: string | null } | null;
  stop: DeliveryStop | null;
  counters: DeliveryCounters;
}

export interface DeliveryCounters {
  /** Calls of the application's activity that succeeded. */
  batches: number;
  /** Records in those calls (a record delivered again by a rewind or a narrowed batch counts again). */
  records: number;
  skipped: number;
  rewinds: number;
  lastDeliveredAt: string | null;
  continuedAsNew: number;
}

/** What the workflow says about itself (the `status` query). */
export interface DeliveryWorkflowStatus {
  organizationId: string;
  state: 'running' | 'paused' | 'stopped';
  deliveredSequence: number;
  /** The newest sequence it was told of (a wake-up's), or read. */
  knownSequence: number;
  /** A batch is with the application now. */
  delivering: boolean;
  paused: { since: string; note: string | null } | null;
  stop: DeliveryStop | null;
  appTaskQueue: string;
  channel: DeliveryChannelName;
  counters: DeliveryCounters;
}

/**
 * New records were committed for the organization (up to `sequence`). Sent with start, so the
 * first change of an organization starts its delivery. `settings`: the sender's configuration,
 * which the workflow adopts (a changed APP_TASK_QUEUE reaches a running delivery this way).
 * `records`: the newest records, in order and without a gap, up to `sequence`, when they are few
 * (a live change): a delivery whose cursor is among them delivers them without reading them.
 */
export const changesAvailableSignal =
  defineSignal<[{ sequence: number; settings: DeliverySettings; records?: ChangeRecord[] }]>('changesAvailable');

export const deliveryStatusQuery = defineQuery<DeliveryWorkflowStatus>('deliveryStatus');

/** Delivers the stopped batch again (the application was fixed). */
export const retryDeliveryUpdate = defineUpdate<{ retryingFrom: number }, []>('retryDelivery');

/** Passes over the stopped record (it is never delivered) with the operator's reason, and goes on. */
export const skipRecordUpdate = defineUpdate<{ skipped: string; sequence: number }, [{ recordId: string; reason: string }]>('skipRecord');

/** Stops delivering after the batch in flight (returns once it is done); the records wait. */
export const pauseDeliveryUpdate = defineUpdate<{ paused: { since: string; note: string | null } }, [{ note: string | null }]>(
  'pauseDelivery',
);

export const resumeDeliveryUpdate = defineUpdate<{ resumed: { since: string; note: string | null } }, []>('resumeDelivery');

/** Delivers again from a sequence or a time (the application restored a backup); `dryRun` only counts. */
export const rewindDeliveryUpdate = defineUpdate<RewindResult, [RewindRequest]>('rewindDelivery');
