/**
 * Acme's settings, from the environment. APP_TASK_QUEUE, APP_WEBHOOK_SECRET and TEMPORAL_ADDRESS
 * are the same variables scimflow reads: the two sides agree on them.
 */

export interface AcmeConfig {
  databaseUrl: string;
  host: string;
  port: number;
  taskQueue: string;
  temporalAddress: string;
  temporalNamespace: string;
  webhookSecrets: string[];
  devLogin: boolean;
}

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

export function loadAcmeConfig(env: NodeJS.ProcessEnv = process.env): AcmeConfig {
  const port = Number(value(env, 'ACME_PORT') ?? 3100);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`ACME_PORT: expected a port, got ${env.ACME_PORT}`);
  return {
    // Acme's own schema `acme`; by default in scimflow's development database.
    databaseUrl: value(env, 'ACME_DATABASE_URL') ?? value(env, 'DATABASE_URL') ?? 'postgres://postgres@127.0.0.1:5432/scimflow',
    host: value(env, 'ACME_HOST') ?? '127.0.0.1',
    port,
    taskQueue: value(env, 'APP_TASK_QUEUE') ?? 'acme-app',
    temporalAddress: value(env, 'TEMPORAL_ADDRESS') ?? `127.0.0.1:${value(env, 'TEMPORAL_DEV_PORT') ?? 7233}`,
    temporalNamespace: value(env, 'TEMPORAL_NAMESPACE') ?? 'default',
    webhookSecrets: (value(env, 'APP_WEBHOOK_SECRET') ?? '').split(/[\s,]+/).filter(Boolean),
    devLogin: value(env, 'ACME_DEV_LOGIN') === '1',
  };
}

/** One JSON line per message, on stderr. */
export function consoleLogger(service: string) {
  const write =
    (level: string) =>
    (message: string, meta: Record<string, unknown> = {}) =>
      console.error(JSON.stringify({ time: new Date().toISOString(), level, service, message, ...meta }));
  return { info: write('info'), warn: write('warn'), error: write('error') };
}
