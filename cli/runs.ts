import { listPlanChanges, type PlanChange } from '../db/repositories/sync-runs/plan';
import { getRun, listRuns, type SyncRunRow } from '../db/repositories/sync-runs/runs';
import { WorkflowRefusedError } from '../temporal/client';
import type { CliContext } from './context';
import { CliError, RefusedError } from './errors';
import { requireOrganization } from './pause';
import { ago, duration, n, table, time, truncate } from './format';
import { ProgressRenderer } from './progress';
import { buildReport, directoryPlanLines, exitCodeFor, guardText, reportLines } from './report';
import { watchRun } from './watch';
import { cliPrefix } from '../domain/cli-command';

/** `runs`, `plan`, `approve` and `cancel`: reading sync runs from the database, deciding through the workflow. */

function runDuration(r: SyncRunRow): number | null {
  return r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.createdAt) : null;
}

export async function runsCommand(ctx: CliContext, organizationId: string, opts: { json?: boolean; limit: number }): Promise<number> {
  const runs = await ctx.withDb((db) => listRuns(db, organizationId, opts.limit));
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, runs }));
    return 0;
  }
  if (runs.length === 0) {
    ctx.io.out(`no runs for ${organizationId} yet: start one with \`${cliPrefix()} import ${organizationId}\``);
    return 0;
  }
  const rows = runs.map((r) => [
    r.id,
    r.kind,
    r.trigger,
    r.dryRun ? 'yes' : 'no',
    r.status,
    time(r.createdAt),
    r.finishedAt ? duration(runDuration(r)) : `${ago(r.createdAt)} (${r.phase})`,
    r.usersTotal !== null && r.usersFetched < r.usersTotal ? `${n(r.usersFetched)}/${n(r.usersTotal)}` : n(r.usersFetched),
    r.drift === null ? '-' : n(r.drift),
  ]);
  for (const line of table(['RUN', 'KIND', 'TRIGGER', 'DRY RUN', 'STATUS', 'STARTED', 'DURATION', 'USERS FETCHED', 'DRIFT'], rows))
    ctx.io.out(line);
  const waiting = runs.find((r) => r.status === 'needs_approval' || r.status === 'planned');
  if (waiting) ctx.io.out(`run ${waiting.id} waits for a decision: \`${cliPrefix()} plan ${organizationId} ${waiting.id}\``);
  return 0;
}

/** A plan value as people read it: a missing one (a new user has no e-mail before) says so. */
export function planValue(v: unknown): string {
  if (v === undefined || v === null) return '(none)';
  if (Array.isArray(v) && v.length === 0) return '[]';
  return JSON.stringify(v);
}

function describeChanges(c: PlanChange): string {
  const fields = Object.entries(c.changes ?? {})
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([field, v]) => `${field}: ${planValue(v.from)} → ${planValue(v.to)}`);
  return truncate(fields.join('; ') || '-', 100);
}

