import Router from '@koa/router';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { recordTerminal } from '../../db/repositories/ledger';
import { parseDirectoryWebhook } from '../../domain/events';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { WebhookVerifier } from '../../scalekit/webhook';
import type { OrganizationWorkflows } from '../../temporal/client';
import { ApiError } from '../errors';
import { readRawBody } from '../raw-body';

export interface WebhookDeps {
  db: Knex;
  verifier: WebhookVerifier;
  workflows: Pick<OrganizationWorkflows, 'deliver'>;
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes?: number;
}

const RETRY_AFTER_SECONDS = '30';

/**
 * POST /webhooks/scalekit: verify over the raw bytes, normalize, and hand the event durably to
 * its organization's workflow before answering 2xx. Anything that stops that hand-off answers
 * 5xx, so Scalekit delivers again: a signed event is never lost.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const router = new Router();
  router.post('/webhooks/scalekit', async (ctx) => {
    const started = process.hrtime.bigint();
    const finish = (result: string) => {
      deps.metrics.webhookDeliveries.inc({ status: String(ctx.status), result });
      deps.metrics.webhookSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9, { result });
    };
    try {
      await handle(ctx, deps, finish);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      deps.metrics.webhookDeliveries.inc({ status: String(status), result: status < 500 ? 'rejected' : 'unavailable' });
      throw err;
    }
  });
  return router;
}

async function handle(ctx: Context, deps: WebhookDeps, finish: (result: string) => void): Promise<void> {
  const raw = await readRawBody(ctx, deps.maxBodyBytes);
  const verdict = deps.verifier.verify(ctx.request.headers, raw);
  if (!verdict.ok) {
    deps.logger.warn('webhook rejected', { reason: verdict.reason, webhookId: ctx.get('webhook-id') || undefined });
    throw new ApiError(400, verdict.reason, `webhook signature verification failed: ${verdict.message}`);
  }
  const receivedAt = new Date();
  const outcome = parseDirectoryWebhook(raw.toString('utf8'), { webhookId: verdict.webhookId, receivedAt });

  if (outcome.status === 'event') {
    const { event } = outcome;
    try {
      await deps.workflows.deliver(event);
    } catch (err) {
      deps.logger.error('could not hand the event to Temporal; answering 503 so Scalekit redelivers', {
        eventId: event.id,
        organizationId: event.organizationId,
        error: err as Error,
      });
      throw new ApiError(503, 'temporal_unavailable', 'the event could not be queued; retry later', {
        'Retry-After': RETRY_AFTER_SECONDS,
      });
    }
    ctx.status = 202;
    ctx.body = { status: 'accepted', eventId: event.id };
    deps.logger.debug('webhook accepted', { eventId: event.id, type: event.type, organizationId: event.organizationId });
    finish('accepted');
    return;
  }

  // Signed but not something the workflow applies: record it (nothing lost), then acknowledge.
  const id = outcome.eventId ?? `delivery:${verdict.webhookId}`;
  try {
    await recordTerminal(deps.db, {
      id,
      organizationId: outcome.organizationId,
      type: outcome.type,
      outcome: outcome.status,
      detail: outcome.reason,
      webhookId: verdict.webhookId,
      payload: typeof outcome.payload === 'string' ? undefined : outcome.payload,
      rawBody: outcome.status === 'quarantined' ? raw.toString('utf8') : undefined,
    });
  } catch (err) {
    deps.logger.error('could not record a webhook in the event ledger; answering 503 so Scalekit redelivers', {
      eventId: id,
      error: err as Error,
    });
    throw new ApiError(503, 'database_unavailable', 'the event could not be recorded; retry later', {
      'Retry-After': RETRY_AFTER_SECONDS,
    });
  }
  (outcome.status === 'quarantined' ? deps.logger.warn : deps.logger.info)(`webhook ${outcome.status}`, {
    eventId: id,
    type: outcome.type,
    reason: outcome.reason,
  });
  ctx.status = 202;
  ctx.body = { status: outcome.status, eventId: id, reason: outcome.reason };
  finish(outcome.status);
}
