import { WorkflowRefusedError } from '../temporal/client';
import type { ReconcileAccepted, ReconcileRequest } from '../domain/reconcile';
import type { CliContext, Temporal } from './context';
import { CliError, grpcCode, RefusedError } from './errors';
import { registerOrganization, registrationLines, type Registration } from './orgs';
import { requireOrganization } from './pause';
import { ProgressRenderer } from './progress';
import { organizationExists } from '../db/repositories/organizations';
import { buildReport, exitCodeFor, reportLines } from './report';
import { watchRun } from './watch';
import { cliPrefix } from '../domain/cli-command';

/** `import` (onboarding) and `reconcile`: start a run through the organization workflow, then follow it. */

export interface RunCommandOptions {
  dryRun?: boolean;
  delta?: boolean;
  json?: boolean;
  /** commander's `--no-wait` */
  wait: boolean;
}

/** How long the organization workflow may take to accept or refuse (it opens the run first). */
const ACCEPT_DEADLINE_MS = 30_000;

export async function startRun(
  ctx: CliContext,
  temporal: Temporal,
  organizationId: string,
  request: ReconcileRequest,
): Promise<ReconcileAccepted> {
  try {
    return await temporal.client.withDeadline(Date.now() + ACCEPT_DEADLINE_MS, () =>
      temporal.workflows.startReconcile(organizationId, request),
    );
  } catch (err) {
    if (err instanceof WorkflowRefusedError) throw new RefusedError(err.message);
    if (grpcCode(err) === 4) {
      throw new CliError(
        `the organization workflow did not answer within ${ACCEPT_DEADLINE_MS / 1_000} s: is a scimflow worker running ` +
          `(\`npm run dev\` starts one) on task queue "${temporal.taskQueue}" (TEMPORAL_TASK_QUEUE)? ` +
          `The request may still be taken later: check with \`${cliPrefix()} status ${organizationId}\`.`,
      );
    }
    throw ctx.temporalError(err);
  }
}

/** Registers the organization if this environment can look it up; otherwise leaves it to the worker. */
async function registerForImport(ctx: CliContext, organizationId: string, json: boolean): Promise<Registration | null> {
  if (!ctx.scalekit()) {
    const known = await ctx.withDb((db) => organizationExists(db, organizationId));
    if (!json) {
      ctx.io.err(
        known
          ? `note: Scalekit credentials are not set here; using the registered organization ${organizationId} as it is`
          : `note: Scalekit credentials are not set here, so the worker looks ${organizationId} up when the run starts`,
      );
    }
    return null;
  }
  return registerOrganization(ctx, organizationId, { requireDirectory: true, what: 'import' });
}

export async function runCommand(
  ctx: CliContext,
  organizationId: string,
  opts: RunCommandOptions,
  trigger: 'import' | 'cli',
): Promise<number> {
  const json = Boolean(opts.json);
  try {
    return await startAndFollow(ctx, organizationId, opts, trigger);
  } catch (err) {
    // Scripts get refusals as JSON too (and the exit code).
    if (json && err instanceof RefusedError) {
      ctx.io.out(JSON.stringify({ organizationId, status: 'refused', error: err.message.replace(/^refused: /, '') }));
      return 1;
    }
    throw err;
  }
}

async function startAndFollow(
  ctx: CliContext,
  organizationId: string,
  opts: RunCommandOptions,
  trigger: 'import' | 'cli',
): Promise<number> {
  const json = Boolean(opts.json);
  // An import registers the organization; a reconcile is for one that is registered already.
  if (trigger !== 'import') await requireOrganization(ctx, organizationId);
  const registration = trigger === 'import' ? await registerForImport(ctx, organizationId, json) : null;
  if (registration && !json && (registration.row === 'created' || registration.schedulesCreated.length > 0)) {
    const c = ctx.config();
    for (const line of registrationLines(registration, { full: c.reconcile.fullInterval, delta: c.reconcile.deltaInterval }))
      ctx.io.out(line);
  }

  const temporal = await ctx.temporal();
  const request: ReconcileRequest = { kind: opts.delta ? 'delta' : 'full', dryRun: Boolean(opts.dryRun), trigger };
  const accepted = await startRun(ctx, temporal, organizationId, request);
  if (!json) {
    const note = request.kind === 'delta' && accepted.kind === 'full' ? ' (no completed run yet, so a full run instead of a delta)' : '';
    ctx.io.out(`accepted: run ${accepted.runId} (${accepted.kind}${accepted.dryRun ? ', dry run' : ''}) for ${organizationId}${note}`);
  }

  const base = { organizationId, runId: accepted.runId, kind: accepted.kind, dryRun: accepted.dryRun, trigger };
  const watched = opts.wait
    ? await watchRun(
        ctx,
        temporal,
        organizationId,
        accepted.runId,
        json ? undefined : new ProgressRenderer(ctx.io, { tty: ctx.io.errIsTTY }),
      )
    : null;
  const report = await buildReport(ctx, base, watched);
  if (json) ctx.io.out(JSON.stringify(registration ? { ...report, registration } : report));
  else for (const line of reportLines(report)) ctx.io.out(line);
  return exitCodeFor(report.status);
}
