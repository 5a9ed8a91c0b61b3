import type { CliContext } from './context';
import { CliError } from './errors';
import { organizationExists } from '../db/repositories/organizations';
import { n, time } from './format';
import { cliPrefix } from '../domain/cli-command';

/**
 * `pause <orgId>` / `resume <orgId>`: stop applying an organization's directory changes (everyone
 * keeps the access they have; events are kept in order) and apply them later. Not the same as
 * `schedule pause`, which only stops scheduled reconciles.
 */
export async function pauseCommand(
  ctx: CliContext,
  action: 'pause' | 'resume',
  organizationId: string,
  opts: { note?: string; json?: boolean },
): Promise<number> {
  await requireOrganization(ctx, organizationId);
  const temporal = await ctx.temporal();
  if (action === 'pause') {
    const outcome = await ctx.command(organizationId, opts.json, () => temporal.workflows.pauseSync(organizationId, opts.note ?? null));
    if ('refused' in outcome) return 1;
    const r = outcome.value;
    if (opts.json) ctx.io.out(JSON.stringify({ organizationId, status: 'paused', ...r }));
    else {
      ctx.io.out(`paused the sync of ${organizationId} at ${time(r.paused.since)}${r.paused.note ? ` (${r.paused.note})` : ''}`);
      ctx.io.out(
        'webhooks are still accepted and kept in order; users, groups and roles stay as they are; scheduled reconciles are skipped',
      );
      ctx.io.out(`resume with \`${cliPrefix()} resume ${organizationId}\``);
    }
    return 0;
  }
  const outcome = await ctx.command(organizationId, opts.json, () => temporal.workflows.resumeSync(organizationId));
  if ('refused' in outcome) return 1;
  const r = outcome.value;
  if (opts.json) ctx.io.out(JSON.stringify({ organizationId, status: 'resumed', ...r }));
  else {
    ctx.io.out(`resumed the sync of ${organizationId} (paused since ${time(r.resumed.since)})`);
    ctx.io.out(
      `applying ${n(r.deferred)} deferred event(s) in the order they arrived; follow with \`${cliPrefix()} status ${organizationId}\``,
    );
  }
  return 0;
}

/** Commands that change an organization refuse one scimflow has never seen (nothing is started for it). */
export async function requireOrganization(ctx: CliContext, organizationId: string): Promise<void> {
  if (!(await ctx.withDb((db) => organizationExists(db, organizationId)))) {
    throw new CliError(
      `scimflow does not know organization ${organizationId} yet; register it first: ${cliPrefix()} orgs add ${organizationId}`,
    );
  }
}
