import {
  Client,
  Connection,
  type WorkflowClientInterceptor,
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { DataConverter, UpdateDefinition } from '@temporalio/common';
import type { DirectoryEvent } from '../domain/events';
import type { QuarantineRetryResult } from '../domain/quarantine';
import type { ReconcileAccepted, ReconcileRequest } from '../domain/reconcile';
import type { RoleChangeRequest, RoleChangeResult } from '../domain/roles';
import type { EmailPolicyRequest, EmailPolicyResult } from '../domain/email-policy';
import {
  approveRunUpdate,
  cancelRunUpdate,
  changeRolesUpdate,
  continueAsNewSignal,
  setEmailPolicyUpdate,
  pauseSyncUpdate,
  resumeSyncUpdate,
  retryQuarantinedUpdate,
  directoryEventSignal,
  reconcileSignal,
  startReconcileUpdate,
  type SyncPause,
  ORGANIZATION_WORKFLOW_TYPE,
  organizationWorkflowId,
  SCIM_ORG_ID,
  statusQuery,
  type OrganizationSyncStatus,
} from '../workflows/messages';
import type { OrganizationWorkflowInput } from '../workflows/organization-state';
import { cliPrefix } from '../domain/cli-command';
import { workerPresence, type WorkerPresence } from './workers';
import { DELIVERY_CHANNELS, DELIVERY_WORKFLOW_TYPE, deliveryWorkflowId } from '../workflows/delivery-messages';

/** The Temporal boundary for API and CLI: connect, signal organizations, query them. */

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** Encrypts payloads (see temporal/codec.ts); undefined: payloads as they are. */
  dataConverter?: DataConverter;
  /** Tracing's interceptors when it is on (observability/tracing.ts). */
  interceptors?: WorkflowClientInterceptor[];
}

/**
 * A client whose connection is made on first use, so the API starts (and answers 503) while
 * Temporal is down, and recovers by itself when it comes back.
 */
export function createLazyClient(settings: TemporalSettings): { client: Client; connection: Connection } {
  const connection = Connection.lazy({ address: settings.address, connectTimeout: '3s' });
  return {
    connection,
    client: new Client({
      connection,
      namespace: settings.namespace,
      ...(settings.dataConverter ? { dataConverter: settings.dataConverter } : {}),
      ...(settings.interceptors ? { interceptors: { workflow: settings.interceptors } } : {}),
    }),
  };
}

/** A running workflow of an organization (its own, or one of its deliveries), as Temporal's visibility lists it. */
export interface RunningOrganization {
  organizationId: string;
  workflowId: string;
  kind: 'organization' | 'delivery';
  /** When its current run started (its latest continue-as-new, or its first start). */
  runStartedAt: string;
}

/** The organization and kind of one of scimflow's workflow ids (`scim-org:…`, `scim-delivery…:…`), or null. */
export function workflowOrganization(workflowId: string): { organizationId: string; kind: RunningOrganization['kind'] } | null {
  const org = organizationWorkflowId('');
  if (workflowId.startsWith(org)) return { organizationId: workflowId.slice(org.length), kind: 'organization' };
  for (const channel of DELIVERY_CHANNELS) {
    const prefix = deliveryWorkflowId('', channel);
    if (workflowId.startsWith(prefix)) return { organizationId: workflowId.slice(prefix.length), kind: 'delivery' };
  }
  return null;
}

/** The organization workflow refused a command (reconcile, approve, cancel, role change); `message` says why and what to do. */
export class WorkflowRefusedError extends Error {
  constructor(
    readonly organizationId: string,
    message: string,
    readonly reason: string | null,
  ) {
    super(message);
    this.name = 'WorkflowRefusedError';
  }
}

/**
 * The organization workflow did not answer a command within the deadline. The command was sent:
 * it may still be carried out (the workflow's status tells).
 */
