import type { RoleCounts } from './roles';

/**
 * Reconciliations and imports (sync runs): what is asked, what a run reads, plans and applies, and
 * how it goes. Shared by the organization workflow, its activities, the database and the clients
 * (API, CLI); types only, safe to import from workflow code.
 */

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
  users: {
    created: number;
    updated: number;
    deactivated: number;
    reactivated: number;
    unchanged: number;
    skippedNewer: number;
    failed: number;
  };
  groups: { created: number; updated: number; deleted: number; restored: number; skippedNewer: number };
  drift: number;
  /** Group memberships the run added or removed (absent in runs recorded before they were counted). */
  memberships?: number;
  /** Role grants the run changed (absent in runs recorded before roles were resolved). */
  roles?: RoleCounts;
  /** Quarantined events applied after the run, their conflict cleared by it (absent in older runs). */
  recoveredEvents?: number;
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

/**
 * The steps of a run's plan and of its apply, in order. Each is one transaction of set-based
 * statements; between statements the activity reports which step it has reached (RunStep), so
 * a long plan or apply shows where it is.
 */
export const PLAN_STEPS = ['users in the directory', 'users no longer in it', 'groups', 'summary'] as const;
export const APPLY_STEPS = [
  'planning again',
  'groups',
  'deactivations',
  'e-mail conflicts',
  'users created and updated',
  'memberships',
  'outcomes',
  'directories',
  'roles',
  'change records',
] as const;
export type RunStepName = (typeof PLAN_STEPS)[number] | (typeof APPLY_STEPS)[number];

/** Where a run's plan or apply is (read by the CLI and the API while it runs). */
export interface RunStep {
  phase: 'plan' | 'apply';
  step: RunStepName;
  /** 1-based position of the step in its phase, and the number of steps. */
  index: number;
  of: number;
  /** Within a step that works in chunks (roles): how far it is. */
  done: number | null;
  total: number | null;
  phaseStartedAt: string;
  updatedAt: string;
}

/** Reports the step a plan or apply has reached; never throws, never waits. */
export type StepReporter = (step: RunStepName, progress?: { done: number; total: number }) => void;

/** The position of a step in its phase (1-based) and the phase's number of steps. */
export function stepPosition(phase: RunStep['phase'], step: RunStepName): { index: number; of: number } {
  const steps: readonly string[] = phase === 'plan' ? PLAN_STEPS : APPLY_STEPS;
  return { index: steps.indexOf(step) + 1, of: steps.length };
}

/**
 * What the workflow keeps of a run between steps: a cursor, never directory data. It walks the
 * directories the run reads (`directoryIds`), each one's users then groups, page by page. A
 * cursor without `directoryIds` (a run started before organizations had several directories)
 * reads `directoryId` alone.
 */
export interface ReconcileCursor extends ReconcileProgress {
  /** When the deprovision guard stopped the run (workflow time). */
  awaitingSince?: string;
  /** Event batches the organization had applied when the plan was made (replan if more since). */
  batchesAtPlan?: number;
  /** The directory being read. */
  directoryId: string;
  pageToken: string;
  /** A delta reads the current directory from here (null: in full). */
  updatedAfter: string | null;
  /** The run's counters when it started reading the current directory. */
  directoryStart?: { usersFetched: number; groupsFetched: number; usersTotal: number; groupsTotal: number };
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

/** A directory user as a run reads it from Scalekit (into its snapshot). */
export interface SnapshotUser {
  id: string;
  /** The directory whose listing had the user. */
  directoryId: string;
  email: string | null;
  preferredUsername: string | null;
  givenName: string | null;
  familyName: string | null;
  updatedNs: string;
  groups: string[];
}

/** A directory group as a run reads it from Scalekit. */
export interface SnapshotGroup {
  id: string;
  directoryId: string;
  displayName: string | null;
  updatedNs: string;
}
