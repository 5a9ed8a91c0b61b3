import { parseArgs } from 'node:util';
import { startEmulator } from './emulator';
import type { DeliveryLogEntry } from './delivery';

/**
 * `npm run emulator`: a local Scalekit on 127.0.0.1. Prints the environment that points scimflow
 * at it. These are throwaway local credentials, generated per run unless given, so printing them
 * is the point; nothing else (tokens, portal links) is ever printed.
 */

const HELP = `Usage: npm run emulator -- [options]

  --port <n>            port to listen on (default 8280, or SCALEKIT_EMULATOR_PORT; 0 = any free port)
  --host <addr>         interface to bind (default 127.0.0.1)
  --webhook-url <url>   deliver webhooks to this URL (e.g. http://127.0.0.1:3000/webhooks/scalekit)
  --seed-demo           create the demo organization (about 50 users, 6 groups)
  --seed <n>            seed for ids, generated data and faults (default 1)
  --time-scale <x>      multiply the webhook retry schedule (default 1; 0.001 = 27 h in ~100 s)
  --client-id <id>      OAuth client id (default: generated; or SCALEKIT_EMULATOR_CLIENT_ID)
  --client-secret <s>   OAuth client secret (default: generated; or SCALEKIT_EMULATOR_CLIENT_SECRET)
  --webhook-secret <s>  whsec_… signing secret (default: generated; or SCALEKIT_EMULATOR_WEBHOOK_SECRET)
  --state <file>        keep the emulator's organizations, users, groups, id sequences and pending
                        webhooks in this JSON file across restarts (ids then never repeat)
  --quiet               do not print delivery attempts
  -h, --help            show this help
`;

function fail(message: string): never {
  process.stderr.write(`emulator: ${message}\n\n${HELP}`);
  process.exit(2);
}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) fail(`--${name} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'webhook-url': { type: 'string' },
        'seed-demo': { type: 'boolean' },
        seed: { type: 'string' },
        'time-scale': { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        'webhook-secret': { type: 'string' },
        state: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const env = process.env;
  const port = numberOption(values.port ?? env.SCALEKIT_EMULATOR_PORT, 'port') ?? 8280;
  const seed = numberOption(values.seed, 'seed');
  const timeScale = numberOption(values['time-scale'], 'time-scale');
  // Empty counts as unset (Compose passes `${VAR:-}` through as an empty string).
  const clientId = values['client-id'] ?? (env.SCALEKIT_EMULATOR_CLIENT_ID || undefined);
  const clientSecret = values['client-secret'] ?? (env.SCALEKIT_EMULATOR_CLIENT_SECRET || undefined);
  const webhookSecret = values['webhook-secret'] ?? (env.SCALEKIT_EMULATOR_WEBHOOK_SECRET || undefined);

  const printAttempt = (e: DeliveryLogEntry): void => {
    const result = e.outcome === 'delivered' ? `${e.status}` : e.outcome === 'dropped' ? 'dropped (fault)' : `${e.status ?? e.error}`;
    const next = e.nextAttemptAt ? `, retry at ${e.nextAttemptAt}` : e.exhausted ? ', gave up' : '';
    process.stdout.write(`  webhook ${e.type} ${e.eventId} attempt ${e.attempt}${e.copy ? ' (duplicate)' : ''}: ${result}${next}\n`);
  };

  let emulator;
  try {
    emulator = await startEmulator({
      port,
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(timeScale !== undefined ? { timeScale } : {}),
      ...(clientId !== undefined ? { clientId } : {}),
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      ...(webhookSecret !== undefined ? { webhookSecrets: [webhookSecret] } : {}),
      ...(values['webhook-url'] !== undefined ? { webhookUrl: values['webhook-url'] } : {}),
      ...(values.state !== undefined ? { stateFile: values.state } : {}),
      ...(values.quiet ? {} : { onDeliveryAttempt: printAttempt }),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') fail(`port ${port} is in use: pick another with --port`);
    throw err;
  }

  const out = (s = ''): boolean => process.stdout.write(`${s}\n`);
  out(`Scalekit emulator listening on ${emulator.url} (gRPC + /oauth/token + control API at /_emulator)`);
  out();
  out('Point scimflow at it:');
  out(`  SCALEKIT_ENVIRONMENT_URL=${emulator.url}`);
  out(`  SCALEKIT_CLIENT_ID=${emulator.clientId}`);
  out(`  SCALEKIT_CLIENT_SECRET=${emulator.clientSecret}`);
  out(`  SCALEKIT_WEBHOOK_SECRET=${emulator.webhookSecrets[0] ?? ''}`);
  out();
  if (values.state !== undefined) {
    out(
      emulator.restored
        ? `Continued from ${values.state}: ${emulator.listOrganizations().length} organization(s)`
        : `Started empty; the state is kept in ${values.state}`,
    );
    out();
  }
  if (values['seed-demo'] && !emulator.restored) {
    const org = emulator.seedDemo(seed !== undefined ? { seed } : {});
    const snap = emulator.snapshot(org.id);
    out(`Demo organization ${org.displayName}: ${org.id} (external id ${org.externalId}), directory ${org.directoryId}`);
    out(`  ${snap.users.length} users, ${snap.groups.length} groups, ${snap.directory.roleAssignments.length} role assignments`);
    out();
    out('Make a change and watch the webhook go out, e.g.:');
    out(`  curl -s -X POST '${emulator.url}/_emulator/organizations/${org.id}/users' \\`);
    out(`    -H 'content-type: application/json' -d '{"email":"new.hire@acme.example","givenName":"New","familyName":"Hire"}'`);
    out();
  }
  out(
    emulator.webhookUrl
      ? `Delivering webhooks to ${emulator.webhookUrl}`
      : `No webhook URL yet: set one with --webhook-url or PUT ${emulator.url}/_emulator/webhook {"url": "…"}`,
  );
  out('Control API reference: docs/emulator.md. Ctrl-C to stop.');

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    out('\nStopping the emulator…');
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`emulator: error while closing: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`emulator: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
