import type { Knex } from 'knex';
import { z } from 'zod';
import { DELIVERY_CHANNELS, deliveryStatus, type DeliveryChannel } from '../../db/repositories/deliveries';
import type { DeliveryWorkflows } from '../../temporal/delivery';
import { requireOperatorToken } from '../auth';
import { ApiError, callTemporal } from '../errors';
import { checkedRouter, type CheckedRouter } from '../params';
import { parse, readJson } from '../request';

export interface DeliveryDeps {
  db: Knex;
  /** Operators' delivery commands; undefined: Temporal-native delivery is off (APP_TASK_QUEUE unset). */
  deliveries?: Pick<DeliveryWorkflows, 'retry' | 'skip' | 'pause' | 'resume' | 'rewind'> | undefined;
  /** Operators' commands to the signed HTTP push; undefined: the push is off (APP_WEBHOOK_URL unset). */
  pushDeliveries?: Pick<DeliveryWorkflows, 'retry' | 'skip' | 'pause' | 'resume' | 'rewind'> | undefined;
  operatorApiToken: string | undefined;
}

const empty = z.object({}).strict();

const skipBody = z
  .object({
    recordId: z
      .string({ message: 'expected the id of the record to skip' })
      .regex(/^\d{1,19}$/, { message: 'expected a record id (a number)' }),
    reason: z
      .string({ message: 'expected the reason for skipping (it is recorded)' })
      .trim()
      .min(1, { message: 'expected the reason for skipping (it is recorded)' })
      .max(500, { message: 'at most 500 characters' }),
  })
  .strict();

const pauseBody = z
  .object({ note: z.string({ message: 'expected a short text' }).max(500, { message: 'at most 500 characters' }).nullable().default(null) })
  .strict();

const rewindBody = z
  .object({
    toSequence: z.number({ message: 'expected a sequence number' }).int({ message: 'expected a whole number' }).min(1).optional(),
    toTime: z.string().datetime({ offset: true, message: 'expected a time such as 2026-12-01T09:00:00Z' }).optional(),
    dryRun: z.boolean({ message: 'expected true or false' }).default(false),
  })
  .strict()
  .refine((b) => (b.toSequence === undefined) !== (b.toTime === undefined), { message: 'expected either toSequence or toTime' });

/**
 * An organization's delivery to the application, under /api behind the operator token: its status
 * (read from the database: it answers while Temporal is down) and the operators' commands.
 */
export function deliveryRouter(deps: DeliveryDeps): CheckedRouter<'orgId'> {
  const router = checkedRouter(['orgId'], { prefix: '/api' }, { knownOrganizations: deps.db });
  router.use(requireOperatorToken(deps.operatorApiToken));

  const enabled = (channel: DeliveryChannel) => (channel === 'webhook' ? deps.pushDeliveries : deps.deliveries) !== undefined;

  /** `?channel=temporal|webhook`; default: Temporal-native delivery, or the push when only it is on. */
  const channelOf = (query: unknown): DeliveryChannel => {
    const given = (query as Record<string, unknown>).channel;
    if (given === undefined) return !deps.deliveries && deps.pushDeliveries ? 'webhook' : 'temporal';
    if (given === 'temporal' || given === 'webhook') return given;
    throw new ApiError(400, 'invalid_request', 'channel: expected temporal or webhook');
  };

  const deliveries = (channel: DeliveryChannel) => {
    if (channel === 'webhook') {
      if (!deps.pushDeliveries) {
        throw new ApiError(409, 'delivery_off', 'signed HTTP push is off: set APP_WEBHOOK_URL and APP_WEBHOOK_SECRET');
      }
      return deps.pushDeliveries;
    }
    if (!deps.deliveries) {
      throw new ApiError(409, 'delivery_off', "Temporal-native delivery is off: set APP_TASK_QUEUE (the application's task queue)");
    }
    return deps.deliveries;
  };

  router.get('/organizations/:orgId/delivery', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const channel = channelOf(ctx.query);
    const channels: Record<string, unknown> = {};
    for (const c of DELIVERY_CHANNELS) channels[c] = { enabled: enabled(c), ...(await deliveryStatus(deps.db, organizationId, c)) };
    // The channel asked for (or the default one) at the top; both under `channels`.
    ctx.body = { ...(channels[channel] as object), channels };
  });

  router.post('/organizations/:orgId/delivery/retry', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const channel = channelOf(ctx.query);
    parse(empty, await readJson(ctx));
    ctx.body = await callTemporal(() => deliveries(channel).retry(organizationId));
  });

  router.post('/organizations/:orgId/delivery/skip', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const channel = channelOf(ctx.query);
    const body = parse(skipBody, await readJson(ctx));
    ctx.body = await callTemporal(() => deliveries(channel).skip(organizationId, body.recordId, body.reason));
  });

  router.post('/organizations/:orgId/delivery/pause', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const channel = channelOf(ctx.query);
    const body = parse(pauseBody, await readJson(ctx));
    ctx.body = await callTemporal(() => deliveries(channel).pause(organizationId, body.note));
  });

  router.post('/organizations/:orgId/delivery/resume', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const channel = channelOf(ctx.query);
    parse(empty, await readJson(ctx));
    ctx.body = await callTemporal(() => deliveries(channel).resume(organizationId));
  });

  router.post('/organizations/:orgId/delivery/rewind', async (ctx) => {
    const organizationId = ctx.params.orgId;
    const channel = channelOf(ctx.query);
    const body = parse(rewindBody, await readJson(ctx));
    ctx.body = await callTemporal(() =>
      deliveries(channel).rewind(organizationId, {
        ...(body.toSequence !== undefined ? { toSequence: body.toSequence } : {}),
        ...(body.toTime !== undefined ? { toTime: body.toTime } : {}),
        dryRun: body.dryRun,
      }),
    );
  });

  return router;
}
