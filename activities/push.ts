import { ApplicationFailure } from '@temporalio/activity';
import { createHmac } from 'node:crypto';
import type { ChangeBatch } from '../domain/changes';
import { classifyPushStatus, pushWebhookId } from '../domain/push';

/** Signed HTTP push to the application (APP_WEBHOOK_URL, APP_WEBHOOK_SECRET). */
export interface PushDeps {
  url: string;
  secret: string;
  /** How long one try waits for the application's answer. */
  timeoutMs?: number;
}

export const DEFAULT_PUSH_TIMEOUT_MS = 10_000;

/** The key of a `whsec_<base64>` secret. */
export function pushSecretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** The Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`). */
export function signPush(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', pushSecretKey(secret)).update(`${webhookId}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/** The headers of a signed push of `body`. */
export function pushHeaders(secret: string, webhookId: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signPush(secret, webhookId, timestampSeconds, body),
  };
}

/**
 * `pushDirectoryChanges`: POSTs one batch to the application, signed. A 2xx answer delivers it;
 * 408, 429, 5xx, a timeout or a connection error throw a retryable failure (the workflow's retry
 * policy backs off); any other answer throws a non-retryable one (the organization's push stops at
 * the batch). Failures name the status only: never the secret, the body or the answer.
 */
export function createPushActivities(deps: PushDeps | undefined) {
  const timeoutMs = deps?.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS;
  return {
    async pushDirectoryChanges(batch: ChangeBatch): Promise<{ status: number }> {
      if (!deps) {
        // A push scheduled before APP_WEBHOOK_URL was unset here: it waits for a worker that has it.
        throw ApplicationFailure.create({
          message: 'signed HTTP push is off in this worker (APP_WEBHOOK_URL is not set)',
          type: 'PushOff',
        });
      }
      const records = batch.records;
      const first = records[0]?.sequence ?? 0;
      const last = records[records.length - 1]?.sequence ?? 0;
      const webhookId = pushWebhookId(batch.organizationId, first, last);
      const body = JSON.stringify(batch);
      let status: number;
      try {
        const response = await fetch(deps.url, {
          method: 'POST',
          headers: pushHeaders(deps.secret, webhookId, Math.floor(Date.now() / 1000), body),
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = response.status;
        // The answer's body is not read into anything (it could be large or hold the application's data).
        await response.body?.cancel().catch(() => undefined);
      } catch (err) {
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        throw ApplicationFailure.create({
          message: timedOut
            ? `the application did not answer within ${timeoutMs} ms`
            : 'could not reach the application (connection failed)',
          type: 'PushUnreachable',
          nonRetryable: false,
        });
      }
      const outcome = classifyPushStatus(status);
      if (outcome === 'delivered') return { status };
      throw ApplicationFailure.create({
        message: `the application answered ${status} to the push of records ${first} to ${last}`,
        type: outcome === 'rejected' ? 'PushRejected' : 'PushFailed',
        nonRetryable: outcome === 'rejected',
      });
    },
  };
}

export type PushActivities = ReturnType<typeof createPushActivities>;
