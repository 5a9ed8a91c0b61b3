import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { classifyError } from '../../db/errors';
import { recordTerminal } from '../../db/repositories/ledger';
import { parseDirectoryWebhook, type DirectoryEvent } from '../../domain/events';
import { isStorableText } from '../../domain/storable';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { WebhookVerifier } from '../../scalekit/webhook';
import { deliveryRefusal, type OrganizationWorkflows } from '../../temporal/client';
import { ApiError, temporalUnavailable } from '../errors';
import { CLIENT_ABORTED, readRawBody } from '../raw-body';

export interface WebhookDeps {
  db: Knex;
  verifier: WebhookVerifier;
  workflows: Pick<OrganizationWorkflows, 'deliver'>;
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes?: number;
}

const RETRY_AFTER_SECONDS = 30;
const WEBHOOK_PATH = '/webhooks/scalekit';

/**
 * The ledger key of a delivery whose event id cannot be read: its Standard Webhooks message id,
 * which Scalekit keeps across redeliveries. A header too long (or odd) for a key is hashed.
 */
export function deliveryEventId(webhookId: string): string {
  if (webhookId.length <= 200 && isStorableText(webhookId)) return `delivery:${webhookId}`;
  return `delivery:sha256:${createHash('sha256').update(webhookId, 'utf8').digest('hex')}`;
}

/**
 * POST /webhooks/scalekit: verify over the raw bytes, normalize, and hand the event durably to
 * its organization's workflow before answering 2xx. Anything signed is answered 202 (accepted,
 * ignored or quarantined, and recorded) unless PostgreSQL or Temporal is unavailable: only then
 * 503, so Scalekit delivers again. A 5xx for anything else would only lose the event at the
 * sender, which gives up after its retries.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const router = new Router();
  router.post(WEBHOOK_PATH, async (ctx) => {
    const started = process.hrtime.bigint();
    const finish = (result: string) => {
      deps.metrics.webhookDeliveries.inc({ result, status: String(ctx.status) });
      deps.metrics.webhookSeconds.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    try {
      await handle(ctx, deps, finish);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      const aborted = err instanceof ApiError && err.code === CLIENT_ABORTED;
      if (aborted) {
        // The sender's side: nothing was verified or recorded, and the sender delivers again.
        deps.logger.info('webhook upload aborted by the client; nothing recorded', { webhookId: ctx.get('webhook-id') || undefined });
      }
      deps.metrics.webhookDeliveries.inc({
        result: aborted ? 'aborted' : status < 500 ? 'rejected' : 'unavailable',
        status: String(status),
      });
      throw err;
    }
  });
  // Scalekit only POSTs; anything else at this address is a mistake worth naming.
  router.all(WEBHOOK_PATH, () => {
    throw new ApiError(405, 'method_not_allowed', `${WEBHOOK_PATH} accepts POST only (signed Scalekit webhooks)`, { Allow: 'POST' });
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
  const body = raw.toString('utf8');
  const outcome = parseDirectoryWebhook(body, { webhookId: verdict.webhookId, receivedAt });

  if (outcome.status === 'event') {
    const { event } = outcome;
    const refusal = await deliver(deps, event);
    if (refusal === null) {
      ctx.status = 202;
      ctx.body = { status: 'accepted', eventId: event.id };
      deps.logger.debug('webhook accepted', { eventId: event.id, type: event.type, organizationId: event.organizationId });
      finish('accepted');
      return;
    }
    // Temporal refuses this event itself (too large): kept in the ledger like any event scimflow
    // cannot take; `events retry` applies it from its raw body.
    await record(ctx, deps, finish, verdict.webhookId, body, {
      status: 'quarantined',
      eventId: event.id,
      type: event.type,
      organizationId: event.organizationId,
      occurredAt: event.occurredAt,
      occurredAtNs: event.occurredAtNs,
      reason: `Temporal refused the event: ${refusal}`,
    });
    return;
  }
  await record(ctx, deps, finish, verdict.webhookId, body, {
    ...outcome,
    payload: typeof outcome.payload === 'string' ? undefined : outcome.payload,
  });
}

/** Hands the event to Temporal: null once it is queued, the reason when Temporal refuses it; throws 503 when Temporal is unavailable. */
async function deliver(deps: WebhookDeps, event: DirectoryEvent): Promise<string | null> {
  try {
    await deps.workflows.deliver(event);
    return null;
  } catch (err) {
    const refusal = deliveryRefusal(err);
    if (refusal !== null) return refusal;
    deps.logger.error('could not hand the event to Temporal; answering 503 so Scalekit redelivers', {
      eventId: event.id,
      organizationId: event.organizationId,
      error: err as Error,
    });
    throw temporalUnavailable('the event could not be queued; retry later', RETRY_AFTER_SECONDS);
  }
}

interface Terminal {
  status: 'ignored' | 'quarantined';
  eventId: string | null;
  type: string | null;
  organizationId: string | null;
  occurredAt?: string;
  occurredAtNs?: string;
  reason: string;
  payload?: unknown;
}

/** Signed but not something the workflow applies: record it (nothing lost), then acknowledge. */
async function record(
  ctx: Context,
  deps: WebhookDeps,
  finish: (result: string) => void,
  webhookId: string,
  body: string,
  t: Terminal,
): Promise<void> {
  const id = t.eventId ?? deliveryEventId(webhookId);
  try {
    await recordTerminal(deps.db, {
      id,
      organizationId: t.organizationId,
      type: t.type,
      occurredAt: t.occurredAt,
      occurredAtNs: t.occurredAtNs,
      outcome: t.status,
      detail: t.reason,
      webhookId,
      payload: t.payload,
      rawBody: t.status === 'quarantined' ? body : undefined,
    });
  } catch (err) {
    // recordTerminal records with less rather than fail on the data: what remains is an outage,
    // or a ledger that refuses even a row without the body (a misconfigured database). Either way
    // the event is not recorded: 503, so Scalekit delivers it again once that is fixed.
    const refused = classifyError(err) === 'data';
    deps.logger.error(
      refused
        ? 'the event ledger refused even the smallest record of a webhook; answering 503 so Scalekit redelivers'
        : 'could not record a webhook in the event ledger; answering 503 so Scalekit redelivers',
      { eventId: id, error: err as Error },
    );
    throw new ApiError(503, 'database_unavailable', 'the event could not be recorded; retry later', {
      'Retry-After': String(RETRY_AFTER_SECONDS),
    });
  }
  // The reason can quote the body (a JSON parser's message does): logs get its kind only.
  (t.status === 'quarantined' ? deps.logger.warn : deps.logger.info)(`webhook ${t.status}`, {
    eventId: id,
    type: t.type,
    reason: reasonKind(t.reason),
  });
  ctx.status = 202;
  ctx.body = { status: t.status, eventId: id, reason: t.reason };
  finish(t.status);
}

/** What kind of reason it is, without what it quotes: the words before the first colon. */
function reasonKind(reason: string): string {
  const colon = reason.indexOf(':');
  return (colon < 0 ? reason : reason.slice(0, colon)).slice(0, 120);
}
