import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { ConfigError, loadConfig } from '../config/index';

/**
 * Sends one signed directory event to a running scimflow, the way Scalekit would.
 *   npm run send-event -- user_created --org org_test [--user diruser_1] [--email a@example.com]
 */

const TYPES: Record<string, string> = {
  user_created: 'organization.directory.user_created',
  user_updated: 'organization.directory.user_updated',
  user_deleted: 'organization.directory.user_deleted',
  group_created: 'organization.directory.group_created',
  group_updated: 'organization.directory.group_updated',
  group_deleted: 'organization.directory.group_deleted',
  directory_enabled: 'organization.directory_enabled',
  directory_disabled: 'organization.directory_disabled',
};

const usage = `Usage: npm run send-event -- <type> [options]

Types: ${Object.keys(TYPES).join(', ')}

Options:
  --org ID        organization id (default org_test)
  --user ID       directory user id (default diruser_test1)
  --email EMAIL   user email (default <user>@example.com)
  --group ID      group id for group events, or a group for user events (repeatable)
  --name NAME     group display name / user given name
  --url URL       scimflow base URL (default http://127.0.0.1:$PORT)
  -h, --help      this help

The event is signed with SCALEKIT_WEBHOOK_SECRET (or the local secret \`npm run dev\` generated).`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      org: { type: 'string', default: 'org_test' },
      user: { type: 'string', default: 'diruser_test1' },
      email: { type: 'string' },
      group: { type: 'string', multiple: true },
      name: { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const short = positionals[0];
  if (values.help || !short) {
    process.stdout.write(`${usage}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const type = TYPES[short];
  if (!type) throw new Error(`unknown event type "${short}"; expected one of ${Object.keys(TYPES).join(', ')}`);

  const config = loadConfig();
  let secret = config.webhookSecrets[0];
  const devFile = join(config.dev.dataDir, 'dev-secrets.json');
  if (!secret && !config.scalekit && existsSync(devFile)) {
    secret = (JSON.parse(readFileSync(devFile, 'utf8')) as { emulatorWebhookSecret: string }).emulatorWebhookSecret;
  }
  if (!secret) throw new Error('no webhook secret: set SCALEKIT_WEBHOOK_SECRET, or run `npm run dev` once to create a local one');

  const org = values.org as string;
  const groups = values.group ?? [];
  let data: Record<string, unknown>;
  if (short.startsWith('user_')) {
    const user = values.user as string;
    data = {
      id: user,
      organization_id: org,
      email: values.email ?? `${user.replace(/^diruser_/, '')}@example.com`,
      given_name: values.name ?? 'Test',
      family_name: 'User',
      active: short !== 'user_deleted',
      groups: groups.map((id) => ({ id, name: id })),
    };
  } else if (short.startsWith('group_')) {
    data = {
      id: groups[0] ?? 'dirgroup_test1',
      organization_id: org,
      directory_id: 'dir_test1',
      display_name: values.name ?? 'Test group',
    };
  } else {
    data = { id: 'dir_test1', organization_id: org, directory_type: 'SCIM', provider: 'OKTA', enabled: short === 'directory_enabled' };
  }
  const now = new Date();
  const payload = JSON.stringify({
    spec_version: '1',
    id: `evt_${randomBytes(10).toString('hex')}`,
    type,
    occurred_at: now.toISOString(),
    environment_id: 'env_local',
    organization_id: org,
    object: short.startsWith('user_') ? 'DirectoryUser' : short.startsWith('group_') ? 'DirectoryGroup' : 'Directory',
    data,
  });
  const msgId = `msg_${randomBytes(8).toString('hex')}`;
  const url = `${values.url ?? `http://127.0.0.1:${config.port}`}/webhooks/scalekit`;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(msgId, now, payload),
    },
    body: payload,
  });
  process.stdout.write(`${type} → ${url}: ${res.status} ${await res.text()}\n`);
  if (!res.ok) process.exit(1);
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).message;
  process.stderr.write(
    `send-event: ${message}${(err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED' ? ' (is `npm run dev` running?)' : ''}\n`,
  );
  process.exit(1);
});
