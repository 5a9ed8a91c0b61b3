import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { DeliverySettings, RewindRequest, RewindResult } from '../domain/delivery';
import {
  changesAvailableSignal,
  DELIVERY_WORKFLOW_TYPE,
  deliveryInput,
  deliveryStatusQuery,
  deliverySummary,
  deliveryWorkflowId,
  pauseDeliveryUpdate,
  resumeDeliveryUpdate,
  retryDeliveryUpdate,
  rewindDeliveryUpdate,
  skipRecordUpdate,
  type DeliveryChannelName,
  type DeliveryWorkflowInput,
  type DeliveryWorkflowStatus,
} from '../workflows/delivery-messages';
import { SCIM_ORG_ID } from '../workflows/messages';
import { DEFAULT_UPDATE_TIMEOUT_MS, runCommand } from './client';

/** The channel's delivery is off (APP_TASK_QUEUE, or APP_WEBHOOK_URL for the push, is not set): there is no delivery to steer. */
export class DeliveryOffError extends Error {
  constructor(channel: DeliveryChannelName = 'temporal') {
    super(
      channel === 'webhook'
        ? 'signed HTTP push is off: set APP_WEBHOOK_URL and APP_WEBHOOK_SECRET for the worker and the API'
        : "Temporal-native delivery is off: set APP_TASK_QUEUE (the application's task queue) for the worker and the API",
    );
    this.name = 'DeliveryOffError';
  }
}

/**
 * Operators' commands to an organization's delivery workflow (`scim-delivery:<org>`), each an
 * update-with-start: a delivery that is not running yet starts from the cursor it kept.
 */
export class DeliveryWorkflows {
  constructor(
    private readonly client: Client,
    /** scimflow's main task queue (the delivery workflows run there). */
    private readonly taskQueue: string,
    /** The configuration's delivery settings; undefined: delivery is off and commands throw DeliveryOffError. */
    private readonly settings: DeliverySettings | undefined,
    private readonly callTimeoutMs = 5_000,
    private readonly updateTimeoutMs = DEFAULT_UPDATE_TIMEOUT_MS,
    /** Which delivery: Temporal-native (`scim-delivery:<org>`) or the push (`scim-delivery-webhook:<org>`). */
    readonly channel: DeliveryChannelName = 'temporal',
  ) {}

  get enabled(): boolean {
    return this.settings !== undefined;
  }

  private startOptions(organizationId: string) {
    if (!this.settings) throw new DeliveryOffError(this.channel);
    const input: DeliveryWorkflowInput = deliveryInput(organizationId, this.channel, this.settings);
    return {
      workflowId: deliveryWorkflowId(organizationId, this.channel),
      taskQueue: this.taskQueue,
      args: [input] as [DeliveryWorkflowInput],
      typedSearchAttributes: [{ key: SCIM_ORG_ID, value: organizationId }],
      staticSummary: deliverySummary(organizationId, this.channel, this.settings),
    };
  }

  /** Tells the delivery that records up to `sequence` exist (starting it if needed). */
  async wake(organizationId: string, sequence: number): Promise<void> {
    const options = this.startOptions(organizationId);
    await this.client.withDeadline(Date.now() + this.callTimeoutMs, () =>
      this.client.workflow.signalWithStart(DELIVERY_WORKFLOW_TYPE, {
        ...options,
        signal: changesAvailableSignal,
        signalArgs: [{ sequence, settings: this.settings! }],
      }),
    );
  }

  async retry(organizationId: string): Promise<{ retryingFrom: number }> {
    return this.command(organizationId, retryDeliveryUpdate);
  }

  async skip(organizationId: string, recordId: string, reason: string): Promise<{ skipped: string; sequence: number }> {
    return this.command(organizationId, skipRecordUpdate, { recordId, reason });
  }

  async pause(organizationId: string, note: string | null): Promise<{ paused: { since: string; note: string | null } }> {
    return this.command(organizationId, pauseDeliveryUpdate, { note });
  }

  async resume(organizationId: string): Promise<{ resumed: { since: string; note: string | null } }> {
    return this.command(organizationId, resumeDeliveryUpdate);
  }

  async rewind(organizationId: string, request: RewindRequest): Promise<RewindResult> {
    return this.command(organizationId, rewindDeliveryUpdate, request);
  }

  /** What the running workflow says of itself, or null when it is not running. */
  async status(organizationId: string): Promise<DeliveryWorkflowStatus | null> {
    try {
      return await this.client.withDeadline(Date.now() + this.callTimeoutMs, () =>
        this.client.workflow.getHandle(deliveryWorkflowId(organizationId, this.channel)).query(deliveryStatusQuery),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  private async command<Ret, Args extends unknown[]>(
    organizationId: string,
    update: UpdateDefinition<Ret, Args>,
    ...args: Args
  ): Promise<Ret> {
    return runCommand(
      this.client,
      this.updateTimeoutMs,
      organizationId,
      () =>
        new WithStartWorkflowOperation(DELIVERY_WORKFLOW_TYPE, {
          ...this.startOptions(organizationId),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      update,
      ...args,
    );
  }
}
