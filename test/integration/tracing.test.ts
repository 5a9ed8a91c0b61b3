import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { DROP_WORKFLOW_SPANS } from '../../observability/tracing';
import { buildProduction } from '../../scripts/build';
import { freePort } from '../../scripts/lib/ports';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { organizationWorkflowId } from '../../workflows/messages';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { processEnv } from '../support/process-env';
import { eventually, workflowBundle } from '../support/stack';
import { envelope, nanoTime, newSecret, signedHeaders, T } from '../support/webhooks';
import { dataConverter } from '../../temporal/codec';

/**
 * Tracing on (OTEL_EXPORTER_OTLP_ENDPOINT): the API as `npm run start:api` runs it and the worker
 * as the image runs it (`node dist/worker.js`, with the workflow bundle built ahead of time) send their spans to an OTLP/HTTP collector (here, one in this
 * process that keeps what it receives). One webhook's trace holds the request, the Temporal
 * client's signalWithStart, the workflow's handling of the signal and scheduling of the activity,
 * the activity, and the mirror's transaction, each below the one before.
 */

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
}

let collector: Server;
const spans: Span[] = [];
const requests: { contentType: string | undefined }[] = [];
let database: TestDatabase;
let connection: Connection;
const children: { child: ChildProcess; output: () => string }[] = [];
let apiUrl: string;
const secret = newSecret();
const taskQueue = `traced-${randomBytes(4).toString('hex')}`;

/** OTLP/JSON attribute values: { stringValue } / { intValue } / … */
function attributeMap(list: { key: string; value: Record<string, unknown> }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, Object.values(a.value)[0]]));
}

interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: { key: string; value: Record<string, unknown> }[] };
    scopeSpans: {
      spans: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: { key: string; value: Record<string, unknown> }[];
      }[];
    }[];
  }[];
}

// One level below the project, as dist/ is (see production-build.test.ts).
const out = join(PROJECT_ROOT, `.build-test-${process.pid}-${randomBytes(3).toString('hex')}`);

/** Starts `node <args>` in the project, collecting what it prints. */
function start(args: string[], vars: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    env: processEnv(vars),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const started = { child, output: () => output };
  children.push(started);
  return started;
}

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ contentType: req.headers['content-type'] });
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest;
        for (const rs of body.resourceSpans) {
          const service = String(attributeMap(rs.resource.attributes)['service.name']);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
                name: s.name,
                service,
                attributes: attributeMap(s.attributes),
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  await buildProduction(out);
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });

  const [apiPort, workerMetricsPort, temporalMetricsPort] = [await freePort(), await freePort(), await freePort()];
  const common = {
    DATABASE_URL: database.url,
    TEMPORAL_TASK_QUEUE: taskQueue,
    SCALEKIT_WEBHOOK_SECRET: secret,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    // Spans are sent in batches; short waits here.
    OTEL_BSP_SCHEDULE_DELAY: '200',
    LOG_LEVEL: 'debug',
  };
  const worker = start([join(out, 'worker.js')], {
    ...common,
    WORKER_METRICS_HOST: '127.0.0.1',
    WORKER_METRICS_PORT: String(workerMetricsPort),
    WORKER_TEMPORAL_METRICS_PORT: String(temporalMetricsPort),
  });
  const api = start(['--import', 'tsx', 'api/main.ts'], { ...common, PORT: String(apiPort) });
  apiUrl = `http://127.0.0.1:${apiPort}`;
  for (const p of [worker, api]) {
    await eventually(async () => /"msg":"(worker started|api listening)"/.test(p.output()) || p.child.exitCode !== null, {
      timeoutMs: 120_000,
    });
    expect(p.child.exitCode, p.output()).toBeNull();
  }
  expect(worker.output()).toContain('the bundle built ahead of time');
}, 180_000);

