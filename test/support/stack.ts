import type { AddressInfo } from 'node:net';
import type { DataConverter } from '@temporalio/common';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { inject } from 'vitest';
import type { ReconcileSettings } from '../../activities/reconcile';
import type { RetentionOptions } from '../../activities/retention';
import { createApp, type AppDeps } from '../../api/app';
import type { ScalekitCredentials } from '../../config/index';
import { createScalekitClient, ScalekitDirectory } from '../../scalekit/directory';
import { PortalLinks } from '../../scalekit/portal';
import { memoryLogger } from '../../observability/logger';
import { Metrics, WorkerMetrics } from '../../observability/metrics';
import { WebhookVerifier } from '../../scalekit/webhook';
import { deliverySettings, type DeliverySettings } from '../../domain/delivery';
import { pushTaskQueue } from '../../temporal/task-queues';
import { OrganizationWorkflows } from '../../temporal/client';
import { DeliveryWorkflows } from '../../temporal/delivery';
import { dataConverter, payloadCodec, type PayloadCompression, type PayloadKey } from '../../temporal/codec';
import { createWorker, WORKFLOW_BUNDLE_OPTIONS, type ScimflowWorker } from '../../worker/create';
import { organizationName } from '../../db/repositories/organizations';
import { serveWorkerMetrics } from '../../worker/metrics-server';
import { createTestDatabase, type TestDatabase } from './db';
import { newSecret, signedHeaders } from './webhooks';
import { installTestRuntime } from './runtime';

export { expectActivityFailures } from './runtime';

installTestRuntime();

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({
    ...WORKFLOW_BUNDLE_OPTIONS,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
  });
  return bundle;
}

export interface Stack {
  baseUrl: string;
  secret: string;
  operatorToken: string;
  database: TestDatabase;
  client: Client;
  /** scimflow's data converter (compression, and encryption with keys): what an application's worker uses too. */
  dataConverter: DataConverter;
  taskQueue: string;
  workflows: OrganizationWorkflows;
  /** Operators' delivery commands (throw DeliveryOffError without `delivery`). */
  deliveries: DeliveryWorkflows;
  /** Operators' commands to the signed HTTP push (throw DeliveryOffError without `push`). */
  pushDeliveries: DeliveryWorkflows;
  metrics: Metrics;
  /** The worker's metrics, served at `workerMetricsUrl` as the worker process serves them. */
  workerMetrics: WorkerMetrics;
  workerMetricsUrl: string;
  logs: string[];
  /** POSTs a signed delivery of `body` (a string is sent byte for byte). */
  deliver(body: string | object, headers?: Record<string, string>): Promise<Response>;
  /** GETs an operator API path with the bearer token. */
  api<T = unknown>(path: string): Promise<T>;
  /**
   * The API with other settings (`options` over this stack's), on a port of its own, against the
   * same database and Temporal, for the length of `fn` (given its base URL).
   */
  withApi<T>(options: Partial<AppDeps>, fn: (baseUrl: string) => Promise<T>): Promise<T>;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  temporalAddress?: string;
  startWorker?: boolean;
  /** Scalekit (the emulator) for reconciliation; without it, webhooks only. */
  scalekit?: ScalekitCredentials;
  reconcile?: Partial<ReconcileSettings>;
  /** Retention periods and batch size of the worker's retention activities. */
  retention?: Partial<RetentionOptions>;
  /** The webhook secret to verify with (the emulator's); a fresh one by default. */
  webhookSecret?: string;
  /** Encrypt payloads in Temporal with these keys (the API serves /codec for the operator token). */
  payloadKeys?: PayloadKey[];
  /** Compress payloads in Temporal (zlib, the default, as in production) or not. */
  payloadCompression?: PayloadCompression;
  /** Activity slots of the worker's Scalekit task queue (the default otherwise). */
  scalekitSlots?: number;
  /** Deadline of an admin portal link (the default otherwise). */
  portalTimeoutMs?: number;
  /** How long the API waits for Temporal to take an event before answering 503 (3 s by default). */
  deliverTimeoutMs?: number;
  /** The Temporal namespace (default: `default`, which the dev server gives every custom search attribute). */
  namespace?: string;
  /** Temporal-native delivery of the change stream (the worker wakes it, the API steers it); off by default. */
  delivery?: DeliverySettings;
  /** Signed HTTP push of the change stream to `url` (its queue is the stack's push queue); off by default. */
  push?: { url: string; secret: string; settings?: Partial<Omit<DeliverySettings, 'appTaskQueue'>> };
  /**
   * The Temporal runtime's metrics exporter (installed by the test file first, see
   * support/runtime.ts): the worker's /metrics includes what it serves.
   */
  temporalMetricsUrl?: string;
}

