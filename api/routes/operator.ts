import type { Knex } from 'knex';
import { z } from 'zod';
import { listEmailConflicts } from '../../db/repositories/conflicts';
import { listGroups, listUsers } from '../../db/repositories/directory';
import { listOrganizationDirectories, organizationEnabled, usersWithoutDirectory } from '../../db/repositories/directories';
import { countDeferred, LEDGER_OUTCOMES, listLedger } from '../../db/repositories/ledger';
import { listPlanChanges } from '../../db/repositories/sync-runs/plan';
import { getRun, listRuns } from '../../db/repositories/sync-runs/runs';
import type { OrganizationWorkflows } from '../../temporal/client';
import { requireOperatorToken } from '../auth';
import { ApiError, callTemporal } from '../errors';
import { checkedRouter, type CheckedRouter } from '../params';
import { parse, readJson } from '../request';
import { getStep } from '../../db/repositories/sync-runs/steps';

export interface OperatorDeps {
  db: Knex;
  workflows: Pick<
    OrganizationWorkflows,
    'status' | 'startReconcile' | 'approveRun' | 'cancelRun' | 'pauseSync' | 'resumeSync' | 'retryQuarantined'
  >;
  operatorApiToken: string | undefined;
}

const limit = (max: number, fallback: number) =>
  z.coerce
    .number({ message: `expected a number from 1 to ${max}` })
    .int({ message: `expected a whole number from 1 to ${max}` })
    .min(1, { message: `expected a number from 1 to ${max}` })
    .max(max, { message: `expected a number from 1 to ${max}` })
    .default(fallback);

const usersQuery = z.object({
  active: z.enum(['true', 'false'], { message: 'expected true or false' }).optional(),
  limit: limit(5000, 1000),
  after: z.string().max(200).optional(),
});

const eventsQuery = z.object({
  outcome: z.enum(LEDGER_OUTCOMES as [string, ...string[]], { message: `expected one of ${LEDGER_OUTCOMES.join(', ')}` }).optional(),
  limit: limit(500, 50),
  after: z.string().max(200).optional(),
});

const reconcileBody = z
  .object({
    dryRun: z.boolean({ message: 'expected true or false' }).default(false),
    delta: z.boolean({ message: 'expected true or false' }).default(false),
  })
  .strict();

const pauseBody = z
  .object({ note: z.string({ message: 'expected a short text' }).max(500, { message: 'at most 500 characters' }).nullable().default(null) })
  .strict();

const retryBody = z
  .object({
    eventIds: z
      .array(z.string().min(1).max(200), { message: 'expected a list of event ids' })
      .min(1, { message: 'expected at least one event id (or no eventIds for every quarantined event)' })
      .max(500, { message: 'at most 500 event ids at a time' })
      .optional(),
  })
  .strict();

const planQuery = z.object({ limit: limit(1000, 100), after: z.string().max(300).optional() });

