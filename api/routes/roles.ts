import type { Knex } from 'knex';
import { z } from 'zod';
import { getDefaultRole, listRoleMappings, userRoleReport } from '../../db/repositories/roles';
import { DEFAULT_PRECEDENCE, MAX_PRECEDENCE, roleNameProblem, type RoleChangeInput } from '../../domain/roles';
import type { OrganizationWorkflows } from '../../temporal/client';
import { requireOperatorToken } from '../auth';
import { ApiError, callTemporal } from '../errors';
import { checkedRouter, type CheckedRouter } from '../params';
import { parse, readJson } from '../request';

export interface RolesDeps {
  db: Knex;
  workflows: Pick<OrganizationWorkflows, 'changeRoles'>;
  operatorApiToken: string | undefined;
}

const roleName = z.string({ message: 'expected a role name' }).superRefine((role, ctx) => {
  const problem = roleNameProblem(role);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const dryRun = z.boolean({ message: 'expected true or false' }).default(false);

const mapBody = z
  .object({
    role: roleName,
    precedence: z
      .number({ message: `expected a whole number from 0 to ${MAX_PRECEDENCE}` })
      .int({ message: `expected a whole number from 0 to ${MAX_PRECEDENCE}` })
      .min(0, { message: `expected a whole number from 0 to ${MAX_PRECEDENCE}` })
      .max(MAX_PRECEDENCE, { message: `expected a whole number from 0 to ${MAX_PRECEDENCE}` })
      .default(DEFAULT_PRECEDENCE),
    dryRun,
  })
  .strict();
const unmapBody = z.object({ dryRun }).strict();
const defaultBody = z.object({ role: roleName.nullable(), dryRun }).strict();

/**
 * Group → role mappings and the default role under /api/organizations/:orgId/roles. Changes go
 * through the organization workflow (serialized with its events); `dryRun: true` previews them.
 */
export function rolesRouter(deps: RolesDeps): CheckedRouter<'orgId' | 'groupId' | 'userId'> {
  // The prefix has no parameters, so the operator token is checked before them.
  const router = checkedRouter(['orgId', 'groupId', 'userId'], { prefix: '/api' }, { knownOrganizations: deps.db });
  router.use(requireOperatorToken(deps.operatorApiToken));

  const change = async (organizationId: string, c: RoleChangeInput, preview: boolean) => {
    return callTemporal(() => deps.workflows.changeRoles(organizationId, { change: c, dryRun: preview }));
  };

  router.get('/organizations/:orgId/roles', async (ctx) => {
    const organizationId = ctx.params.orgId;
    ctx.body = { defaultRole: await getDefaultRole(deps.db, organizationId), mappings: await listRoleMappings(deps.db, organizationId) };
  });

  router.put('/organizations/:orgId/roles/mappings/:groupId', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const groupId = ctx.params.groupId;
    const body = parse(mapBody, await readJson(ctx));
    ctx.body = await change(organizationId, { action: 'map', groupId, role: body.role, precedence: body.precedence }, body.dryRun);
  });

  router.delete('/organizations/:orgId/roles/mappings/:groupId', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const groupId = ctx.params.groupId;
    const body = parse(unmapBody, await readJson(ctx));
    ctx.body = await change(organizationId, { action: 'unmap', groupId }, body.dryRun);
  });

  router.put('/organizations/:orgId/roles/default', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const body = parse(defaultBody, await readJson(ctx));
    ctx.body = await change(organizationId, { action: 'default', role: body.role }, body.dryRun);
  });

  router.get('/organizations/:orgId/users/:userId/roles', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const userId = ctx.params.userId;
    const report = await userRoleReport(deps.db, organizationId, userId);
    if (!report) throw new ApiError(404, 'not_found', `user ${userId} is not in the directory of ${organizationId}`);
    ctx.body = report;
  });

  return router;
}
