import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Signs test deliveries with the independent `standardwebhooks` implementation. */

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

let sequence = 0;
export function eventId(): string {
  sequence += 1;
  return `evt_${Date.now().toString().slice(-8)}${process.pid}${String(sequence).padStart(6, '0')}`.slice(0, 32);
}

export function signedHeaders(
  secret: string,
  body: string,
  options: { webhookId?: string; timestamp?: Date } = {},
): Record<string, string> {
  const webhookId = options.webhookId ?? `msg_${randomBytes(8).toString('hex')}`;
  const timestamp = options.timestamp ?? new Date();
  const signature = new Webhook(secret).sign(webhookId, timestamp, body);
  return {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

/** An RFC 3339 timestamp with nanoseconds, `offsetMs` after a fixed base plus a nanosecond tail. */
export function nanoTime(offsetMs: number, nanos = 0): string {
  const base = Date.UTC(2026, 0, 1, 0, 0, 0) + offsetMs;
  const iso = new Date(base).toISOString(); // …SS.mmmZ
  const ms = iso.slice(20, 23);
  return `${iso.slice(0, 19)}.${ms}${String(nanos).padStart(6, '0')}Z`;
}

export interface Envelope {
  id: string;
  type: string;
  organization_id: string;
  occurred_at: string;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

export function envelope(
  type: string,
  organizationId: string,
  data: Record<string, unknown>,
  occurredAt: string,
  id = eventId(),
): Envelope {
  const object = type.includes('.user_') ? 'DirectoryUser' : type.includes('.group_') ? 'DirectoryGroup' : 'Directory';
  return {
    spec_version: '1',
    id,
    type,
    occurred_at: occurredAt,
    environment_id: 'env_12345',
    organization_id: organizationId,
    object,
    data: { organization_id: organizationId, ...data },
  };
}

export const T = {
  userCreated: 'organization.directory.user_created',
  userUpdated: 'organization.directory.user_updated',
  userDeleted: 'organization.directory.user_deleted',
  groupCreated: 'organization.directory.group_created',
  groupUpdated: 'organization.directory.group_updated',
  groupDeleted: 'organization.directory.group_deleted',
  directoryEnabled: 'organization.directory_enabled',
  directoryDisabled: 'organization.directory_disabled',
} as const;
