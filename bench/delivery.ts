import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { Webhook } from 'standardwebhooks';
import { createDatabase } from '../db/connection';
import { DEFAULT_DELIVERY_BATCH } from '../domain/delivery';
import type { EmulatorHandle } from '../emulator/index';
import { createAcmeApp } from '../examples/acme-app/app';
import { createAcmeDatabase, migrateAcme } from '../examples/acme-app/db';
import { issueToken } from '../examples/acme-app/tokens';
import { OrganizationWorkflows } from '../temporal/client';
import { deliveryWorkflowId } from '../workflows/delivery-messages';
import { organizationWorkflowId } from '../workflows/messages';
import { freePort, startProcess, type BenchProcess } from './processes';
import { CommitNotices, latencies, mib, ms, percentile, postWebhook, rate, say, sleep, steady } from './lib';

/**
 * The delivery scenario: scimflow with Temporal-native delivery on, the reference application
 * (examples/acme-app) on a task queue of its own, each in its own processes as deployed (scimflow's
 * worker and API, Acme's worker). Each figure is next to the same work's commit in scimflow's
 * mirror, measured the same way in the same run: commits as PostgreSQL announces them.
 */

/** Webhooks per second, and for how long, in the live part. */
const RATE = 20;
const SECONDS = 30;
/** Organizations the live webhooks are spread over. */
const ORGANIZATIONS = 5;
/** Users deprovisioned (each holding an Acme token), at RATE. */
const DEPROVISIONED = 200;
/** How often the commit watches poll the tables (through a pool of their own, not scimflow's). */
const POLL_MS = 10;

export interface DeliveryContext {
  dbUrl: string;
  /** A client with scimflow's payload codec (compression). */
  client: Client;
  emulator: EmulatorHandle;
  taskQueue: string;
  users: number;
  temporalAddress: string;
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function listen(app: { listen: (port: number, host: string, cb: () => void) => Server }): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Polls `done` every POLL_MS; answers the time it first answered true. */
async function pollUntil(done: () => Promise<boolean>, timeoutMs = 600_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await done()) return performance.now();
    if (performance.now() > deadline) throw new Error('benchmark step timed out');
    await sleep(POLL_MS);
  }
}

const latencyLine = (label: string, sorted: number[]) =>
  `${label} p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted[sorted.length - 1] ?? 0)} (${sorted.length} events)`;

