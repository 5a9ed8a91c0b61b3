import { listGroups } from '../db/repositories/directory';
import { getDefaultRole, listRoleMappings, userRoleReport } from '../db/repositories/roles';
import type { RoleChangeInput } from '../domain/roles';
import type { CliContext } from './context';
import { CliError } from './errors';
import { n, table, time } from './format';
import { requireOrganization } from './pause';
import { cliPrefix } from '../domain/cli-command';

/**
 * `roles list|map|unmap|default|why`: which directory groups grant which of the application's
 * roles, the default role, and why a user holds a role. Changes go through the organization
 * workflow; `--dry-run` shows who would gain or lose a role and changes nothing.
 */

export async function rolesList(ctx: CliContext, organizationId: string, opts: { json?: boolean }): Promise<number> {
  const { defaultRole, mappings, groups } = await ctx.withDb(async (db) => ({
    defaultRole: await getDefaultRole(db, organizationId),
    mappings: await listRoleMappings(db, organizationId),
    groups: await listGroups(db, organizationId),
  }));
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, defaultRole, mappings, groups }));
    return 0;
  }
  const mapped = new Map(mappings.map((m) => [m.groupId, m]));
  ctx.io.out(`default role: ${defaultRole ?? '(none: users without a mapped group or a Scalekit role hold no role)'}`);
  if (groups.length === 0 && mappings.length === 0) {
    ctx.io.out(`no groups in the directory of ${organizationId} yet: import it with \`${cliPrefix()} import ${organizationId}\``);
    return 0;
  }
  const rows = [
    ...mappings.map((m) => [
      m.groupId,
      m.groupName ?? '-',
      m.groupDeleted ? 'deleted' : n(m.members),
      m.role,
      String(m.precedence),
      n(m.granted),
    ]),
    ...groups.filter((g) => !g.deleted && !mapped.has(g.id)).map((g) => [g.id, g.displayName ?? '-', n(g.memberCount), '-', '-', '-']),
  ];
  for (const line of table(['GROUP', 'NAME', 'MEMBERS', 'ROLE', 'PRECEDENCE', 'GRANTED'], rows)) ctx.io.out(line);
  ctx.io.out('');
  ctx.io.out('A user in several mapped groups gets the role with the lowest precedence; "granted" counts the users it won for.');
  ctx.io.out(`Map a group with \`${cliPrefix()} roles map ${organizationId} <groupId> <role> --precedence <n> --dry-run\`.`);
  return 0;
}

export async function rolesChange(
  ctx: CliContext,
  organizationId: string,
  change: RoleChangeInput,
  opts: { dryRun?: boolean; json?: boolean },
): Promise<number> {
  await requireOrganization(ctx, organizationId);
  const temporal = await ctx.temporal();
  const outcome = await ctx.command(organizationId, opts.json, () =>
    temporal.workflows.changeRoles(organizationId, { change, dryRun: opts.dryRun === true }),
  );
  if ('refused' in outcome) return 1;
  const result = outcome.value;
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, status: result.dryRun ? 'preview' : 'applied', ...result }));
    return 0;
  }
  const verb = result.dryRun ? 'would change' : 'changed';
  ctx.io.out(`${result.dryRun ? 'dry run' : 'applied'}: ${result.summary}`);
  ctx.io.out(`${verb} the roles of ${n(result.usersChanged)} users (${n(result.granted)} roles gained, ${n(result.revoked)} lost)`);
  if (result.unchangedBecause) ctx.io.out(`no one's roles ${result.dryRun ? 'would change' : 'changed'}: ${result.unchangedBecause}`);
  if (result.reasonsChanged > 0) {
    ctx.io.out(
      `${n(result.reasonsChanged)} more user(s) keep their roles but ${result.dryRun ? 'would hold' : 'now hold'} one for this reason (see \`${cliPrefix()} roles why\`)`,
    );
  }
  if (result.changes.length > 0) {
    const rows = result.changes.map((c) => [c.userId, c.email ?? '-', c.before.join(',') || '-', c.after.join(',') || '-']);
    for (const line of table(['USER', 'EMAIL', 'BEFORE', 'AFTER'], rows)) ctx.io.out(`  ${line}`);
    if (result.usersChanged > result.changes.length) ctx.io.out(`  … and ${n(result.usersChanged - result.changes.length)} more`);
  }
  if (result.dryRun) ctx.io.out('nothing was changed; run the same command without --dry-run to apply it');
  return 0;
}

export async function rolesWhy(ctx: CliContext, organizationId: string, userId: string, opts: { json?: boolean }): Promise<number> {
  const user = await ctx.withDb((db) => userRoleReport(db, organizationId, userId));
  if (!user) throw new CliError(`user ${userId} is not in the directory of ${organizationId}`);
  const { roles } = user;
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, userId, email: user.email, active: user.active, roles }));
    return 0;
  }
  ctx.io.out(`${userId}${user.email ? ` <${user.email}>` : ''}${user.active ? '' : ' (deactivated)'}`);
  if (roles.length === 0) {
    ctx.io.out(
      user.active
        ? '  holds no role: no mapped group, no Scalekit role, and the organization has no default role'
        : '  holds no role: deactivated users hold none',
    );
  }
  for (const r of roles) {
    ctx.io.out(`  ${r.role}: ${r.reason}`);
    ctx.io.out(`    since ${time(r.grantedAt)}, by ${r.grantedBy}`);
  }
  return 0;
}
