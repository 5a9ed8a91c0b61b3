import { ConfigError, exitWithParent, loadConfig } from '../config/index';
import { createDatabase } from '../db/connection';
import { organizationName } from '../db/repositories/organizations';
import { createLogger } from '../observability/logger';
import { describeTracing, startTracing } from '../observability/tracing';
import { Metrics } from '../observability/metrics';
import { PortalLinks } from '../scalekit/portal';
import { WebhookVerifier } from '../scalekit/webhook';
import { deliverySettings } from '../domain/delivery';
import { createLazyClient, OrganizationWorkflows } from '../temporal/client';
import { DeliveryWorkflows } from '../temporal/delivery';
import { pushTaskQueue } from '../temporal/task-queues';
import { dataConverter, describePayloads, payloadCodec } from '../temporal/codec';
import { createApp, createCodecApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, base: { service: 'scimflow-api' } });
  if (config.webhookSecrets.length === 0) {
    throw new ConfigError(['SCALEKIT_WEBHOOK_SECRET: required to verify webhooks (whsec_…; from Scalekit > Webhooks)']);
  }
  const tracing = await startTracing(config.tracing, { defaultServiceName: 'scimflow-api' });
  const address = config.temporal.address ?? `127.0.0.1:${config.dev.temporalPort}`;
  const db = createDatabase({ url: config.databaseUrl, applicationName: 'scimflow-api' });
  const codec = payloadCodec(config);
  const converter = dataConverter(codec);
  const { client, connection } = createLazyClient({
    address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    dataConverter: converter,
    ...(tracing ? { interceptors: tracing.clientInterceptors } : {}),
  });
  const app = createApp({
    db,
    workflows: new OrganizationWorkflows(client, config.temporal.taskQueue).namedBy((id) => organizationName(db, id)),
    verifier: new WebhookVerifier(config.webhookSecrets),
    operatorApiToken: config.operatorApiToken,
    appReadToken: config.appReadToken,
    logger,
    metrics: new Metrics(),
    ...(tracing ? { tracer: tracing.tracer } : {}),
    publicBaseUrl: config.publicBaseUrl,
    trustProxy: config.trustProxy,
    settingsFrameAncestors: config.settingsFrameAncestors,
    codec: { codec },
    portal: config.scalekit ? PortalLinks.fromCredentials(config.scalekit) : undefined,
    deliveries: config.delivery.appTaskQueue
      ? new DeliveryWorkflows(
          client,
          config.temporal.taskQueue,
          deliverySettings(config.delivery.appTaskQueue, { batch: config.delivery.batch, maxAttempts: config.delivery.maxAttempts }),
        )
      : undefined,
    pushDeliveries: config.push
      ? new DeliveryWorkflows(
          client,
          config.temporal.taskQueue,
          deliverySettings(pushTaskQueue(config.temporal.taskQueue), {
            batch: config.delivery.batch,
            maxAttempts: config.delivery.maxAttempts,
          }),
          undefined,
          undefined,
          'webhook',
        )
      : undefined,
  });
  const server = app.listen(config.port, config.apiHost, () => {
    logger.info('api listening', {
      port: config.port,
      host: config.apiHost ?? 'every interface',
      webhook: `/webhooks/scalekit`,
      temporal: address,
      payloads: describePayloads(config),
      tracing: describeTracing(config.tracing),
    });
  });
  // The Temporal UI's codec endpoint, on its own listener (operators' network only).
  const codecServer = config.codecListen
    ? createCodecApp({ codec, origins: config.codecOrigins, listenHost: config.codecListen.host, logger }).listen(
        config.codecListen.port,
        config.codecListen.host,
        () => {
          logger.info('codec endpoint listening', {
            at: `${config.codecListen?.host}:${config.codecListen?.port}`,
            origins: config.codecOrigins,
          });
        },
      )
    : undefined;
  const stop = () => {
    logger.info('api stopping');
    codecServer?.close();
    server.close(() => {
      void Promise.allSettled([connection.close(), db.destroy(), tracing?.shutdown()]).then(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (config.dev.exitWithParent) exitWithParent(stop);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`scimflow api failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