export async function deliveryScenario(ctx: DeliveryContext): Promise<void> {
  const { client, emulator } = ctx;
  const acmeDb = createAcmeDatabase(ctx.dbUrl, { maxConnections: 10, applicationName: 'acme-bench' });
  await migrateAcme(acmeDb);
  const taskQueue = `${ctx.taskQueue}-delivery`;
  const appQueue = `${ctx.taskQueue}-acme`;
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  // scimflow's worker and API, and Acme's worker, each in a process of its own, as they are deployed
  // (and as `npm run dev` runs them); the benchmark's own work (sending, watching) stays out of them.
  const apiPort = await freePort();
  const temporalMetricsPort = await freePort();
  const env = {
    DATABASE_URL: ctx.dbUrl,
    TEMPORAL_ADDRESS: ctx.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    APP_TASK_QUEUE: appQueue,
    SCALEKIT_ENVIRONMENT_URL: emulator.url,
    SCALEKIT_CLIENT_ID: emulator.clientId,
    SCALEKIT_CLIENT_SECRET: emulator.clientSecret,
    SCALEKIT_WEBHOOK_SECRET: secret,
    RECONCILE_FULL_INTERVAL: '6h',
    RECONCILE_DELTA_INTERVAL: '1h',
    PORT: String(apiPort),
    WORKER_METRICS_PORT: String(await freePort()),
    WORKER_TEMPORAL_METRICS_PORT: String(temporalMetricsPort),
    LOG_LEVEL: 'info',
  };
  const processes: BenchProcess[] = [];
  const stopAll = () => Promise.all(processes.map((p) => p.stop()));
  try {
    processes.push(await startProcess('worker', 'worker/main.ts', env, '"worker started"'));
    processes.push(await startProcess('api', 'api/main.ts', env, '"api listening"'));
    processes.push(await startProcess("Acme's worker", 'examples/acme-app/worker.ts', env, '"message":"polling"'));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const workflows = new OrganizationWorkflows(client, taskQueue, 30_000);
  const acmeApi = await listen(createAcmeApp({ db: acmeDb, logger: quiet }));
  const webhookUrl = `http://127.0.0.1:${apiPort}/webhooks/scalekit`;
  const watchDb = createDatabase({ url: ctx.dbUrl, maxConnections: 4 });
  const signer = new Webhook(secret);

  // Commits as they happen: the benchmark's triggers announce rows at their transaction's commit.
  // - In the mirror: an event's ledger row turning 'applied', written in the same transaction as its effects.
  // - In Acme: a change record claimed in applied_changes, which Acme writes in the transaction of its own writes.
  // - A token refused: Acme's authenticate() refuses a revoked token, or one of a user made inactive.
  await watchDb.raw(`
    CREATE OR REPLACE FUNCTION bench_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('bench_mirror', NEW.id); RETURN NULL; END $$;
    CREATE OR REPLACE TRIGGER bench_event_applied AFTER INSERT OR UPDATE OF outcome ON directory_events
      FOR EACH ROW WHEN (NEW.outcome = 'applied') EXECUTE FUNCTION bench_notify_event();
    CREATE OR REPLACE FUNCTION bench_notify_claim() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('bench_acme', NEW.record_id); RETURN NULL; END $$;
    CREATE OR REPLACE TRIGGER bench_record_claimed AFTER INSERT ON acme.applied_changes
      FOR EACH ROW EXECUTE FUNCTION bench_notify_claim();
    CREATE OR REPLACE FUNCTION bench_notify_inactive() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('bench_refused', NEW.directory_user_id); RETURN NULL; END $$;
    CREATE OR REPLACE TRIGGER bench_user_inactive AFTER UPDATE OF active ON acme.users
      FOR EACH ROW WHEN (NOT NEW.active) EXECUTE FUNCTION bench_notify_inactive();
    CREATE OR REPLACE FUNCTION bench_notify_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('bench_refused', (SELECT directory_user_id FROM acme.users WHERE id = NEW.user_id)); RETURN NULL; END $$;
    CREATE OR REPLACE TRIGGER bench_token_revoked AFTER UPDATE OF revoked_at ON acme.api_tokens
      FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION bench_notify_revoked();
  `);
  const notices = await CommitNotices.listen(ctx.dbUrl, ['bench_mirror', 'bench_acme', 'bench_refused']);
  const dropTriggers = () =>
    watchDb.raw(`
      DROP TRIGGER IF EXISTS bench_event_applied ON directory_events;
      DROP TRIGGER IF EXISTS bench_record_claimed ON acme.applied_changes;
      DROP TRIGGER IF EXISTS bench_user_inactive ON acme.users;
      DROP TRIGGER IF EXISTS bench_token_revoked ON acme.api_tokens;
    `);
  const inMirror = (eventId: string, accepted: number) => notices.when('bench_mirror', eventId).then((at) => at - accepted);
  // In Acme: once every change record of the mirror's transaction that applied the event (its ledger
  // row's xmin) is claimed. (Events applied together share their records: a user created and renamed
  // in one batch is one record.)
  const inAcme = async (eventId: string, accepted: number) => {
    await notices.when('bench_mirror', eventId);
    const ids = (
      await watchDb.raw<{ rows: { id: string }[] }>(
        `SELECT c.id::text AS id FROM directory_events e
           JOIN change_records c ON c.organization_id = e.organization_id AND c.txid::xid = e.xmin
          WHERE e.id = ?`,
        [eventId],
      )
    ).rows.map((r) => r.id);
    const claimed = await Promise.all(ids.map((id) => notices.when('bench_acme', id)));
    return Math.max(...claimed, await notices.when('bench_mirror', eventId)) - accepted;
  };

  const loadAtStart = loadavg()[0]!;
  try {
    // 1. Live webhooks: 202 → committed in the mirror, and → committed in Acme, for the same events.
    say();
    say(
      `delivery: signed user_created/user_updated webhooks at ${RATE}/s for ${SECONDS} s over ${ORGANIZATIONS} organizations, delivered to Acme (examples/acme-app) on its own task queue`,
    );
    const orgs = Array.from(
      { length: ORGANIZATIONS },
      (_, i) => emulator.createOrganization({ displayName: `Bench delivery ${i}` }, { emit: false }).id,
    );
    // Every third event after the first five seconds renames a user created at least three seconds before.
    const total = RATE * SECONDS;
    const created: { org: string; user: string }[] = [];
    const events = Array.from({ length: total }, (_, i) => {
      const org = orgs[i % ORGANIZATIONS]!;
      if (i >= RATE * 5 && i % 3 === 0) {
        const target = created[(i * 7) % (created.length - RATE * 3)]!;
        return { i, org: target.org, user: target.user, type: 'user_updated' as const };
      }
      const user = `diruser_live${String(i).padStart(5, '0')}`;
      created.push({ org, user });
      return { i, org, user, type: 'user_created' as const };
    });
    const eventId = (prefix: string, i: number) => `evt_${prefix}${String(i).padStart(6, '0')}`;
    const toMirrorPending: Promise<number>[] = [];
    const toAcmePending: Promise<number>[] = [];
    await steady(events, RATE, async (e) => {
      const id = eventId('live', e.i);
      const payload = JSON.stringify({
        spec_version: '1',
        id,
        type: `organization.directory.${e.type}`,
        occurred_at: new Date().toISOString(),
        organization_id: e.org,
        object: 'DirectoryUser',
        data: {
          id: e.user,
          organization_id: e.org,
          email: `${e.user}@example.com`,
          given_name: 'Bench',
          family_name: e.type === 'user_created' ? 'Created' : `Renamed ${e.i}`,
          active: true,
        },
      });
      await postWebhook(webhookUrl, signer, `msg_live${e.i}`, payload);
      const accepted = performance.now();
      toMirrorPending.push(inMirror(id, accepted));
      toAcmePending.push(inAcme(id, accepted));
    });
    const toMirror = await latencies(toMirrorPending);
    const toAcme = await latencies(toAcmePending);
    say(`  baseline  ${latencyLine('webhook 202 → committed in the mirror:', toMirror)}`);
    say(`  scimflow  ${latencyLine('webhook 202 → committed in Acme:', toAcme)}`);
    say(`  where     ${await deliveryBreakdown(client, orgs[0]!)} (one of the ${ORGANIZATIONS} organizations)`);
    say(`  mirror    ${await organizationBreakdown(client, orgs[0]!)}`);
    say(`  worker    ${await workerTasks(`http://127.0.0.1:${temporalMetricsPort}/metrics`)}`);
    say(
      `  ratio     in Acme / in the mirror = p50 ${(percentile(toAcme, 50) / percentile(toMirror, 50)).toFixed(2)}x, p99 ${(percentile(toAcme, 99) / percentile(toMirror, 99)).toFixed(2)}x (target ≤ 1.5x; commits seen as PostgreSQL announces them)`,
    );

    // 2. Deprovisioning: users holding an Acme token deleted in the directory; 202 → the token no longer authenticates.
    say();
    say(`deprovision: ${DEPROVISIONED} users holding an Acme API token deleted in the directory (user_deleted webhooks at ${RATE}/s)`);
    const victims = created.slice(0, DEPROVISIONED);
    const acmeUsers = new Map(
      (
        (await acmeDb('users').whereIn('organization_id', orgs).select('id', 'organization_id', 'directory_user_id')) as {
          id: string;
          organization_id: string;
          directory_user_id: string;
        }[]
      ).map((u) => [`${u.organization_id}/${u.directory_user_id}`, u.id]),
    );
    const tokens = new Map<string, string>();
    for (const v of victims) {
      const userId = acmeUsers.get(`${v.org}/${v.user}`);
      if (!userId) throw new Error(`Acme has no user ${v.user}`);
      tokens.set(v.user, await issueToken(acmeDb, userId));
    }
    const status = async (token: string) =>
      (await fetch(`${acmeApi.url}/me`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => (await r.arrayBuffer(), r)))
        .status;
    for (const token of tokens.values()) if ((await status(token)) !== 200) throw new Error('a fresh token does not authenticate');
    const toDeactivatedPending: Promise<number>[] = [];
    const toRevokedPending: Promise<number>[] = [];
    await steady(
      victims.map((v, i) => ({ ...v, i })),
      RATE,
      async (v) => {
        const id = eventId('gone', v.i);
        const payload = JSON.stringify({
          spec_version: '1',
          id,
          type: 'organization.directory.user_deleted',
          occurred_at: new Date().toISOString(),
          organization_id: v.org,
          object: 'DirectoryUser',
          data: { id: v.user, organization_id: v.org, email: `${v.user}@example.com` },
        });
        await postWebhook(webhookUrl, signer, `msg_gone${v.i}`, payload);
        const accepted = performance.now();
        toDeactivatedPending.push(inMirror(id, accepted));
        toRevokedPending.push(notices.when('bench_refused', v.user).then((at) => at - accepted));
      },
    );
    const toDeactivated = await latencies(toDeactivatedPending);
    const toRevoked = await latencies(toRevokedPending);
    // The import's 10,000 claims are counted, not announced.
    await dropTriggers();
    let refused = 0;
    for (const token of tokens.values()) if ((await status(token)) === 401) refused++;
    if (refused !== tokens.size) throw new Error(`${tokens.size - refused} deprovisioned users' tokens still authenticate`);
    say(`  baseline  ${latencyLine('webhook 202 → user deactivated in the mirror:', toDeactivated)}`);
    say(`  scimflow  ${latencyLine('webhook 202 → token no longer authenticates in Acme:', toRevoked)}`);
    say(
      `  target    p99 ≤ 1000 ms: ${percentile(toRevoked, 99) <= 1000 ? 'met' : 'missed'}; afterwards Acme's GET /me answered 401 to all ${refused} tokens`,
    );

    // 3. An import delivered: every user.provisioned applied in Acme, as a rate, next to the mirror's apply.
    say();
    say(
      `delivery of an import: a ${ctx.users.toLocaleString('en-US')}-user directory (100 groups) imported, then applied in Acme (APP_DELIVERY_BATCH ${DEFAULT_DELIVERY_BATCH})`,
    );
    const org = emulator.generateLarge({ users: ctx.users, groups: 100, seed: 17 }).organization.id;
    const provisioned = async (table: 'change_records' | 'acme.applied_changes') =>
      Number(
        ((await watchDb(table).where({ organization_id: org, kind: 'user.provisioned' }).count('* as count')) as { count: string }[])[0]
          ?.count ?? 0,
      );
    const t0 = performance.now();
    const accepted = await workflows.startReconcile(org, { kind: 'full', dryRun: false, trigger: 'import' });
    // The apply writes every user in one transaction: the first provisioned record seen is the commit.
    const committedAt = await pollUntil(
      async () => (await watchDb('change_records').where({ organization_id: org, kind: 'user.provisioned' }).first('id')) !== undefined,
    );
    const mirrorCount = await provisioned('change_records');
    if (mirrorCount !== ctx.users) throw new Error(`the import provisioned ${mirrorCount} users, not ${ctx.users}`);
    const acmeAt = await pollUntil(async () => (await provisioned('acme.applied_changes')) >= ctx.users);
    const outcome = (await workflows.status(org))?.lastReconcile;
    if (outcome?.runId !== accepted.runId || outcome.status !== 'completed')
      throw new Error(`the import did not complete: ${JSON.stringify(outcome)}`);
    if ((await acmeDb('users').where({ organization_id: org }).count('* as count'))[0]?.count !== String(ctx.users))
      throw new Error('Acme does not have every imported user');
    // The mirror's apply step, as the organization workflow's history timed it (started → completed).
    const history = await client.workflow.getHandle(organizationWorkflowId(org)).fetchHistory();
    const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applySyncRun');
    const started = history.events?.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
    );
    const completed = history.events?.find(
      (e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
    );
    const applyStep = at(completed) - at(started);
    if (!started || !completed || applyStep <= 0) throw new Error('no applySyncRun step in the organization workflow history');
    const delivered = acmeAt - committedAt;
    say(
      `  baseline  mirror: the import committed ${ms(committedAt - t0)} after it started; its apply step wrote ${ctx.users.toLocaleString('en-US')} users in ${ms(applyStep)} (${rate(ctx.users, applyStep)})`,
    );
    say(
      `  scimflow  Acme: every user.provisioned applied ${ms(delivered)} after the mirror's commit (${rate(ctx.users, delivered)}), ${ms(acmeAt - t0)} after the import started`,
    );
    say(`  ratio     Acme's apply rate / the mirror's = ${(applyStep / delivered).toFixed(2)}x (target ≥ 0.8x)`);
    say(`  where     ${await deliveryBreakdown(client, org)}`);
    say(
      `  (load average ${loadAtStart.toFixed(1)} when the scenario started, ${loadavg()[0]!.toFixed(1)} at its end, on ${availableParallelism()} cores)`,
    );
  } finally {
    await stopAll();
    await close(acmeApi.server);
    await acmeDb.destroy();
    await dropTriggers().catch(() => undefined);
    await notices.close();
    await watchDb.destroy();
  }
}

/** A history event's time, in milliseconds. */
function at(e: { eventTime?: { seconds?: unknown; nanos?: unknown } | null } | undefined): number {
  return Number(e?.eventTime?.seconds ?? 0) * 1000 + Number(e?.eventTime?.nanos ?? 0) / 1e6;
}

/**
 * Where the delivery of an organization's records spent its time, from its workflow's history: the
 * application's activity waiting on its queue, running in the application, and the workflow between
 * one call's completion and the next call.
 */
async function deliveryBreakdown(client: Client, organizationId: string): Promise<string> {
  let queued = 0;
  let running = 0;
  let between = 0;
  let calls = 0;
  let runs = 0;
  let handover = 0;
  let bytes = 0;
  let woken = 0;
  let wakes = 0;
  let dispatch = 0;
  let inWorker = 0;
  let tasks = 0;
  const workflowId = deliveryWorkflowId(organizationId);
  const histories = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    // Page by page, small pages: a page of batches is larger than a gRPC message may be.
    const events = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId, runId: run.runId },
        maximumPageSize: 20,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken);
    histories.push({ events });
  }
  histories.sort((a, b) => at(a.events![0]!) - at(b.events![0]!));
  let previousEnd: number | null = null;
  for (const history of histories) {
    runs++;
    const events = history.events ?? [];
    const byId = new Map(events.map((e) => [String(e.eventId), e]));
    let lastCompleted: number | null = null;
    let first: number | null = null;
    let signalled: number | null = null;
    let wftScheduled: number | null = null;
    let wftStarted: number | null = null;
    for (const e of events) {
      if (e.workflowExecutionSignaledEventAttributes && signalled === null) signalled = at(e);
      if (e.workflowTaskScheduledEventAttributes) wftScheduled = at(e);
      if (e.workflowTaskStartedEventAttributes) wftStarted = at(e);
      if (e.workflowTaskCompletedEventAttributes && signalled !== null && wftScheduled !== null && wftStarted !== null) {
        dispatch += wftStarted - wftScheduled;
        inWorker += at(e) - wftStarted;
        tasks++;
      }
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name === 'applyDirectoryChanges') {
        if (signalled !== null) {
          woken += at(e) - signalled;
          wakes++;
        }
        signalled = null;
        if (lastCompleted !== null) between += at(e) - lastCompleted;
        first ??= at(e);
        calls++;
        for (const p of scheduled.input?.payloads ?? []) bytes += p.data?.length ?? 0;
      }
      const completed = e.activityTaskCompletedEventAttributes;
      if (completed) {
        const s = byId.get(String(completed.scheduledEventId));
        if (s?.activityTaskScheduledEventAttributes?.activityType?.name !== 'applyDirectoryChanges') continue;
        const started = byId.get(String(completed.startedEventId));
        if (!started) continue;
        queued += at(started) - at(s);
        running += at(e) - at(started);
        lastCompleted = at(e);
      }
    }
    if (previousEnd !== null && first !== null) handover += first - previousEnd;
    previousEnd = lastCompleted ?? previousEnd;
  }
  return `${runs} runs, ${calls} calls of applyDirectoryChanges (${mib(bytes)} of input as stored): ${ms(queued)} on Acme's queue, ${ms(running)} in Acme, ${ms(between)} between calls of a run, ${ms(handover)} from a run's last call to the next run's first; ${wakes} calls after a wake-up, ${ms(wakes ? woken / wakes : 0)} from the signal to the call on average (${tasks} workflow tasks between a wake-up and its call: ${ms(tasks ? dispatch / tasks : 0)} to dispatch, ${ms(tasks ? inWorker / tasks : 0)} in the worker on average)`;
}

