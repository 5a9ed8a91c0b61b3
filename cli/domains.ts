import { getEmailPolicy, listHeldUsers } from '../db/repositories/email-policy';
import { normalizeAllowedDomains, type PolicyUser } from '../domain/email-policy';
import type { CliContext } from './context';
import { CliError, EXIT_USAGE } from './errors';
import { n, table } from './format';
import { requireOrganization } from './pause';
import { cliPrefix } from '../domain/cli-command';

/**
 * `domains show|set|clear|held`: the organization's allowed e-mail domains, who reaches the
 * application. Users active in the directory whose e-mail is outside them are held: kept in the
 * mirror, not provisioned into the application (deactivated there if they were). Changes go
 * through the organization workflow; `--dry-run` lists who would be held or released.
 */

const userRows = (users: readonly PolicyUser[], withReason: boolean) =>
  users.map((u) => [u.id, u.email ?? '(no e-mail)', u.name ?? '-', ...(withReason ? [u.reason ?? '-'] : [])]);

export async function domainsShow(ctx: CliContext, organizationId: string, opts: { json?: boolean }): Promise<number> {
  const policy = await ctx.withDb((db) => getEmailPolicy(db, organizationId));
  if (!policy) await requireOrganization(ctx, organizationId);
  if (opts.json) {
    ctx.io.out(JSON.stringify(policy));
    return 0;
  }
  const p = policy!;
  if (p.allowedDomains.length === 0) {
    ctx.io.out(`${organizationId}: every e-mail domain reaches the application (no allowed domains set)`);
    ctx.io.out(`Allow only some with \`${cliPrefix()} domains set ${organizationId} example.com --dry-run\`.`);
    return 0;
  }
  ctx.io.out(`${organizationId}: allowed e-mail domains ${p.allowedDomains.join(', ')}`);
  ctx.io.out(
    p.heldUsers === 0
      ? 'no active user is held'
      : `${n(p.heldUsers)} active user(s) held out of the application; list them with \`${cliPrefix()} domains held ${organizationId}\``,
  );
  return 0;
}

export async function domainsHeld(ctx: CliContext, organizationId: string, opts: { json?: boolean; limit: number }): Promise<number> {
  await requireOrganization(ctx, organizationId);
  const users = await ctx.withDb((db) => listHeldUsers(db, organizationId, { limit: opts.limit }));
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, users }));
    return 0;
  }
  if (users.length === 0) {
    ctx.io.out(`no user of ${organizationId} is held by its allowed e-mail domains`);
    return 0;
  }
  for (const line of table(['USER', 'EMAIL', 'NAME', 'WHY HELD'], userRows(users, true))) ctx.io.out(line);
  if (users.length === opts.limit) ctx.io.out(`(the first ${n(opts.limit)}; --limit shows more)`);
  ctx.io.out('A held user is released when the allowed domains include their e-mail domain, or their e-mail changes in the directory.');
  return 0;
}

export async function domainsChange(
  ctx: CliContext,
  organizationId: string,
  domains: string[],
  opts: { dryRun?: boolean; json?: boolean },
): Promise<number> {
  const normalized = normalizeAllowedDomains(domains);
  if ('problem' in normalized) throw new CliError(normalized.problem, EXIT_USAGE);
  await requireOrganization(ctx, organizationId);
  const temporal = await ctx.temporal();
  const outcome = await ctx.command(organizationId, opts.json, () =>
    temporal.workflows.setEmailPolicy(organizationId, { allowedDomains: normalized.domains, dryRun: opts.dryRun === true }),
  );
  if ('refused' in outcome) return 1;
  const r = outcome.value;
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, status: r.dryRun ? 'preview' : 'applied', ...r }));
    return 0;
  }
  ctx.io.out(`${r.dryRun ? 'dry run' : 'applied'}: ${r.summary}`);
  const would = r.dryRun ? 'would be' : 'are now';
  ctx.io.out(
    `${n(r.held)} user(s) ${would} held out of the application, ${n(r.released)} ${would} released; ${n(r.heldAfter)} held in all`,
  );
  if (r.heldUsers.length > 0) {
    ctx.io.out(r.dryRun ? 'would be held:' : 'held:');
    for (const line of table(['USER', 'EMAIL', 'NAME', 'WHY'], userRows(r.heldUsers, true))) ctx.io.out(`  ${line}`);
    if (r.held > r.heldUsers.length) ctx.io.out(`  … and ${n(r.held - r.heldUsers.length)} more`);
  }
  if (r.releasedUsers.length > 0) {
    ctx.io.out(r.dryRun ? 'would be released:' : 'released:');
    for (const line of table(['USER', 'EMAIL', 'NAME'], userRows(r.releasedUsers, false))) ctx.io.out(`  ${line}`);
    if (r.released > r.releasedUsers.length) ctx.io.out(`  … and ${n(r.released - r.releasedUsers.length)} more`);
  }
  if (r.dryRun) ctx.io.out('nothing was changed; run the same command without --dry-run to apply it');
  else if (r.held + r.released > 0)
    ctx.io.out('the application is told through the change stream (held users it knew are deactivated there)');
  return 0;
}
