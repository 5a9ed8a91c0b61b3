import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DirectoryEvent } from '../domain/events';
import type { QuarantineRetryRequest, QuarantineRetryResult } from '../domain/quarantine';
import type { ReconcileAccepted, ReconcileKind, ReconcileOutcome, ReconcileProgress, ReconcileRequest } from '../domain/reconcile';
import type { RoleChangeRequest, RoleChangeResult } from '../domain/roles';
import type { EmailPolicyRequest, EmailPolicyResult } from '../domain/email-policy';

/**
 * Message definitions shared by the workflows and their clients (API, CLI); the shapes they carry
 * live in domain/. Importing this module does not import workflow code.
 */

export const ORGANIZATION_WORKFLOW_TYPE = 'organizationWorkflow';

export function organizationWorkflowId(organizationId: string): string {
  return `scim-org:${organizationId}`;
}

/** A verified, normalized directory event for the organization. */
export const directoryEventSignal = defineSignal<[DirectoryEvent]>('directoryEvent');

/** Totals since the workflow was first started (carried across continue-as-new). */
export interface OrganizationCounters {
  received: number;
  applied: number;
  duplicates: number;
  stale: number;
  quarantined: number;
  batches: number;
  /** occurred_at of the newest applied event. */
  lastAppliedEventAt: string | null;
  /** When the batch currently in the database finished (workflow time). */
  lastBatchAt: string | null;
  firstStartedAt: string;
  continuedAsNew: number;
  /** Events kept in the ledger during pauses, in total (each is applied on resume). */
  deferred: number;
}

export interface OrganizationSyncStatus extends OrganizationCounters {
  organizationId: string;
  /** Events received and not yet applied. */
  queued: number;
  /** When this run (after the latest continue-as-new) started. */
  runStartedAt: string;
  /** The reconciliation in progress, if any. */
  reconcile: ReconcileProgress | null;
  /** The last reconciliation that ended (completed, planned, cancelled or failed). */
  lastReconcile: ReconcileOutcome | null;
  /** Reconcile requests from schedules skipped because a run was in progress or sync was paused. */
  reconcilesSkipped: number;
  /** The sync is paused: events are kept, not applied. */
  paused: SyncPause | null;
  /** Resumed, and applying the events deferred during the pause (in arrival order). */
  resuming: boolean;
}

export interface SyncPause {
  since: string;
  note: string | null;
}

/**
 * Pauses the organization's sync: events keep arriving and are kept in the ledger, in order, but
 * nothing changes (users, groups, roles) and no reconcile applies until resumed. Returns once no
 * batch is being applied any more.
 */
export const pauseSyncUpdate = defineUpdate<{ paused: SyncPause; deferred: number }, [{ note: string | null }]>('pauseSync');
/** Resumes: the deferred events are applied in arrival order, then new ones as usual. `deferred`: how many wait. */
export const resumeSyncUpdate = defineUpdate<{ resumed: SyncPause; deferred: number }, []>('resumeSync');

export const statusQuery = defineQuery<OrganizationSyncStatus>('status');

/**
 * Continue as new at the next point the workflow can hand over (no batch, open step or run being
 * opened in the way): its state is then carried in a new run, sealed with today's payload key.
 */
export const continueAsNewSignal = defineSignal('continueAsNew');

// ---------------------------------------------------------------------------------------------
// Reconciliation and imports

/** Starts a reconciliation now; refused while another run is in progress. */
export const startReconcileUpdate = defineUpdate<ReconcileAccepted, [ReconcileRequest]>('startReconcile');
/** From schedules: reconcile when idle, otherwise skip (overlap policy SKIP). */
export const reconcileSignal = defineSignal<[ReconcileRequest]>('requestReconcile');
/** Applies a run that waits for approval (guard tripped) or a dry run's plan. */
export const approveRunUpdate = defineUpdate<{ runId: string; status: string }, [{ runId: string }]>('approveRun');
/** Discards a run that waits for approval, a dry run's plan, or stops a run in progress. */
export const cancelRunUpdate = defineUpdate<{ runId: string; status: string }, [{ runId: string }]>('cancelRun');

export const SCHEDULED_RECONCILE_WORKFLOW_TYPE = 'scheduledReconcileWorkflow';

export function scheduleId(organizationId: string, kind: ReconcileKind): string {
  return kind === 'full' ? `scim-reconcile:${organizationId}` : `scim-reconcile-delta:${organizationId}`;
}

/** Search attributes: organization ids and states only, never personal data or secrets. */
export const SCIM_ORG_ID = defineSearchAttributeKey('ScimOrgId', SearchAttributeType.KEYWORD);

/**
 * What an organization's workflow is doing, for filtering the workflow list to what needs a
 * person (`ScimState = "awaiting_approval"`, `ScimState = "paused"`).
 */
export const SCIM_STATE = defineSearchAttributeKey('ScimState', SearchAttributeType.KEYWORD);
export type ScimState = 'idle' | 'applying' | 'reconciling' | 'awaiting_approval' | 'paused';

export const CUSTOM_SEARCH_ATTRIBUTES = { ScimOrgId: 'Keyword', ScimState: 'Keyword' } as const;

// ---------------------------------------------------------------------------------------------
// Roles: group → role mappings and the organization's default role

/**
 * Changes a role mapping or the default role, and every user's roles with it, serialized with
 * the organization's event batches and reconciles; `dryRun` previews the effect.
 */
export const changeRolesUpdate = defineUpdate<RoleChangeResult, [RoleChangeRequest]>('changeRoles');

/**
 * Sets the organization's allowed e-mail domains: users outside them are held out of the
 * application (told to it as deactivated when it knew them), users inside released, serialized
 * with the organization's event batches and reconciles; `dryRun` lists who would be held or released.
 */
export const setEmailPolicyUpdate = defineUpdate<EmailPolicyResult, [EmailPolicyRequest]>('setEmailPolicy');

// ---------------------------------------------------------------------------------------------
// Quarantined events: an operator's retry

/** Applies quarantined events again (a conflict that cleared, a body an older version could not read). */
export const retryQuarantinedUpdate = defineUpdate<QuarantineRetryResult, [QuarantineRetryRequest]>('retryQuarantined');