/**
 * scimflow's workflow tasks as its worker measured them (the Temporal SDK's runtime metrics, in
 * milliseconds): from scheduled to picked up, and run in the worker, by workflow type.
 */
async function workerTasks(metricsUrl: string): Promise<string> {
  const text = await (await fetch(metricsUrl)).text();
  const total = (metric: string, workflowType?: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${metric}{`) && (!workflowType || l.includes(`workflow_type="${workflowType}"`)))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const average = (metric: string, workflowType?: string) => {
    const count = total(`${metric}_count`, workflowType);
    return ms(count ? total(`${metric}_sum`, workflowType) / count : 0);
  };
  const run = 'temporal_workflow_task_execution_latency';
  return (
    `workflow tasks, as the worker measured them: ${average('temporal_workflow_task_schedule_to_start_latency')} from scheduled to picked up; ` +
    `run in the worker ${average(run, 'deliveryWorkflow')} (delivery), ${average(run, 'organizationWorkflow')} (organization) on average`
  );
}

/** Where the organization workflow's applies spent their time, from its history: its workflow tasks and the apply activity. */
async function organizationBreakdown(client: Client, organizationId: string): Promise<string> {
  const history = await client.workflow.getHandle(organizationWorkflowId(organizationId)).fetchHistory();
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const task = { dispatch: 0, inWorker: 0, count: 0, scheduled: 0, started: 0 };
  const applies = { queued: 0, running: 0, count: 0 };
  for (const e of events) {
    if (e.workflowTaskScheduledEventAttributes) task.scheduled = at(e);
    if (e.workflowTaskStartedEventAttributes) task.started = at(e);
    if (e.workflowTaskCompletedEventAttributes) {
      task.dispatch += task.started - task.scheduled;
      task.inWorker += at(e) - task.started;
      task.count++;
    }
    const completed = e.activityTaskCompletedEventAttributes;
    const scheduled = completed ? byId.get(String(completed.scheduledEventId)) : undefined;
    const started = completed ? byId.get(String(completed.startedEventId)) : undefined;
    if (scheduled?.activityTaskScheduledEventAttributes?.activityType?.name !== 'applyDirectoryEvents' || !started) continue;
    applies.queued += at(started) - at(scheduled);
    applies.running += at(e) - at(started);
    applies.count++;
  }
  const avg = (total: number, n: number) => ms(n ? total / n : 0);
  return `${task.count} workflow tasks: ${avg(task.dispatch, task.count)} to dispatch, ${avg(task.inWorker, task.count)} in the worker on average; ${applies.count} calls of applyDirectoryEvents: ${avg(applies.queued, applies.count)} queued, ${avg(applies.running, applies.count)} running on average (the wake-up of the delivery included)`;
}
