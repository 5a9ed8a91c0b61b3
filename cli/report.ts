import { getRun, type SyncRunRow } from '../db/repositories/sync-runs/runs';
import type { ApplyCounts, PlanSummary, ReconcileKind, ReconcileProgress } from '../domain/reconcile';
import type { CliContext } from './context';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK } from './errors';
import { duration, n, rate } from './format';
import type { WatchResult } from './watch';
import { cliPrefix } from '../domain/cli-command';

/**
 * What a command that started or followed a run reports at the end: one object (printed as
 * JSON with --json) and its human rendering, with the next commands to run.
 */

export type ReportStatus = 'accepted' | 'completed' | 'planned' | 'needs_approval' | 'cancelled' | 'failed' | 'detached';

export interface RunReport {
  organizationId: string;
  runId: string;
  kind: ReconcileKind;
  dryRun: boolean;
  trigger: string | null;
  status: ReportStatus;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  pages: number | null;
  usersFetched: number | null;
  usersTotal: number | null;
  groupsFetched: number | null;
  groupsTotal: number | null;
  plan: PlanSummary | null;
  result: ApplyCounts | null;
  error: string | null;
}

export function exitCodeFor(status: ReportStatus): number {
  if (status === 'detached') return EXIT_INTERRUPTED;
  return status === 'failed' || status === 'cancelled' ? EXIT_FAILURE : EXIT_OK;
}

/** Builds the report from what the watch saw, completed with the run's row when it is readable. */
export async function buildReport(
  ctx: CliContext,
  base: { organizationId: string; runId: string; kind: ReconcileKind; dryRun: boolean; trigger: string | null },
  watched: WatchResult | null,
): Promise<RunReport> {
  let row: SyncRunRow | undefined;
  try {
    row = await ctx.withDb((db) => getRun(db, base.organizationId, base.runId));
  } catch {
    row = undefined; // the report still has what the workflow said
  }
  const progress: ReconcileProgress | null =
    watched?.kind === 'awaiting_approval'
      ? watched.progress
      : watched?.kind === 'ended' || watched?.kind === 'detached'
        ? watched.last
        : null;
  const outcome = watched?.kind === 'ended' ? watched.outcome : null;
  const status: ReportStatus =
    watched === null
      ? 'accepted'
      : watched.kind === 'ended'
        ? watched.outcome.status
        : watched.kind === 'awaiting_approval'
          ? 'needs_approval'
          : 'detached';
  const startedAt = row?.createdAt ?? progress?.startedAt ?? null;
  const finishedAt = outcome ? (row?.finishedAt ?? outcome.finishedAt) : null;
  return {
    organizationId: base.organizationId,
    runId: base.runId,
    kind: outcome?.kind ?? row?.kind ?? progress?.kind ?? base.kind,
    dryRun: base.dryRun,
    trigger: row?.trigger ?? progress?.trigger ?? base.trigger,
    status,
    startedAt,
    finishedAt,
    durationMs: startedAt && finishedAt ? Date.parse(finishedAt) - Date.parse(startedAt) : null,
    pages: row?.pagesFetched ?? progress?.pages ?? null,
    usersFetched: row?.usersFetched ?? progress?.usersFetched ?? null,
    usersTotal: row?.usersTotal ?? progress?.usersTotal ?? null,
    groupsFetched: row?.groupsFetched ?? progress?.groupsFetched ?? null,
    groupsTotal: row?.groupsTotal ?? progress?.groupsTotal ?? null,
    plan: outcome?.plan ?? progress?.plan ?? row?.plan ?? null,
    result: outcome?.result ?? row?.result ?? null,
    error: outcome?.error ?? row?.error ?? null,
  };
}

function planLines(plan: PlanSummary): string[] {
  const u = plan.users;
  const g = plan.groups;
  return [
    `  users   create ${n(u.create)} · update ${n(u.update)} · deactivate ${n(u.deactivate)} · reactivate ${n(u.reactivate)} · unchanged ${n(u.unchanged)} · skipped (newer events) ${n(u.skippedNewer)}`,
    `  groups  create ${n(g.create)} · update ${n(g.update)} · delete ${n(g.delete)} · restore ${n(g.restore)} · unchanged ${n(g.unchanged)} · skipped (newer events) ${n(g.skippedNewer)}`,
    `  drift   ${n(plan.drift)}`,
    ...directoryPlanLines(plan),
  ];
}

/**
 * The plan per directory, when there is more to say than "the one directory was read": several
 * directories, one left alone (disabled, or its details could not be read), one not listed by
 * Scalekit (gone, or missing for the first time), users whose directory is unknown.
 */