export async function planCommand(
  ctx: CliContext,
  organizationId: string,
  runId: string,
  opts: { json?: boolean; limit: number; after?: string },
): Promise<number> {
  const { run, changes } = await ctx.withDb(async (db) => {
    const found = await getRun(db, organizationId, runId);
    if (!found)
      throw new CliError(`run ${runId} of ${organizationId} does not exist: list runs with \`${cliPrefix()} runs ${organizationId}\``);
    return { run: found, changes: await listPlanChanges(db, runId, { limit: opts.limit, ...(opts.after ? { after: opts.after } : {}) }) };
  });
  const last = changes.at(-1);
  const nextCursor = changes.length === opts.limit && last ? `${last.entity}:${last.entityId}` : null;
  if (opts.json) {
    ctx.io.out(
      JSON.stringify({
        organizationId,
        runId,
        status: run.status,
        kind: run.kind,
        dryRun: run.dryRun,
        plan: run.plan,
        changes,
        nextCursor,
      }),
    );
    return 0;
  }
  const p = run.plan;
  ctx.io.out(
    `run ${run.id}: ${run.kind}${run.dryRun ? ' dry run' : ''} (${run.trigger}), ${run.status}, snapshot at ${time(run.snapshotAt)}`,
  );
  if (!p) {
    ctx.io.out(
      `no plan yet: the run is in phase ${run.phase}${run.status === 'running' ? `; follow it with \`${cliPrefix()} status ${organizationId}\`` : ''}`,
    );
    return 0;
  }
  ctx.io.out(
    `  users   create ${n(p.users.create)} · update ${n(p.users.update)} · deactivate ${n(p.users.deactivate)} · reactivate ${n(p.users.reactivate)} · unchanged ${n(p.users.unchanged)} · skipped (newer events) ${n(p.users.skippedNewer)}`,
  );
  ctx.io.out(
    `  groups  create ${n(p.groups.create)} · update ${n(p.groups.update)} · delete ${n(p.groups.delete)} · restore ${n(p.groups.restore)} · unchanged ${n(p.groups.unchanged)} · skipped (newer events) ${n(p.groups.skippedNewer)}`,
  );
  ctx.io.out(`  drift   ${n(p.drift)}   active users before: ${n(p.activeUsersBefore)}`);
  for (const line of directoryPlanLines(p)) ctx.io.out(line);
  if (p.needsApproval) ctx.io.out(`  guard   ${guardText(p)}`);
  ctx.io.out('');
  if (changes.length === 0) ctx.io.out(opts.after ? 'no more changes' : 'no changes');
  else {
    const rows = changes.map((c) => [
      c.entity,
      c.entityId,
      truncate(c.label ?? '-', 40),
      c.action,
      c.outcome ?? (run.status === 'completed' ? '-' : 'planned'),
      c.detail ? `${describeChanges(c)} (${c.detail})` : describeChanges(c),
    ]);
    for (const line of table(['ENTITY', 'ID', 'WHO', 'ACTION', 'OUTCOME', 'CHANGES'], rows)) ctx.io.out(line);
  }
  if (nextCursor) ctx.io.out(`more: ${cliPrefix()} plan ${organizationId} ${runId} --limit ${opts.limit} --after ${nextCursor}`);
  if (run.status === 'planned' || run.status === 'needs_approval') {
    ctx.io.out(`decide: \`${cliPrefix()} approve ${organizationId} ${runId}\` or \`${cliPrefix()} cancel ${organizationId} ${runId}\``);
  }
  return 0;
}

export async function decideCommand(
  ctx: CliContext,
  decision: 'approve' | 'cancel',
  organizationId: string,
  runId: string,
  opts: { json?: boolean; wait?: boolean },
): Promise<number> {
  // Nothing starts a workflow for an organization scimflow has never seen.
  await requireOrganization(ctx, organizationId);
  // The workflow would quietly "cancel" a run that never existed: check the id first.
  const known = await ctx.withDb((db) => getRun(db, organizationId, runId));
  if (!known)
    throw new CliError(`run ${runId} of ${organizationId} does not exist: list runs with \`${cliPrefix()} runs ${organizationId}\``);
  const temporal = await ctx.temporal();
  let answer: { runId: string; status: string };
  try {
    answer =
      decision === 'approve'
        ? await temporal.workflows.approveRun(organizationId, runId)
        : await temporal.workflows.cancelRun(organizationId, runId);
  } catch (err) {
    if (err instanceof WorkflowRefusedError) {
      if (opts.json) {
        ctx.io.out(JSON.stringify({ organizationId, runId, status: 'refused', error: err.message }));
        return 1;
      }
      throw new RefusedError(err.message);
    }
    throw ctx.temporalError(err);
  }
  if (decision === 'approve' && opts.wait) {
    if (!opts.json) ctx.io.out(`approved: run ${runId} is ${answer.status}`);
    const watched = await watchRun(
      ctx,
      temporal,
      organizationId,
      runId,
      opts.json ? undefined : new ProgressRenderer(ctx.io, { tty: ctx.io.errIsTTY }),
    );
    const report = await buildReport(
      ctx,
      { organizationId, runId, kind: known.kind, dryRun: known.dryRun, trigger: known.trigger },
      watched,
    );
    if (opts.json) ctx.io.out(JSON.stringify(report));
    else for (const line of reportLines(report)) ctx.io.out(line);
    return exitCodeFor(report.status);
  }
  if (opts.json) ctx.io.out(JSON.stringify({ organizationId, ...answer }));
  else if (decision === 'approve') {
    ctx.io.out(
      `approved: run ${runId} is ${answer.status}; follow it with \`${cliPrefix()} status ${organizationId}\` (or approve with --wait)`,
    );
  } else ctx.io.out(`cancelled: run ${runId} is ${answer.status}; nothing of it was applied`);
  return 0;
}