export class WorkflowTimeoutError extends Error {
  constructor(
    readonly organizationId: string,
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(
      `the workflow of organization ${organizationId} did not answer "${command}" within ${Math.round(timeoutMs / 1000)} s; ` +
        `it may still carry it out: see its status (${cliPrefix()} status ${organizationId})`,
    );
    this.name = 'WorkflowTimeoutError';
  }
}

/** How an organization's display name is found (null: it has none, or it is not known yet). */
export type DisplayNames = (organizationId: string) => Promise<string | null>;

/** A lookup of the display name that takes longer than this starts the workflow with the id alone. */
const DISPLAY_NAME_WAIT_MS = 500;

/**
 * The workflow's summary in the Temporal UI, set when it starts: the organization's display name
 * when it is known then (registered before its first event), otherwise its id alone.
 */
export function organizationSummary(organizationId: string, displayName: string | null): string {
  const name = displayName?.replace(/\s+/g, ' ').trim().slice(0, 120);
  return name ? `Directory sync for ${name} (${organizationId})` : `Directory sync for organization ${organizationId}`;
}

/** Upper bound for a command: longer than the workflow's own longest wait in one (a cancel waits 30 s for the run to stop). */
export const DEFAULT_UPDATE_TIMEOUT_MS = 2 * 60_000;

/** A deadline's timer may fire a little before the clock reads the deadline. */
const DEADLINE_SLACK_MS = 100;