export function directoryPlanLines(plan: PlanSummary): string[] {
  const dirs = plan.directories ?? [];
  if (dirs.length <= 1 && dirs.every((d) => d.read && d.id !== null)) return [];
  return dirs.map((d) => {
    const name = d.id === null ? 'directory (not known)' : `directory ${d.id}${d.provider ? ` (${d.provider})` : ''}`;
    const deactivate = `deactivate ${n(d.deactivate)} of ${n(d.activeUsers)} active users`;
    const kept = `its ${n(d.activeUsers)} active users are left as they are`;
    if (d.removed && d.missingOnce) {
      return `  ${name}: not listed by Scalekit this time: ${kept}; the next full run deactivates them if it does not list it either`;
    }
    if (d.removed) return `  ${name}: no longer in Scalekit: ${deactivate}`;
    if (d.id === null) return `  ${name}: ${deactivate} (those no directory lists)`;
    if (!d.read && d.notRead) return `  ${name}: listed but not read (${d.notRead}): ${kept}`;
    if (!d.read) return `  ${name}: disabled, not read: ${kept}`;
    return `  ${name}: read, ${n(d.usersFetched)} users fetched: ${deactivate}`;
  });
}

export function guardText(plan: PlanSummary): string {
  const share = plan.activeUsersBefore > 0 ? ` (${Math.round((plan.users.deactivate / plan.activeUsersBefore) * 100)}%)` : '';
  return (
    `it would deactivate ${n(plan.users.deactivate)} of ${n(plan.activeUsersBefore)} active users${share}, ` +
    `beyond the guard (more than ${Math.round(plan.guard.share * 100)}% and at least ${n(plan.guard.minimum)})`
  );
}

export function decisionLines(organizationId: string, runId: string): string[] {
  return [
    `  see the changes   ${cliPrefix()} plan ${organizationId} ${runId}`,
    `  apply it          ${cliPrefix()} approve ${organizationId} ${runId}`,
    `  discard it        ${cliPrefix()} cancel ${organizationId} ${runId}`,
  ];
}

export function watchAgainLines(organizationId: string): string[] {
  return [`  watch it          ${cliPrefix()} status ${organizationId}`, `  list runs         ${cliPrefix()} runs ${organizationId}`];
}

/** The human rendering of a report. */
export function reportLines(r: RunReport): string[] {
  const what = `${r.kind}${r.dryRun ? ' dry run' : ''}${r.trigger ? ` (${r.trigger})` : ''} of ${r.organizationId}`;
  const fetched =
    r.usersFetched !== null
      ? `${n(r.usersFetched)} users and ${n(r.groupsFetched)} groups fetched in ${n(r.pages)} pages` +
        (r.durationMs && r.durationMs > 0 ? ` (${rate((r.usersFetched / r.durationMs) * 1_000)} users/s)` : '')
      : null;
  switch (r.status) {
    case 'accepted':
      return [`run ${r.runId} continues in the organization workflow:`, ...watchAgainLines(r.organizationId)];
    case 'detached':
      return [
        `detached: run ${r.runId} goes on in the organization workflow (Ctrl-C does not stop it; \`${cliPrefix()} cancel ${r.organizationId} ${r.runId}\` does).`,
        ...watchAgainLines(r.organizationId),
      ];
    case 'completed': {
      const lines = [`run ${r.runId} completed in ${duration(r.durationMs)}: ${what}${fetched ? `, ${fetched}` : ''}`];
      const res = r.result;
      if (res) {
        const u = res.users;
        const g = res.groups;
        lines.push(
          `  users   created ${n(u.created)} · updated ${n(u.updated)} · deactivated ${n(u.deactivated)} · reactivated ${n(u.reactivated)} · unchanged ${n(u.unchanged)} · skipped (newer events) ${n(u.skippedNewer)} · failed ${n(u.failed)}`,
          `  groups  created ${n(g.created)} · updated ${n(g.updated)} · deleted ${n(g.deleted)} · restored ${n(g.restored)} · skipped (newer events) ${n(g.skippedNewer)}`,
          `  drift   ${n(res.drift)} change${res.drift === 1 ? '' : 's'} that events had not brought${r.trigger === 'import' ? ' (on a first import: everything)' : ''}`,
        );
        if (r.plan) lines.push(...directoryPlanLines(r.plan));
        if (u.failed > 0)
          lines.push(`  ${n(u.failed)} user(s) could not be written: see why with \`${cliPrefix()} plan ${r.organizationId} ${r.runId}\``);
      }
      return lines;
    }
    case 'planned': {
      const lines = [`run ${r.runId} planned in ${duration(r.durationMs)}: ${what}; nothing was changed${fetched ? ` (${fetched})` : ''}`];
      if (r.plan) {
        lines.push(...planLines(r.plan));
        if (r.plan.needsApproval) lines.push(`  guard   applying it needs care: ${guardText(r.plan)}`);
      }
      lines.push('next:', ...decisionLines(r.organizationId, r.runId));
      return lines;
    }
    case 'needs_approval':
      return [
        `run ${r.runId} stopped before applying anything: ${r.plan ? guardText(r.plan) : 'the deprovision guard tripped'}.`,
        ...(r.plan ? planLines(r.plan) : []),
        'It waits for a decision:',
        ...decisionLines(r.organizationId, r.runId),
      ];
    case 'cancelled':
      return [`run ${r.runId} was cancelled: ${what}; nothing of it was applied.`];
    case 'failed':
      return [
        `run ${r.runId} failed: ${r.error ?? 'unknown error'}`,
        `next: check the worker's log, fix the cause, and start another with \`${cliPrefix()} reconcile ${r.organizationId}\``,
      ];
  }
}
