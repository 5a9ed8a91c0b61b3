import type { Knex } from 'knex';
import { z } from 'zod';
import { getEmailPolicy, listHeldUsers } from '../../db/repositories/email-policy';
import { normalizeAllowedDomains } from '../../domain/email-policy';
import type { OrganizationWorkflows } from '../../temporal/client';
import { requireOperatorToken } from '../auth';
import { ApiError, callTemporal } from '../errors';
import { checkedRouter, type CheckedRouter } from '../params';
import { parse, readJson } from '../request';

export interface PolicyDeps {
  db: Knex;
  workflows: Pick<OrganizationWorkflows, 'setEmailPolicy'>;
  operatorApiToken: string | undefined;
}

const policyBody = z
  .object({
    allowedDomains: z.array(z.string({ message: 'expected each domain as a string' }), {
      message: 'expected a list of e-mail domains, such as ["example.com", "*.example.org"] (an empty list allows every domain)',
    }),
    dryRun: z.boolean({ message: 'expected true or false' }).default(false),
  })
  .strict();

const heldQuery = z.object({
  limit: z.coerce
    .number({ message: 'expected a number from 1 to 1000' })
    .int({ message: 'expected a whole number from 1 to 1000' })
    .min(1, { message: 'expected a number from 1 to 1000' })
    .max(1000, { message: 'expected a number from 1 to 1000' })
    .default(100),
  after: z.string().max(200).optional(),
});

/**
 * The organization's allowed e-mail domains under /api/organizations/:orgId: who reaches the
 * application. Changes go through the organization workflow (serialized with its events);
 * `dryRun: true` lists who would be held or released and changes nothing.
 */
export function policyRouter(deps: PolicyDeps): CheckedRouter<'orgId'> {
  const router = checkedRouter(['orgId'], { prefix: '/api' }, { knownOrganizations: deps.db });
  router.use(requireOperatorToken(deps.operatorApiToken));

  router.get('/organizations/:orgId/email-policy', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const policy = await getEmailPolicy(deps.db, organizationId);
    ctx.body = policy;
  });

  router.put('/organizations/:orgId/email-policy', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const body = parse(policyBody, await readJson(ctx));
    const normalized = normalizeAllowedDomains(body.allowedDomains);
    if ('problem' in normalized) throw new ApiError(400, 'invalid_request', `allowedDomains: ${normalized.problem}`);
    ctx.body = await callTemporal(() =>
      deps.workflows.setEmailPolicy(organizationId, { allowedDomains: normalized.domains, dryRun: body.dryRun }),
    );
  });

  router.get('/organizations/:orgId/held-users', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const q = parse(heldQuery, ctx.query);
    const users = await listHeldUsers(deps.db, organizationId, { limit: q.limit, after: q.after ?? null });
    ctx.body = { users, nextCursor: users.length === q.limit ? (users[users.length - 1]?.id ?? null) : null };
  });

  return router;
}