/** API + worker in this process against the run's Temporal dev server and a fresh database. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const address = options.temporalAddress ?? inject('temporalAddress');
  const database = await createTestDatabase();
  const secret = options.webhookSecret ?? newSecret();
  const operatorToken = randomBytes(24).toString('hex');
  const taskQueue = `test-${randomBytes(6).toString('hex')}`;
  const connection = Connection.lazy({ address, connectTimeout: '2s' });
  const codec = payloadCodec(options);
  const converter = dataConverter(codec);
  const namespace = options.namespace ?? 'default';
  const client = new Client({ connection, namespace, dataConverter: converter });
  const workflows = new OrganizationWorkflows(client, taskQueue, options.deliverTimeoutMs ?? 3_000).namedBy((id) =>
    organizationName(database.db, id),
  );
  const deliveries = new DeliveryWorkflows(client, taskQueue, options.delivery);
  const pushSettings = options.push ? deliverySettings(pushTaskQueue(taskQueue), options.push.settings) : undefined;
  const pushDeliveries = new DeliveryWorkflows(client, taskQueue, pushSettings, undefined, undefined, 'webhook');
  const metrics = new Metrics();
  const logger = memoryLogger();
  const deps: AppDeps = {
    db: database.db,
    workflows,
    verifier: new WebhookVerifier([secret]),
    operatorApiToken: operatorToken,
    logger,
    metrics,
    portal: options.scalekit ? PortalLinks.fromCredentials(options.scalekit, options.portalTimeoutMs) : undefined,
    codec: { codec },
    ...(options.delivery ? { deliveries } : {}),
    ...(options.push ? { pushDeliveries } : {}),
  };
  const server = await listen(createApp(deps));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const workerMetrics = new WorkerMetrics();
  const metricsServer = await serveWorkerMetrics({
    metrics: workerMetrics,
    host: '127.0.0.1',
    port: 0,
    ...(options.temporalMetricsUrl ? { temporalMetricsUrl: options.temporalMetricsUrl } : {}),
  });
  const workerMetricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;

  let worker: ScimflowWorker | undefined;
  let running: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;

  const stack: Stack = {
    baseUrl,
    secret,
    operatorToken,
    database,
    client,
    dataConverter: converter,
    taskQueue,
    workflows,
    deliveries,
    pushDeliveries,
    metrics,
    workerMetrics,
    workerMetricsUrl,
    logs: logger.lines,
    async deliver(body, headers) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      return fetch(`${baseUrl}/webhooks/scalekit`, {
        method: 'POST',
        headers: headers ?? signedHeaders(secret, text),
        body: text,
      });
    },
    async api<T>(path: string) {
      const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${operatorToken}` } });
      if (!res.ok) throw new Error(`GET ${path} → ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    async withApi(overrides, fn) {
      const other = await listen(createApp({ ...deps, logger: memoryLogger(), metrics: new Metrics(), ...overrides }));
      try {
        return await fn(`http://127.0.0.1:${(other.address() as AddressInfo).port}`);
      } finally {
        await new Promise((r) => other.close(r));
      }
    },
    async startWorker() {
      nativeConnection ??= await NativeConnection.connect({ address });
      worker = await createWorker({
        connection: nativeConnection,
        namespace,
        taskQueue,
        activities: {
          db: database.db,
          directory: options.scalekit ? new ScalekitDirectory(createScalekitClient(options.scalekit)) : undefined,
          client,
          schedules: { taskQueue, fullInterval: '6h', deltaInterval: '1h' },
          reconcile: options.reconcile,
          retention: options.retention,
          ...(options.delivery || pushSettings ? { delivery: { taskQueue, settings: options.delivery, push: pushSettings } } : {}),
          ...(options.push ? { push: { url: options.push.url, secret: options.push.secret } } : {}),
          metrics: workerMetrics,
        },
        workflowBundle: await workflowBundle(),
        ...(options.scalekitSlots !== undefined ? { scalekitSlots: options.scalekitSlots } : {}),
        shutdownGraceTime: '2 seconds',
        dataConverter: converter,
      });
      running = worker.run();
    },
    async stopWorker() {
      worker?.shutdown();
      await running;
      worker = undefined;
      running = undefined;
      // A fresh connection for the next worker (the server may have been restarted meanwhile).
      await nativeConnection?.close();
      nativeConnection = undefined;
    },
    async stop() {
      await stack.stopWorker();
      // Workflows of this file end with it, so the shared server does not keep retrying them.
      await terminateAll(client, taskQueue).catch(() => undefined);
      await new Promise((r) => server.close(r));
      await new Promise((r) => metricsServer.close(r));
      await connection.close();
      await database.drop();
    },
  };
  if (options.startWorker !== false) await stack.startWorker();
  return stack;
}

function listen(app: ReturnType<typeof createApp>): Promise<Server> {
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
}

async function terminateAll(client: Client, taskQueue: string): Promise<void> {
  for await (const wf of client.workflow.list({ query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"` })) {
    await client.workflow
      .getHandle(wf.workflowId)
      .terminate('test finished')
      .catch(() => undefined);
  }
}

/** Thrown inside an `eventually` condition: the wait cannot succeed, so it ends at once. */
export class StopWaiting extends Error {}

/** Polls `fn` until it returns a truthy value (or the timeout passes, then throws with the last value). */
export async function eventually<T>(fn: () => Promise<T>, { timeoutMs = 30_000, intervalMs = 100 } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
