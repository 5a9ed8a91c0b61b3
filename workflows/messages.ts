import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DirectoryEvent } from '../domain/events';

/**
 * Message definitions shared by the workflows and their clients (API, CLI). Importing this module
 * does not import workflow code.
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

// ---------------------------------------------------------------------------------------------
// Reconciliation and imports

export type ReconcileKind = 'full' | 'delta';
export type ReconcilePhase = 'users' | 'groups' | 'plan' | 'awaiting_approval' | 'apply';

export interface ReconcileRequest {
  kind: ReconcileKind;
  dryRun: boolean;
  /** Who asked: 'import', 'cli', 'api', 'schedule'. */
  trigger: string;
}

export interface PlanSummary {
  users: { create: number; update: number; deactivate: number; reactivate: number; unchanged: number; skippedNewer: number };
  groups: { create: number; update: number; delete: number; restore: number; unchanged: number; skippedNewer: number };
  activeUsersBefore: number;
  /** Entity changes the plan makes: for an organization already in sync, what events missed. */
  drift: number;
  /** The mass-deprovision guard tripped: the run waits for approve or cancel. */
  needsApproval: boolean;
  guard: { share: number; minimum: number };
  /** The plan per directory of the organization (absent in plans made before several directories). */
  directories?: DirectoryPlan[];
}

/** One directory in a run's plan. */
export interface DirectoryPlan {
  /** Null for users whose directory is not known. */
  id: string | null;
  provider: string | null;
  enabled: boolean | null;
  /** Read by the run; a disabled directory is listed but not read, its users left as they are. */
  read: boolean;
  /** Scalekit no longer lists it: its users are deactivated by a full run (unless `missingOnce`). */
  removed: boolean;
  /**
   * Not listed for the first time (no earlier full run found it missing): its users are left as
   * they are, and the next full run deactivates them if it does not list it either.
   */
  missingOnce?: boolean;
  /** Listed and enabled but not read: why (its details could not be read); its users are left as they are. */
  notRead?: string;
  usersFetched: number;
  /** Its active users before the run. */
  activeUsers: number;
  /** Of those, the plan deactivates this many. */
  deactivate: number;
}

export interface ApplyCounts {
  users: { created: number; updated: number; deactivated: number; reactivated: number; unchanged: number; skippedNewer: number; failed: number };
  groups: { created: number; updated: number; deleted: number; restored: number; skippedNewer: number };
  drift: number;
  /** Role grants the run changed (absent in runs recorded before roles were resolved). */
  roles?: RoleCounts;
  /** Quarantined events applied after the run, their conflict cleared by it (absent in older runs). */
  recoveredEvents?: number;
}

export interface RoleCounts {
  /** Users whose set of roles changed. */
  usersChanged: number;
  /** Roles users gained, and lost. */
  granted: number;
  revoked: number;
}

export interface ReconcileProgress {
  runId: string;
  kind: ReconcileKind;
  dryRun: boolean;
  trigger: string;
  phase: ReconcilePhase;
  startedAt: string;
  snapshotAt: string;
  pages: number;
  usersFetched: number;
  groupsFetched: number;
  usersTotal: number | null;
  groupsTotal: number | null;
  plan: PlanSummary | null;
  cancelRequested: boolean;
  /** The directories the run reads, in order, and the one it is reading (absent in runs that predate them). */
  directoryIds?: string[];
  directoryIndex?: number;
  /** The directories Scalekit listed that the run does not read, and why (disabled, details not readable). */
  directoriesNotRead?: { id: string; reason: string }[];
}

export interface ReconcileOutcome {
  runId: string;
  kind: ReconcileKind;
  dryRun: boolean;
  status: 'completed' | 'planned' | 'cancelled' | 'failed';
  finishedAt: string;
  plan: PlanSummary | null;
  result: ApplyCounts | null;
  error: string | null;
}

export interface ReconcileAccepted {
  runId: string;
  kind: ReconcileKind;
  dryRun: boolean;
  snapshotAt: string;
}

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

/** Search attributes: organization ids only, never personal data or secrets. */
export const SCIM_ORG_ID = defineSearchAttributeKey('ScimOrgId', SearchAttributeType.KEYWORD);

export const CUSTOM_SEARCH_ATTRIBUTES = { ScimOrgId: 'Keyword' } as const;

// ---------------------------------------------------------------------------------------------
// Roles: group → role mappings and the organization's default role

export type RoleMappingChange =
  | { action: 'map'; groupId: string; role: string; precedence: number }
  | { action: 'unmap'; groupId: string }
  | { action: 'default'; role: string | null };

export interface RoleChangeRequest {
  change: RoleMappingChange;
  /** Compute what would change and change nothing. */
  dryRun: boolean;
}

export interface RoleChangeResult extends RoleCounts {
  dryRun: boolean;
  /** Users whose roles stay the same but are held for another reason after the change. */
  reasonsChanged: number;
  /** The change in words, e.g. `grp_1 → admin (precedence 10)`. */
  summary: string;
  /** The first users whose roles change, with their role names before and after. */
  changes: { userId: string; email: string | null; before: string[]; after: string[] }[];
}

/**
 * Changes a role mapping or the default role, and every user's roles with it, serialized with
 * the organization's event batches and reconciles; `dryRun` previews the effect.
 */
export const changeRolesUpdate = defineUpdate<RoleChangeResult, [RoleChangeRequest]>('changeRoles');

// ---------------------------------------------------------------------------------------------
// Quarantined events: an operator's retry

export interface QuarantineRetryRequest {
  /** The events to retry (up to 500); null: every quarantined event of the organization, oldest first, up to 5,000. */
  eventIds: string[] | null;
}

export interface QuarantineRetryResult {
  /** Quarantined events tried. */
  tried: number;
  applied: number;
  stale: number;
  ignored: number;
  stillQuarantined: number;
  notFound: number;
  /** Of those applied or stale: events the workflow itself had quarantined (a conflict). */
  recovered: number;
  /** Quarantined events of the organization left after this retry. */
  remaining: number;
  /** What became of each event (the first 200). */
  events: { id: string; outcome: string; detail: string }[];
}

/** Applies quarantined events again (a conflict that cleared, a body an older version could not read). */
export const retryQuarantinedUpdate = defineUpdate<QuarantineRetryResult, [QuarantineRetryRequest]>('retryQuarantined');