export class OrganizationWorkflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    /** Upper bound for one call, so a webhook answers 503 quickly instead of hanging. */
    private readonly callTimeoutMs = 5_000,
    /** Upper bound for one command (an update), which waits for the workflow to carry it out. */
    private readonly updateTimeoutMs = DEFAULT_UPDATE_TIMEOUT_MS,
  ) {}

  private displayNames: DisplayNames | undefined;
  /** Names found (they rarely change); bounded. A missing one is asked again next time. */
  private readonly names = new Map<string, string>();

  /** Starts the organizations' workflows with their display names in their summary (see organizationSummary). */
  namedBy(displayNames: DisplayNames): this {
    this.displayNames = displayNames;
    return this;
  }

  /** The display name if it is at hand quickly; a failed or slow lookup never holds up a start. */
  private async displayName(organizationId: string): Promise<string | null> {
    const known = this.names.get(organizationId);
    const lookup = this.displayNames;
    if (known !== undefined || !lookup) return known ?? null;
    let timer: NodeJS.Timeout | undefined;
    const name = await Promise.race([
      Promise.resolve()
        .then(() => lookup(organizationId))
        .catch(() => null),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), DISPLAY_NAME_WAIT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (name) {
      if (this.names.size >= 10_000) this.names.clear();
      this.names.set(organizationId, name);
    }
    return name;
  }

  /** Durably hands an event to its organization's workflow, starting the workflow if needed. */
  async deliver(event: DirectoryEvent): Promise<void> {
    const options = await this.startOptions(event.organizationId);
    await this.client.withDeadline(Date.now() + this.callTimeoutMs, () =>
      this.client.workflow.signalWithStart(ORGANIZATION_WORKFLOW_TYPE, {
        ...options,
        signal: directoryEventSignal,
        signalArgs: [event],
      }),
    );
  }

  private async startOptions(organizationId: string) {
    const input: OrganizationWorkflowInput = { organizationId };
    return {
      workflowId: organizationWorkflowId(organizationId),
      taskQueue: this.taskQueue,
      args: [input] as [OrganizationWorkflowInput],
      typedSearchAttributes: [{ key: SCIM_ORG_ID, value: organizationId }],
      staticSummary: organizationSummary(organizationId, await this.displayName(organizationId)),
    };
  }

  /** Starts the organization's workflow if it is not running (idempotent). */
  async ensureRunning(organizationId: string): Promise<void> {
    await this.client.workflow.start(ORGANIZATION_WORKFLOW_TYPE, {
      ...(await this.startOptions(organizationId)),
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  /**
   * Starts a reconciliation through the organization workflow (a Temporal Update, so the caller
   * learns at once whether it was accepted). Throws WorkflowRefusedError with the reason.
   */
  async startReconcile(organizationId: string, request: ReconcileRequest): Promise<ReconcileAccepted> {
    return this.command(organizationId, startReconcileUpdate, request);
  }

  async approveRun(organizationId: string, runId: string): Promise<{ runId: string; status: string }> {
    return this.command(organizationId, approveRunUpdate, { runId });
  }

  async cancelRun(organizationId: string, runId: string): Promise<{ runId: string; status: string }> {
    return this.command(organizationId, cancelRunUpdate, { runId });
  }

  /** Changes a role mapping or the default role (or previews it) through the organization workflow. */
  async changeRoles(organizationId: string, request: RoleChangeRequest): Promise<RoleChangeResult> {
    return this.command(organizationId, changeRolesUpdate, request);
  }

  /** Sets the organization's allowed e-mail domains (or previews who would be held or released) through its workflow. */
  async setEmailPolicy(organizationId: string, request: EmailPolicyRequest): Promise<EmailPolicyResult> {
    return this.command(organizationId, setEmailPolicyUpdate, request);
  }

  /** Pauses the organization's sync: events are kept in order, nothing changes until resumed. */
  async pauseSync(organizationId: string, note: string | null): Promise<{ paused: SyncPause; deferred: number }> {
    return this.command(organizationId, pauseSyncUpdate, { note });
  }

  /** Resumes a paused sync: the deferred events are applied in arrival order. */
  async resumeSync(organizationId: string): Promise<{ resumed: SyncPause; deferred: number }> {
    return this.command(organizationId, resumeSyncUpdate);
  }

  /** Applies quarantined events again (the given ids, or the organization's oldest 500). */
  async retryQuarantined(organizationId: string, eventIds: string[] | null): Promise<QuarantineRetryResult> {
    return this.command(organizationId, retryQuarantinedUpdate, { eventIds });
  }

  /** Asks for a reconcile that is skipped if one is already running (what schedules do). */
  async requestReconcile(organizationId: string, request: ReconcileRequest): Promise<void> {
    await this.client.workflow.signalWithStart(ORGANIZATION_WORKFLOW_TYPE, {
      ...(await this.startOptions(organizationId)),
      signal: reconcileSignal,
      signalArgs: [request],
    });
  }

  /**
   * Runs a command of the organization workflow (a Temporal Update), starting the workflow first
   * if it is not running (update-with-start), and waits for its answer until the deadline (see
   * runCommand).
   */
  private async command<Ret, Args extends unknown[]>(
    organizationId: string,
    update: UpdateDefinition<Ret, Args>,
    ...args: Args
  ): Promise<Ret> {
    const options = await this.startOptions(organizationId);
    return runCommand(
      this.client,
      this.updateTimeoutMs,
      organizationId,
      () => new WithStartWorkflowOperation(ORGANIZATION_WORKFLOW_TYPE, { ...options, workflowIdConflictPolicy: 'USE_EXISTING' }),
      update,
      ...args,
    );
  }

  /** The workflow's status, or null when the organization has no workflow yet. */
  async status(organizationId: string): Promise<OrganizationSyncStatus | null> {
    try {
      return await this.client.withDeadline(Date.now() + this.callTimeoutMs, () =>
        this.client.workflow.getHandle(organizationWorkflowId(organizationId)).query(statusQuery),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  /**
   * Asks a running workflow (the organization's by default, or one of its deliveries by id) to
   * continue as new at its next idle point. WorkflowNotFoundError when it does not run.
   */
  async requestContinueAsNew(organizationId: string, workflowId = organizationWorkflowId(organizationId)): Promise<void> {
    await this.client.withDeadline(Date.now() + this.callTimeoutMs, () =>
      this.client.workflow.getHandle(workflowId).signal(continueAsNewSignal),
    );
  }

  /**
   * The organization workflows and delivery workflows running on this task queue (Temporal's
   * visibility, which may lag a second behind), only those whose current run started before
   * `startedBefore` when given.
   */
  async listRunning(startedBefore?: Date): Promise<RunningOrganization[]> {
    const clauses = [
      `(WorkflowType = '${ORGANIZATION_WORKFLOW_TYPE}' OR WorkflowType = '${DELIVERY_WORKFLOW_TYPE}')`,
      `ExecutionStatus = 'Running'`,
      `TaskQueue = '${this.taskQueue}'`,
    ];
    if (startedBefore) clauses.push(`StartTime < '${startedBefore.toISOString()}'`);
    const out: RunningOrganization[] = [];
    for await (const w of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      const of = workflowOrganization(w.workflowId);
      if (of) out.push({ ...of, workflowId: w.workflowId, runStartedAt: w.startTime.toISOString() });
    }
    return out.sort((a, b) => a.organizationId.localeCompare(b.organizationId) || a.workflowId.localeCompare(b.workflowId));
  }

  /** Whether a worker polls this task queue, and when one last did (see temporal/workers.ts). */
  async workerPresence(): Promise<WorkerPresence> {
    return this.client.withDeadline(Date.now() + this.callTimeoutMs, () => workerPresence(this.client, this.taskQueue));
  }

  /** True when the Temporal frontend answers. */
  async reachable(): Promise<boolean> {
    try {
      await this.client.withDeadline(Date.now() + 2_000, () => this.client.connection.workflowService.getSystemInfo({}));
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Runs a command of an organization's workflow (a Temporal Update) with update-with-start, and
 * waits for its answer until the deadline. A validator's rejection and a handler's refusal both
 * arrive as the update's failure: WorkflowRefusedError. The deadline passing:
 * WorkflowTimeoutError. Anything else (Temporal unreachable) is thrown as it is.
 */
export async function runCommand<Ret, Args extends unknown[]>(
  client: Client,
  timeoutMs: number,
  organizationId: string,
  /** A new start operation for each try (one can be used once). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  start: () => WithStartWorkflowOperation<any>,
  update: UpdateDefinition<Ret, Args>,
  ...args: Args
): Promise<Ret> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.withDeadline(deadline, () =>
        client.workflow.executeUpdateWithStart(update, { args, startWorkflowOperation: start() }),
      );
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause as { message?: string; type?: string } | undefined;
        const message = cause?.message ?? err.message;
        // The run that took it continued as new before handling it: the update never ran, and the
        // workflow's next run takes it when sent again.
        if ((UPDATE_OUTRUN.test(message) || UPDATE_OUTRUN.test(err.message)) && attempt < MAX_UPDATE_TRIES && Date.now() < deadline) {
          continue;
        }
        throw new WorkflowRefusedError(organizationId, message, cause?.type ?? null);
      }
      // The call ran until the deadline: Temporal took the command, the workflow did not answer it
      // in time. (A connection that could not be made fails long before, and is thrown as it is.)
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError && Date.now() >= deadline - DEADLINE_SLACK_MS) {
        throw new WorkflowTimeoutError(organizationId, update.name, timeoutMs);
      }
      throw err;
    }
  }
}

/** Temporal's failure for an update whose run ended (or continued as new) before it was handled. */
export const UPDATE_OUTRUN = /completed before the Update completed/i;
/** Sends of one command, when runs keep ending under it. */
const MAX_UPDATE_TRIES = 3;

/**
 * Why Temporal refuses an event itself, or null. Only a payload over Temporal's size limits is
 * refused for what it is; any other failure means Temporal is unavailable (or misconfigured) and
 * the same delivery succeeds once that is fixed.
 */
export function deliveryRefusal(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = String((e as { message?: unknown }).message ?? '');
    // 3 INVALID_ARGUMENT ("Blob data size exceeds limit"), 8 RESOURCE_EXHAUSTED (a gRPC message over
    // the maximum); the same codes for other reasons (a rate limit) are not about the event.
    if ((code === 3 || code === 8) && /size exceeds|larger than max/i.test(message)) {
      return `it is too large for a Temporal payload (${message.slice(0, 200)})`;
    }
  }
  return null;
}
