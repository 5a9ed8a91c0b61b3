import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { ConfigError, exitWithParent, loadConfig } from '../config/index';
import { createDatabase } from '../db/connection';
import { createLogger } from '../observability/logger';
import { describeTracing, startTracing } from '../observability/tracing';
import { WorkerMetrics } from '../observability/metrics';
import { createScalekitClient, ScalekitDirectory } from '../scalekit/directory';
import { dataConverter, describePayloads } from '../temporal/codec';
import { keepEnsuringRetentionSchedule } from '../temporal/retention';
import { alignScheduleOffsets } from '../temporal/schedules';
import { pushTaskQueue, reconcileTaskQueue, scalekitTaskQueue } from '../temporal/task-queues';
import { wakeWaitingDeliveries } from '../activities/delivery';
import { deliverySettings } from '../domain/delivery';
import { createWorker } from './create';
import { serveWorkerMetrics } from './metrics-server';
import { temporalLogTo } from './runtime-log';
import { portInUse } from '../scripts/lib/ports';

/**
 * The workflow bundle `npm run build` writes beside this file (dist/workflow-bundle.js), when this
 * is the built worker; from source there is none, and the worker bundles the workflows at start.
 */
function prebuiltWorkflowBundle(): { codePath: string } | undefined {
  const codePath = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));
  return existsSync(codePath) ? { codePath } : undefined;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, base: { service: 'scimflow-worker' } });
  // The Temporal runtime's own lines go through the same structured logger (errors described the
  // bounded way; refusals as one line with the reason).
  // Its metrics (the Temporal SDK's own: task slots, poll and schedule-to-start latencies, …) on
  // this machine only: the worker's /metrics includes them.
  // A port another process holds (a second worker on the host, another exporter) leaves the
  // worker without that endpoint, said in the log, and working: Prometheus shows the target down.
  const temporalMetrics = `127.0.0.1:${config.workerMetrics.temporalPort}`;
  const temporalMetricsFree = !(await portInUse(config.workerMetrics.temporalPort));
  if (!temporalMetricsFree) {
    logger.error("the Temporal runtime's metrics are not exported: the port is in use (WORKER_TEMPORAL_METRICS_PORT)", {
      address: temporalMetrics,
    });
  }
  Runtime.install({
    logger: new DefaultLogger(config.logLevel === 'debug' ? 'DEBUG' : 'WARN', temporalLogTo(logger)),
    ...(temporalMetricsFree ? { telemetryOptions: { metrics: { prometheus: { bindAddress: temporalMetrics } } } } : {}),
  });
  const tracing = await startTracing(config.tracing, { defaultServiceName: 'scimflow-worker' });
  const metrics = new WorkerMetrics();
  const metricsServer = await serveWorkerMetrics({
    metrics,
    host: config.workerMetrics.host,
    port: config.workerMetrics.port,
    ...(temporalMetricsFree ? { temporalMetricsUrl: `http://${temporalMetrics}/metrics` } : {}),
  }).catch((err: unknown) => {
    logger.error("the worker's /metrics is not served: its port is in use (WORKER_METRICS_PORT)", {
      address: `${config.workerMetrics.host}:${config.workerMetrics.port}`,
      error: (err as Error).message,
    });
    return undefined;
  });
  const address = config.temporal.address ?? `127.0.0.1:${config.dev.temporalPort}`;
  // One connection per activity slot, so a full worker never waits for the pool; the Scalekit and
  // reconcile queues' activities (plans and applies hold one for minutes) get connections of their
  // own, one per slot, never taken from the pool that applies events.
  const { scalekitSlots, activitySlots, reconcileSlots } = config.worker;
  const db = createDatabase({ url: config.databaseUrl, applicationName: 'scimflow-worker', maxConnections: activitySlots });
  const scalekitDb =
    scalekitSlots > 0
      ? createDatabase({ url: config.databaseUrl, applicationName: 'scimflow-worker-scalekit', maxConnections: scalekitSlots })
      : undefined;
  const reconcileDb =
    reconcileSlots > 0
      ? createDatabase({ url: config.databaseUrl, applicationName: 'scimflow-worker-reconcile', maxConnections: reconcileSlots })
      : undefined;
  const connection = await NativeConnection.connect({ address });
  const clientConnection = await Connection.connect({ address });
  const converter = dataConverter(config);
  const client = new Client({
    connection: clientConnection,
    namespace: config.temporal.namespace,
    dataConverter: converter,
    ...(tracing ? { interceptors: { workflow: tracing.clientInterceptors } } : {}),
  });
  const tuning = { batch: config.delivery.batch, maxAttempts: config.delivery.maxAttempts };
  const deliveryDeps =
    config.delivery.appTaskQueue || config.push
      ? {
          taskQueue: config.temporal.taskQueue,
          settings: config.delivery.appTaskQueue ? deliverySettings(config.delivery.appTaskQueue, tuning) : undefined,
          push: config.push ? deliverySettings(pushTaskQueue(config.temporal.taskQueue), tuning) : undefined,
        }
      : undefined;
  const workflowBundle = prebuiltWorkflowBundle();
  logger.info(workflowBundle ? 'workflow code: the bundle built ahead of time' : 'workflow code: bundled now, from source', {
    ...(workflowBundle ? { path: workflowBundle.codePath } : {}),
  });
  const worker = await createWorker({
    ...(workflowBundle ? { workflowBundle } : {}),
    dataConverter: converter,
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activitySlots,
    scalekitSlots,
    ...(scalekitDb ? { scalekitDb } : {}),
    reconcileSlots,
    ...(reconcileDb ? { reconcileDb } : {}),
    ...(tracing ? { tracing } : {}),
    activities: {
      db,
      directory: config.scalekit ? new ScalekitDirectory(createScalekitClient(config.scalekit)) : undefined,
      client,
      schedules: {
        taskQueue: config.temporal.taskQueue,
        fullInterval: config.reconcile.fullInterval,
        deltaInterval: config.reconcile.deltaInterval,
      },
      reconcile: { guardShare: config.reconcile.guardShare, guardMinimum: config.reconcile.guardMinimum },
      retention: { ...config.retention, logger },
      ...(deliveryDeps ? { delivery: deliveryDeps } : {}),
      ...(config.push ? { push: config.push } : {}),
      metrics,
    },
  });
  if (deliveryDeps) {
    // Deliveries with records waiting and no wake-up coming (one failed, or delivery was just turned on).
    wakeWaitingDeliveries(db, client, deliveryDeps).then(
      (woken) => logger.info('deliveries with records waiting woken', { organizations: woken }),
      (err: unknown) =>
        logger.warn('could not wake the deliveries with records waiting; each wakes on its next change', {
          error: String(err).slice(0, 300),
        }),
    );
  }
  // Reconcile schedules made before each organization had its own offset get it (once; after
  // that this is one listing of the schedules).
  alignScheduleOffsets(client).then(
    ({ changed, failed, firstError }) => {
      if (changed > 0) logger.info('reconcile schedules given their organization offset', { schedules: changed });
      if (failed > 0) {
        logger.warn('could not give some reconcile schedules their offsets; the next worker start tries again', {
          schedules: failed,
          error: String(firstError).slice(0, 300),
        });
      }
    },
    (err: unknown) =>
      logger.warn('could not give the reconcile schedules their offsets; the next worker start tries again', {
        error: String(err).slice(0, 300),
      }),
  );
  // Directory sync does not depend on retention: its schedule is made in the background, tried
  // again until Temporal takes it.
  const stopping = new AbortController();
  const retentionSchedule = keepEnsuringRetentionSchedule(
    client,
    { taskQueue: config.temporal.taskQueue, interval: config.retention.interval },
    { logger, signal: stopping.signal },
  );
  if (!config.scalekit) {
    logger.warn('no Scalekit credentials: webhooks are applied, but reconciliation and imports are unavailable');
  }
  if (config.dev.exitWithParent) exitWithParent(() => worker.shutdown());
  if (scalekitSlots === 0) {
    logger.warn('WORKER_SCALEKIT_SLOTS=0: this process does not poll the Scalekit task queue; another worker process must', {
      scalekitTaskQueue: scalekitTaskQueue(config.temporal.taskQueue),
    });
  }
  if (reconcileSlots === 0) {
    logger.warn('WORKER_RECONCILE_SLOTS=0: this process does not poll the reconcile task queue; another worker process must', {
      reconcileTaskQueue: reconcileTaskQueue(config.temporal.taskQueue),
    });
  }
  logger.info('worker started', {
    temporal: address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activitySlots,
    scalekitTaskQueue: scalekitSlots > 0 ? scalekitTaskQueue(config.temporal.taskQueue) : null,
    scalekitSlots,
    reconcileTaskQueue: reconcileSlots > 0 ? reconcileTaskQueue(config.temporal.taskQueue) : null,
    reconcileSlots,
    payloads: describePayloads(config),
    appTaskQueue: config.delivery.appTaskQueue ?? null,
    // The push's URL and secret are not logged.
    appPush: config.push !== undefined,
    metrics: metricsServer ? `http://${config.workerMetrics.host}:${config.workerMetrics.port}/metrics` : null,
    tracing: describeTracing(config.tracing),
  });
  await worker.run();
  stopping.abort();
  await retentionSchedule;
  await connection.close();
  await clientConnection.close();
  await db.destroy();
  await scalekitDb?.destroy();
  await reconcileDb?.destroy();
  if (metricsServer) await new Promise((resolve) => metricsServer.close(resolve));
  await tracing?.shutdown();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`scimflow worker failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