/** The operator API under /api, behind a bearer token. */
export function operatorRouter(deps: OperatorDeps): CheckedRouter<'orgId' | 'runId'> {
  const router = checkedRouter(['orgId', 'runId'], { prefix: '/api' }, { knownOrganizations: deps.db });
  router.use(requireOperatorToken(deps.operatorApiToken));

  router.get('/organizations/:orgId/users', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const q = parse(usersQuery, ctx.query);
    const users = await listUsers(deps.db, {
      organizationId,
      active: q.active === undefined ? undefined : q.active === 'true',
      limit: q.limit,
      after: q.after,
    });
    ctx.body = { users, nextCursor: users.length === q.limit ? (users[users.length - 1]?.id ?? null) : null };
  });

  router.get('/organizations/:orgId/groups', async (ctx) => {
    const organizationId = ctx.params.orgId;
    ctx.body = { groups: await listGroups(deps.db, organizationId) };
  });

  router.get('/organizations/:orgId/directories', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const directories = await listOrganizationDirectories(deps.db, organizationId);
    ctx.body = {
      directories,
      usersWithoutDirectory: await usersWithoutDirectory(deps.db, organizationId),
      enabled: organizationEnabled(directories),
      emailConflicts: await listEmailConflicts(deps.db, organizationId),
    };
  });

  router.get('/organizations/:orgId/events', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const q = parse(eventsQuery, ctx.query);
    const events = await listLedger(deps.db, {
      organizationId,
      outcome: q.outcome as (typeof LEDGER_OUTCOMES)[number] | undefined,
      limit: q.limit,
      after: q.after,
    });
    ctx.body = {
      events: events.map((e) => ({
        id: e.id,
        type: e.type,
        occurredAt: e.occurredAt,
        receivedAt: e.receivedAt,
        appliedAt: e.appliedAt,
        outcome: e.outcome,
        detail: e.detail,
        duplicateDeliveries: e.duplicateCount,
      })),
      nextCursor: events.length === q.limit ? (events[events.length - 1]?.id ?? null) : null,
    };
  });

  router.get('/organizations/:orgId/sync', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const status = await callTemporal(() => deps.workflows.status(organizationId));
    if (!status) {
      throw new ApiError(404, 'not_found', `no sync workflow for ${organizationId} yet: it starts with the organization's first event`);
    }
    // How many kept events wait is the ledger's answer; the workflow counts all it ever kept.
    ctx.body = status.paused || status.resuming ? { ...status, deferredWaiting: await countDeferred(deps.db, organizationId) } : status;
  });

  router.post('/organizations/:orgId/reconcile', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const body = parse(reconcileBody, await readJson(ctx));
    const accepted = await callTemporal(() =>
      deps.workflows.startReconcile(organizationId, { kind: body.delta ? 'delta' : 'full', dryRun: body.dryRun, trigger: 'api' }),
    );
    ctx.status = 202;
    ctx.body = { status: 'accepted', ...accepted };
  });

  router.get('/organizations/:orgId/runs', async (ctx) => {
    const organizationId = ctx.params.orgId;
    ctx.body = { runs: await listRuns(deps.db, organizationId) };
  });

  router.get('/organizations/:orgId/runs/:runId', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const runId = ctx.params.runId;
    const q = parse(planQuery, ctx.query);
    const run = await getRun(deps.db, organizationId, runId);
    if (!run) throw new ApiError(404, 'not_found', `run ${runId} of ${organizationId} does not exist`);
    const changes = await listPlanChanges(deps.db, runId, { limit: q.limit, after: q.after });
    const last = changes[changes.length - 1];
    ctx.body = {
      run,
      // The step its plan or apply has reached (the last one, once it has ended); null before.
      step: await getStep(deps.db, runId),
      changes,
      nextCursor: changes.length === q.limit && last ? `${last.entity}:${last.entityId}` : null,
    };
  });

  router.post('/organizations/:orgId/runs/:runId/approve', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const runId = ctx.params.runId;
    ctx.status = 202;
    ctx.body = await callTemporal(() => deps.workflows.approveRun(organizationId, runId));
  });

  router.post('/organizations/:orgId/runs/:runId/cancel', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const runId = ctx.params.runId;
    ctx.body = await callTemporal(() => deps.workflows.cancelRun(organizationId, runId));
  });

  router.post('/organizations/:orgId/events/retry', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const body = parse(retryBody, await readJson(ctx));
    ctx.body = await callTemporal(() => deps.workflows.retryQuarantined(organizationId, body.eventIds ?? null));
  });

  router.post('/organizations/:orgId/pause', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const body = parse(pauseBody, await readJson(ctx));
    ctx.body = await callTemporal(() => deps.workflows.pauseSync(organizationId, body.note));
  });

  router.post('/organizations/:orgId/resume', async (ctx) => {
    const organizationId = ctx.params.orgId;
    parse(z.object({}).strict(), await readJson(ctx));
    ctx.body = await callTemporal(() => deps.workflows.resumeSync(organizationId));
  });

  return router;
}
