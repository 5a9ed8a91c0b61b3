import { WorkflowNotFoundError } from '@temporalio/client';
import type { CliContext } from './context';
import { CliError, EXIT_USAGE } from './errors';
import { ago, n, table, time } from './format';
import { cliPrefix } from '../domain/cli-command';
import type { RunningOrganization } from '../temporal/client';
import { DELIVERY_CHANNELS, deliveryWorkflowId } from '../workflows/delivery-messages';
import { organizationWorkflowId } from '../workflows/messages';

/**
 * `workflows continue-as-new` and `workflows list`: after a payload key rotation, everything a
 * running workflow keeps is still sealed with the old key until its next continue-as-new. These ask
 * for it now (organization workflows and delivery workflows), and list the workflows whose current
 * run started before a time (not yet renewed).
 */

export async function continueAsNewCommand(
  ctx: CliContext,
  organizationId: string | undefined,
  opts: { all?: boolean; json?: boolean },
): Promise<number> {
  if ((organizationId === undefined) === !opts.all) throw new CliError('give either an organization id or --all', EXIT_USAGE);
  const temporal = await ctx.temporal();
  // Before the first signal: every run that starts after it is a renewed one.
  const askedAt = new Date();
  const asked: Omit<RunningOrganization, 'runStartedAt'>[] = [];
  try {
    // One organization: its workflow and its deliveries (each channel's), those that run.
    const targets = organizationId
      ? [
          { organizationId, workflowId: organizationWorkflowId(organizationId), kind: 'organization' as const },
          ...DELIVERY_CHANNELS.map((c) => ({
            organizationId,
            workflowId: deliveryWorkflowId(organizationId, c),
            kind: 'delivery' as const,
          })),
        ]
      : await temporal.workflows.listRunning();
    for (const target of targets) {
      try {
        await temporal.workflows.requestContinueAsNew(target.organizationId, target.workflowId);
        asked.push(target);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
  } catch (err) {
    throw ctx.temporalError(err);
  }
  if (organizationId && asked.length === 0) {
    throw new CliError(`no workflow of ${organizationId} is running: nothing to continue as new`);
  }
  const check = `${cliPrefix()} workflows list --started-before ${askedAt.toISOString()}`;
  const organizations = [...new Set(asked.map((w) => w.organizationId))];
  if (opts.json) {
    ctx.io.out(JSON.stringify({ askedAt: askedAt.toISOString(), asked: organizations, workflows: asked.map((w) => w.workflowId) }));
    return 0;
  }
  const deliveries = asked.filter((w) => w.kind === 'delivery').length;
  ctx.io.out(
    `asked ${n(asked.length - deliveries)} organization workflow(s) and ${n(deliveries)} delivery workflow(s) to continue as new at their next idle point (a batch or step in flight finishes first)`,
  );
  ctx.io.out(`see which have not yet: \`${check}\` (none listed: all have)`);
  return 0;
}

export async function workflowsList(ctx: CliContext, opts: { startedBefore?: string; json?: boolean }): Promise<number> {
  const temporal = await ctx.temporal();
  const before = opts.startedBefore ? new Date(opts.startedBefore) : undefined;
  let running;
  try {
    running = await temporal.workflows.listRunning(before);
  } catch (err) {
    throw ctx.temporalError(err);
  }
  if (opts.json) {
    ctx.io.out(JSON.stringify({ taskQueue: temporal.taskQueue, startedBefore: before?.toISOString() ?? null, workflows: running }));
    return 0;
  }
  if (running.length === 0) {
    ctx.io.out(
      before
        ? `every running organization and delivery workflow's current run started at or after ${time(before.toISOString())}`
        : `no organization or delivery workflow runs on task queue "${temporal.taskQueue}"`,
    );
    return 0;
  }
  const rows = running.map((w) => [w.organizationId, w.workflowId, `${time(w.runStartedAt)} (${ago(w.runStartedAt)})`]);
  for (const line of table(['ORGANIZATION', 'WORKFLOW', 'CURRENT RUN STARTED'], rows)) ctx.io.out(line);
  if (before) ctx.io.err(`${n(running.length)} whose current run started before ${time(before.toISOString())}`);
  return 0;
}
