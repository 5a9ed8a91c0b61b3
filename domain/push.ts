/**
 * Signed HTTP push of the change stream (APP_WEBHOOK_URL): each batch is POSTed as a ChangeBatch
 * in JSON, signed the Standard Webhooks way with APP_WEBHOOK_SECRET.
 */

/** What a push's answer means for the batch. */
export type PushOutcome = 'delivered' | 'retry' | 'rejected';

/**
 * 2xx: delivered. 408 and 429 (the application asks for a later try) and 5xx: tried again with
 * backoff. Any other answer (422, 400, 401, 404, a redirect...) is the application refusing the
 * batch for good: the organization's push stops at it until an operator acts.
 */
export function classifyPushStatus(status: number): PushOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'rejected';
}

/** The webhook-id of a batch: the same on every try of the same records, so the application can tell a retry. */
export function pushWebhookId(organizationId: string, firstSequence: number, lastSequence: number): string {
  return `${organizationId}:${firstSequence}-${lastSequence}`;
}