afterAll(async () => {
  for (const { child } of children) {
    try {
      if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await connection?.close();
  await database?.drop();
  await new Promise((r) => collector?.close(r));
  await rm(out, { recursive: true, force: true });
});

async function deliver(body: object): Promise<number> {
  const text = JSON.stringify(body);
  const res = await fetch(`${apiUrl}/webhooks/scalekit`, { method: 'POST', headers: signedHeaders(secret, text), body: text });
  return res.status;
}

/**
 * The spans of the trace of the `nth` webhook request, once `names` are all there (spans arrive in
 * batches, and a workflow's span of scheduling an activity ends when the activity does).
 */
async function traceOf(nth: number, names: string[]): Promise<Span[]> {
  return eventually(
    async () => {
      const requestSpans = spans.filter((s) => s.name === 'POST /webhooks/scalekit');
      if (requestSpans.length < nth) return null;
      const traceId = requestSpans[nth - 1]!.traceId;
      const trace = spans.filter((s) => s.traceId === traceId);
      return names.every((n) => trace.some((s) => s.name === n)) ? trace : null;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

const WEBHOOK_TO_COMMIT = [
  'POST /webhooks/scalekit',
  'SignalWithStartWorkflow:organizationWorkflow',
  'StartActivity:applyDirectoryEvents',
  'RunActivity:applyDirectoryEvents',
  'mirror transaction',
];

/** The span's chain of parents, nearest first, as far as the trace has them. */
function ancestors(trace: Span[], span: Span): string[] {
  const names: string[] = [];
  let current: Span | undefined = span;
  while (current?.parentSpanId) {
    current = trace.find((s) => s.spanId === current!.parentSpanId);
    if (current) names.push(current.name);
  }
  return names;
}

function only(trace: Span[], name: string): Span {
  const found = trace.filter((s) => s.name === name);
  expect(found, `${name} in ${JSON.stringify(trace.map((s) => s.name))}`).toHaveLength(1);
  return found[0]!;
}

it('follows one webhook from the request to the commit in one trace, for a new and for a running workflow', async () => {
  const org = `org_traced_${randomBytes(4).toString('hex')}`;
  const email = `ada-${randomBytes(3).toString('hex')}@example.com`;
  expect(await deliver(envelope(T.userCreated, org, { id: 'diruser_ada', email, given_name: 'Ada' }, nanoTime(0)))).toBe(202);

  // The first webhook starts the organization's workflow.
  const first = await traceOf(1, WEBHOOK_TO_COMMIT);
  const request = only(first, 'POST /webhooks/scalekit');
  const signalWithStart = only(first, 'SignalWithStartWorkflow:organizationWorkflow');
  const runActivity = only(first, 'RunActivity:applyDirectoryEvents');
  const commit = only(first, 'mirror transaction');
  expect(request.service).toBe('scimflow-api');
  expect(request.attributes).toMatchObject({ 'http.route': '/webhooks/scalekit', 'http.response.status_code': 202 });
  expect(request.parentSpanId).toBeUndefined();
  expect(signalWithStart.parentSpanId).toBe(request.spanId);
  expect(runActivity.service).toBe('scimflow-worker');
  expect(commit.service).toBe('scimflow-worker');
  expect(commit.parentSpanId).toBe(runActivity.spanId);
  // The activity below the workflow's scheduling of it (a span from inside the workflow), below the client's call.
  expect(ancestors(first, commit)).toEqual(
    expect.arrayContaining([
      'RunActivity:applyDirectoryEvents',
      'StartActivity:applyDirectoryEvents',
      'SignalWithStartWorkflow:organizationWorkflow',
    ]),
  );
  expect(ancestors(first, commit).at(-1)).toBe('POST /webhooks/scalekit');
  expect(only(first, 'StartActivity:applyDirectoryEvents').service).toBe('scimflow-worker');

  // A second webhook, to the workflow already running: its own trace still reaches its commit,
  // through the workflow's handling of its signal.
  expect(await deliver(envelope(T.userUpdated, org, { id: 'diruser_ada', email, given_name: 'Ada', family_name: 'L' }, nanoTime(10)))).toBe(
    202,
  );
  const second = await traceOf(2, [...WEBHOOK_TO_COMMIT, 'HandleSignal:directoryEvent']);
  expect(second[0]!.traceId).not.toBe(first[0]!.traceId);
  const secondCommit = only(second, 'mirror transaction');
  expect(ancestors(second, secondCommit)).toEqual([
    'RunActivity:applyDirectoryEvents',
    'StartActivity:applyDirectoryEvents',
    'HandleSignal:directoryEvent',
    'SignalWithStartWorkflow:organizationWorkflow',
    'POST /webhooks/scalekit',
  ]);

  // Spans are OTLP/JSON, and hold neither the organization id nor the person's e-mail.
  expect(new Set(requests.map((r) => r.contentType))).toEqual(new Set(['application/json']));
  for (const trace of [first, second]) {
    const text = JSON.stringify(trace);
    expect(text).not.toContain(org);
    expect(text).not.toContain(email);
  }
  // Log lines written inside the request name its trace.
  const api = children[1]!;
  const accepted = api
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"webhook accepted"'))
    .map((l) => JSON.parse(l) as { trace_id?: string; span_id?: string });
  expect(accepted.map((l) => l.trace_id)).toEqual([first[0]!.traceId, second[0]!.traceId]);
  expect(accepted[0]!.span_id).toBe(request.spanId);

  // The traced history replays against the workflow bundle (tracing follows what the history holds).
  // Its payloads are compressed, as the worker stores them by default.
  const client = new Client({ connection, dataConverter: dataConverter({}) });
  const history = await client.workflow.getHandle(organizationWorkflowId(org)).fetchHistory();
  await Worker.runReplayHistory(
    { workflowBundle: await workflowBundle(), replayName: 'traced', sinks: DROP_WORKFLOW_SPANS, dataConverter: dataConverter({}) },
    history,
  );
  // The worker had a sink for every span its workflows sent.
  expect(children[0]!.output()).not.toMatch(/unregistered external sink/);
}, 240_000);
