/**
 * The mass-deprovision guard: a reconcile that would deactivate a large share of an
 * organization's active users (a directory misconfigured, a filter changed in the identity
 * provider) stops and waits for a person to approve or cancel it, instead of locking everyone out.
 */

export interface DeprovisionGuard {
  /** Stop when a run would deactivate more than this share of the active users… */
  share: number;
  /** …and at least this many. */
  minimum: number;
}

export interface PlannedDeactivations {
  /** A dry run only shows its plan: it never waits for approval. */
  dryRun: boolean;
  /** Users the plan deactivates. */
  deactivate: number;
  /** Active users of the organization before the run. */
  activeUsers: number;
}

/** Whether applying the plan needs a person's approval. */
export function needsApproval(plan: PlannedDeactivations, guard: DeprovisionGuard): boolean {
  return !plan.dryRun && plan.deactivate >= guard.minimum && plan.deactivate > guard.share * plan.activeUsers;
}
