import { setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ReconcileCursor } from '../domain/reconcile';
import { cliPrefix } from '../domain/cli-command';
import { SCIM_STATE, type ScimState } from './messages';
import type { OrganizationState } from './organization-state';

/**
 * What the Temporal UI shows of an organization's workflow to an operator who runs no query: its
 * current details (a few lines of markdown) and the `ScimState` search attribute the workflow
 * list filters on. Counts, ids and times only: never a person's name or e-mail address.
 */

/** The state the workflow list filters on; what needs a person comes first. */
export function scimState(state: OrganizationState): ScimState {
  if (state.paused) return 'paused';
  if (state.reconcile?.phase === 'awaiting_approval') return 'awaiting_approval';
  if (state.reconcileBusy) return 'reconciling';
  if (state.queued > 0 || state.applying || state.resuming) return 'applying';
  return 'idle';
}

const HEADLINES: Record<ScimState, string> = {
  idle: 'Idle',
  applying: 'Applying events',
  reconciling: 'Reconciling',
  awaiting_approval: 'Awaiting approval',
  paused: 'Paused',
};

function counted(n: number, total: number | null, what: string): string {
  return total === null ? `${n} ${what}` : `${n} of ${total} ${what}`;
}

/** Where a run is: its phase with its progress. */
function runProgress(org: string, c: ReconcileCursor): string {
  const directories = c.directoryIds ?? [];
  const directory = directories.length > 1 ? `directory ${(c.directoryIndex ?? 0) + 1} of ${directories.length}, ` : '';
  switch (c.phase) {
    case 'users':
      return `reading users (${directory}${c.pages} pages read, ${counted(c.usersFetched, c.usersTotal, 'users')})`;
    case 'groups':
      return `reading groups (${directory}${c.pages} pages read, ${counted(c.groupsFetched, c.groupsTotal, 'groups')})`;
    case 'plan':
      return `planning (${c.usersFetched} users and ${c.groupsFetched} groups read)`;
    case 'awaiting_approval': {
      const deactivate = c.plan ? `it would deactivate ${c.plan.users.deactivate} of ${c.plan.activeUsersBefore} active users; ` : '';
      return `waiting for approval: ${deactivate}\`${cliPrefix()} approve ${org} ${c.runId}\` or \`${cliPrefix()} cancel ${org} ${c.runId}\``;
    }
    case 'apply':
      return 'applying its plan';
  }
}

/** The workflow's current details: state, queue, last applied batch, the run in progress (or the last one). */
export function organizationDetails(state: OrganizationState): string {
  const org = state.organizationId;
  const now = scimState(state);
  const lines: string[] = [];
  const p = state.paused;
  if (p) {
    lines.push(`**Paused** since ${p.since}${p.note ? `: ${p.note}` : ''}`);
    lines.push(`Events are kept in arrival order until \`${cliPrefix()} resume ${org}\``);
  } else if (state.resuming) lines.push('**Applying the events kept during the pause**');
  else lines.push(`**${HEADLINES[now]}**`);
  if (state.queued > 0) lines.push(`Queue: ${state.queued} events`);
  const c = state.counters;
  if (c.lastBatchAt) lines.push(`Last applied: batch ${c.batches} at ${c.lastBatchAt} (${c.applied} events applied in all)`);
  const r = state.reconcile;
  if (r) {
    const what = [r.kind, r.dryRun ? 'dry run' : null, r.trigger].filter(Boolean).join(', ');
    lines.push(`Run ${r.runId} (${what}): ${runProgress(org, r)}${r.cancelRequested ? '; cancel requested' : ''}`);
  } else if (state.opening) lines.push('Run: being opened');
  else if (state.lastReconcile) {
    const l = state.lastReconcile;
    lines.push(`Last run${l.runId ? ` ${l.runId}` : ''} (${l.kind}${l.dryRun ? ', dry run' : ''}): ${l.status} at ${l.finishedAt}`);
  }
  return lines.join('\n\n');
}

/**
 * Keeps the UI's view of the workflow up to date: call `refresh()` whenever the state may have
 * changed. The details are no command; an upsert of the search attribute is one, so it is made
 * only in runs with the patch (`upserts`), once the namespace is known to have the attribute (an
 * upsert of an attribute the namespace lacks would fail every workflow task), and only when the
 * value changes.
 */
export class OrganizationView {
  private shown = '';
  private searchable = false;
  /** The value the workflow carries (the previous run's, after a continue-as-new). */
  private indexed: ScimState | undefined;

  constructor(
    private readonly state: OrganizationState,
    readonly upserts: boolean,
  ) {
    this.indexed = workflowInfo().typedSearchAttributes.get(SCIM_STATE) as ScimState | undefined;
  }

  /** The namespace has `ScimState`: the search attribute follows the state from now on. */
  enableSearch(): void {
    this.searchable = this.upserts;
    this.refresh();
  }

  refresh(): void {
    const details = organizationDetails(this.state);
    if (details !== this.shown) {
      setCurrentDetails(details);
      this.shown = details;
    }
    if (!this.searchable) return;
    const now = scimState(this.state);
    if (now !== this.indexed) {
      upsertSearchAttributes([{ key: SCIM_STATE, value: now }]);
      this.indexed = now;
    }
  }

  /**
   * Refreshes now and once `handled` settles, and returns it as it is: a handler's answer is sent
   * exactly when it was before (no extra await in its path).
   */
  around<T>(handled: Promise<T>): Promise<T> {
    this.refresh();
    handled.then(
      () => this.refresh(),
      () => this.refresh(),
    );
    return handled;
  }
}
