import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { applyDirectoryEvents } from '../activities/apply-events';
import { createApp } from '../api/app';
import { parseConfig } from '../config/index';
import { createDatabase, migrateLatest } from '../db/connection';
import { parseDirectoryWebhook, type DirectoryEvent } from '../domain/events';
import { startEmulator } from '../emulator/index';
import { createLogger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { createScalekitClient, ScalekitDirectory } from '../scalekit/directory';
import { WebhookVerifier } from '../scalekit/webhook';
import { freePort } from '../scripts/lib/ports';
import { dropDatabase, ensureDatabase, serverReachable, withDatabase } from '../scripts/lib/postgres';
import { resolveTemporalCli, startDevServer } from '../scripts/lib/temporal-server';
import { OrganizationWorkflows } from '../temporal/client';
import { pool } from '../test/support/pool';
import { startScalekitGate } from '../test/support/scalekit-gate';
import { createWorker, DEFAULT_ACTIVITY_SLOTS, DEFAULT_RECONCILE_SLOTS, DEFAULT_SCALEKIT_SLOTS } from '../worker/create';
import { directoryEventSignal, ORGANIZATION_WORKFLOW_TYPE, organizationWorkflowId } from '../workflows/messages';
import { dataConverter } from '../temporal/codec';
import { deliveryScenario } from './delivery';
import { mib, ms, percentile, postWebhook, rate, say, waitFor } from './lib';

/**
 * `npm run bench`: scimflow's speed on this machine, each figure next to a baseline measured in
 * the same run (what the same work costs without scimflow's machinery, or done naively).
 *   import     a 10,000-user directory through the organization workflow vs reading its pages alone
 *   webhooks   2,000 signed webhooks over HTTP, applied, vs bare signalWithStart calls
 *   apply      set-based batches of 250 events vs one transaction per event
 *   outage     the first event of each of N new organizations with Scalekit unreachable vs up, and an
 *              event of each of 20 existing ones while their scheduled run waits on Scalekit
 *   delivery   Temporal-native delivery to the reference application (examples/acme-app, its worker on
 *              its own task queue): webhooks at 20/s, 202 → committed in Acme vs → committed in the
 *              mirror; deprovisioning, 202 → the user's Acme token refused vs → deactivated in the
 *              mirror; an N-user import applied in Acme, as a rate, vs the mirror's apply step
 */

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    events: { type: 'string', default: '2000' },
    orgs: { type: 'string', default: '200' },
    only: { type: 'string' },
  },
});
const USERS = Number(values.users);
const EVENTS = Number(values.events);
const ORGS = Number(values.orgs);
/** Existing organizations in the outage scenario. */
const EXISTING = 20;
const only = values.only?.split(',');
const want = (name: string) => !only || only.includes(name);

async function main(): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta, timestampNanos }) => {
      // The outage scenario fails registrations and reconcile steps on purpose; the Scalekit queue's workers have no workflows.
      if (
        message === 'Activity failed' &&
        ['ensureOrganizationSchedules', 'beginSyncRun', 'fetchDirectoryPages'].includes(String(meta?.activityType))
      )
        return;
      if (message.startsWith('No workflows registered')) return;
      console.error(`${new Date(Number(timestampNanos / 1_000_000n)).toISOString()} [${level}] ${message}`, meta ?? '');
    }),
  });
  const config = parseConfig(process.env);
  const cli = resolveTemporalCli(config.dev.temporalCli);
  if (!cli) throw new Error('no Temporal CLI: run `npm run bootstrap`');
  if (!(await serverReachable(config.databaseUrl))) throw new Error(`PostgreSQL at ${new URL(config.databaseUrl).host} does not answer`);

  say(`scimflow benchmarks (${new Date().toISOString()}, Node ${process.versions.node})`);
  const tmp = mkdtempSync(join(tmpdir(), 'scimflow-bench-'));
  const server = await startDevServer({ cli, port: await freePort(), watchPid: process.pid, logFile: join(tmp, 'temporal.log') });
  const dbUrl = withDatabase(config.databaseUrl, `scimflow_bench_${process.pid}`);
  await ensureDatabase(dbUrl);
  const db = createDatabase({ url: dbUrl, maxConnections: 10 });
  await migrateLatest(db);
  const emulator = await startEmulator({ port: 0, seed: 7 });
  const connection = await Connection.connect({ address: server.address });
  // Payloads as scimflow stores them by default: compressed (not encrypted: no keys here).
  const converter = dataConverter({});
  const client = new Client({ connection, dataConverter: converter });
  const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
  const workflows = new OrganizationWorkflows(client, taskQueue, 30_000);
  const directory = new ScalekitDirectory(
    createScalekitClient({ environmentUrl: emulator.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret }),
  );
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    activities: { db, directory, client, schedules: { taskQueue, fullInterval: '6h', deltaInterval: '1h' } },
    shutdownGraceTime: '5 seconds',
    dataConverter: converter,
  });
  const running = worker.run();

  /** Imports `org` through the organization workflow; returns how long it took. */
  const importOrganization = async (org: string, onPoll: () => void = () => undefined): Promise<number> => {
    const t = performance.now();
    const accepted = await workflows.startReconcile(org, { kind: 'full', dryRun: false, trigger: 'import' });
    await waitFor(async () => {
      onPoll();
      const s = await workflows.status(org);
      return s?.lastReconcile?.runId === accepted.runId;
    });
    const took = performance.now() - t;
    const outcome = (await workflows.status(org))?.lastReconcile;
    if (outcome?.status !== 'completed' || outcome.result?.users.created !== USERS) {
      throw new Error(`import did not complete as expected: ${JSON.stringify(outcome)}`);
    }
    return took;
  };
  let importedOrg: string | undefined;

  try {
    if (want('import')) {
      say();
      say(`import: a ${USERS.toLocaleString('en-US')}-user directory (100 groups) from the emulator`);
      const org = emulator.generateLarge({ users: USERS, groups: 100, seed: 11 }).organization.id;
      const dir = await directory.primaryDirectory(org);
      // Baseline: only reading every page through the SDK (the floor: 30 users per call).
      const t = performance.now();
      let pages = 0;
      for (const kind of ['users', 'groups'] as const) {
        let token = '';
        do {
          const page = kind === 'users' ? await directory.usersPage(org, dir.id, token) : await directory.groupsPage(org, dir.id, token);
          token = page.nextPageToken;
          pages += 1;
        } while (token);
      }
      const baseline = performance.now() - t;
      say(`  baseline  read ${pages} pages through the SDK, nothing written: ${ms(baseline)} (${rate(USERS, baseline)} users)`);
      const rssBefore = process.memoryUsage().rss;
      let peakRss = rssBefore;
      const took = await importOrganization(org, () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)));
      importedOrg = org;
      say(`  scimflow  import (snapshot, plan, apply; in workflow steps): ${ms(took)} (${rate(USERS, took)} users)`);
      say(`  ratio     import / read-only baseline = ${(took / baseline).toFixed(2)}x`);
      say(`  memory    process RSS ${mib(rssBefore)} before, ${mib(peakRss)} peak (API client, worker and emulator in one process)`);
    }

    if (want('roles')) {
      say();
      say(`roles: a default role and a group mapping for a ${USERS.toLocaleString('en-US')}-user organization`);
      let org = importedOrg;
      if (!org) {
        org = emulator.generateLarge({ users: USERS, groups: 100, seed: 13 }).organization.id;
        await importOrganization(org);
      }
      // Baseline: reading what resolution reads (users, live memberships, grants), writing nothing.
      let t = performance.now();
      await db('directory_users').where('organization_id', org).select('id', 'active', 'roles');
      await db('group_memberships').where('organization_id', org).select('user_id', 'group_id');
      await db('user_roles').where('organization_id', org).select('user_id', 'role', 'source', 'group_id', 'precedence');
      const baseline = performance.now() - t;
      say(`  baseline  read every user, membership and grant, nothing written: ${ms(baseline)}`);
      t = performance.now();
      const byDefault = await workflows.changeRoles(org, { change: { action: 'default', role: 'member' }, dryRun: false });
      const tookDefault = performance.now() - t;
      const group = (await db('directory_groups').where('organization_id', org).orderBy('id').first('id')) as { id: string };
      t = performance.now();
      const byGroup = await workflows.changeRoles(org, {
        change: { action: 'map', groupId: group.id, role: 'bench_admin', precedence: 10 },
        dryRun: false,
      });
      const tookGroup = performance.now() - t;
      if (byDefault.usersChanged === 0 || byGroup.usersChanged === 0)
        throw new Error(`role changes changed nobody: ${JSON.stringify({ byDefault, byGroup })}`);
      say(
        `  scimflow  default role, through the workflow: ${ms(tookDefault)} (${byDefault.usersChanged.toLocaleString('en-US')} users gained a role, ${rate(USERS, tookDefault)} users resolved)`,
      );
      say(
        `  scimflow  one group mapped: ${ms(tookGroup)} (${byGroup.usersChanged.toLocaleString('en-US')} users changed role, ${rate(USERS, tookGroup)} users resolved)`,
      );
      say(`  ratio     default role / read-only baseline = ${(tookDefault / baseline).toFixed(2)}x`);
    }

    if (want('webhooks')) {
      say();
      say(`webhooks: ${EVENTS.toLocaleString('en-US')} signed user_created webhooks for one organization, 16 senders`);
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const app = createApp({
        db,
        workflows,
        verifier: new WebhookVerifier([secret]),
        operatorApiToken: undefined,
        logger: createLogger({ level: 'error' }),
        metrics: new Metrics(),
      });
      const http = await new Promise<Server>((r) => {
        const s = app.listen(0, '127.0.0.1', () => r(s));
      });
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/webhooks/scalekit`;
      const signer = new Webhook(secret);
      const body = (org: string, i: number) =>
        JSON.stringify({
          spec_version: '1',
          id: `evt_${org.slice(4, 12)}${String(i).padStart(8, '0')}`,
          type: 'organization.directory.user_created',
          occurred_at: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
          organization_id: org,
          object: 'DirectoryUser',
          data: { id: `diruser_${i}`, organization_id: org, email: `u${i}@example.com`, given_name: 'U', family_name: String(i) },
        });

      // Baseline: the same events as bare signalWithStart calls (no HTTP, no verification).
      const baseOrg = `org_b${randomBytes(4).toString('hex')}`;
      const baseEvents = Array.from({ length: EVENTS }, (_, i) => {
        const r = parseDirectoryWebhook(body(baseOrg, i));
        if (r.status !== 'event') throw new Error('bad benchmark event');
        return r.event;
      });
      let t = performance.now();
      await pool(baseEvents, 16, async (e: DirectoryEvent) => {
        await client.workflow.signalWithStart(ORGANIZATION_WORKFLOW_TYPE, {
          workflowId: organizationWorkflowId(baseOrg),
          taskQueue,
          args: [{ organizationId: baseOrg }],
          signal: directoryEventSignal,
          signalArgs: [e],
        });
      });
      const baseline = performance.now() - t;
      await waitFor(async () => ((await workflows.status(baseOrg))?.applied ?? 0) >= EVENTS);
      say(`  baseline  bare signalWithStart: ${ms(baseline)} (${rate(EVENTS, baseline)})`);

      const org = `org_w${randomBytes(4).toString('hex')}`;
      const latencies: number[] = [];
      t = performance.now();
      await pool(
        Array.from({ length: EVENTS }, (_, i) => i),
        16,
        async (i) => {
          const payload = body(org, i);
          const started = performance.now();
          await postWebhook(url, signer, `msg_${i}`, payload);
          latencies.push(performance.now() - started);
        },
      );
      const accepted = performance.now() - t;
      await waitFor(async () => ((await workflows.status(org))?.applied ?? 0) >= EVENTS);
      const applied = performance.now() - t;
      latencies.sort((a, b) => a - b);
      say(
        `  scimflow  all accepted (202) after ${ms(accepted)} (${rate(EVENTS, accepted)}); all in Postgres after ${ms(applied)} (${rate(EVENTS, applied)})`,
      );
      say(`  latency   202 answered p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}`);
      say(`  ratio     webhook acceptance / bare signalWithStart = ${(accepted / baseline).toFixed(2)}x`);
      await new Promise((r) => http.close(r));
    }

    if (want('apply')) {
      say();
      say(`apply: ${EVENTS.toLocaleString('en-US')} events straight into Postgres (no Temporal)`);
      const events = (org: string) =>
        Array.from({ length: EVENTS }, (_, i) => {
          const r = parseDirectoryWebhook(
            JSON.stringify({
              id: `evt_${org.slice(4, 12)}${String(i).padStart(8, '0')}`,
              type: i % 4 === 3 ? 'organization.directory.user_updated' : 'organization.directory.user_created',
              occurred_at: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
              organization_id: org,
              data: {
                id: `diruser_${i % 1500}`,
                email: `u${i % 1500}@example.com`,
                groups: [{ id: `dirgroup_${i % 20}`, name: `G${i % 20}` }],
              },
            }),
          );
          if (r.status !== 'event') throw new Error('bad benchmark event');
          return r.event;
        });
      const naiveOrg = `org_n${randomBytes(4).toString('hex')}`;
      let t = performance.now();
      for (const e of events(naiveOrg)) await applyDirectoryEvents(db, naiveOrg, [e]);
      const baseline = performance.now() - t;
      say(`  baseline  one transaction per event: ${ms(baseline)} (${rate(EVENTS, baseline)})`);
      const batchOrg = `org_s${randomBytes(4).toString('hex')}`;
      const all = events(batchOrg);
      t = performance.now();
      for (let i = 0; i < all.length; i += 250) await applyDirectoryEvents(db, batchOrg, all.slice(i, i + 250));
      const batched = performance.now() - t;
      say(`  scimflow  set-based batches of 250: ${ms(batched)} (${rate(EVENTS, batched)})`);
      say(`  ratio     one-per-event / batched = ${(baseline / batched).toFixed(1)}x faster batched`);
    }

    if (want('outage')) {
      say();
      say(
        `outage: the first event of each of ${ORGS.toLocaleString('en-US')} new organizations (each registers with Scalekit), Scalekit up vs unreachable; existing organizations' events while their run waits on Scalekit`,
      );
      // A worker of its own that reaches the emulator through a gate, so Scalekit can go away.
      const gate = await startScalekitGate(emulator.url);
      const outageQueue = `${taskQueue}-outage`;
      const outageWorker = await createWorker({
        connection: nativeConnection,
        namespace: 'default',
        taskQueue: outageQueue,
        activities: {
          db,
          directory: new ScalekitDirectory(
            createScalekitClient({ environmentUrl: gate.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret }),
          ),
          client,
          schedules: { taskQueue: outageQueue, fullInterval: '6h', deltaInterval: '1h' },
        },
        shutdownGraceTime: '1 second',
        dataConverter: converter,
      });
      const outageRunning = outageWorker.run();
      const outageWorkflows = new OrganizationWorkflows(client, outageQueue, 30_000);
      const count = async (query: Promise<{ count: string | number }[]>) => Number((await query)[0]?.count ?? 0);
      /** Sends each new organization its first event; returns how long until all are applied. */
      const firstEvents = async (label: string): Promise<{ took: number; ids: string[] }> => {
        const ids = Array.from(
          { length: ORGS },
          (_, i) => emulator.createOrganization({ displayName: `Bench ${label} ${i}` }, { emit: false }).id,
        );
        const t = performance.now();
        await pool(ids, 16, async (org) => {
          const r = parseDirectoryWebhook(
            JSON.stringify({
              id: `evt_${org.slice(4, 20)}first`,
              type: 'organization.directory.user_created',
              occurred_at: new Date().toISOString(),
              organization_id: org,
              data: { id: 'diruser_first', email: `first@${org}.example` },
            }),
          );
          if (r.status !== 'event') throw new Error('bad benchmark event');
          await outageWorkflows.deliver(r.event);
        });
        await waitFor(
          async () =>
            (await count(db('directory_events').whereIn('organization_id', ids).where('outcome', 'applied').count('* as count'))) ===
            ids.length,
        );
        return { took: performance.now() - t, ids };
      };
      const registered = (ids: string[]) => count(db('organizations').whereIn('id', ids).whereNotNull('display_name').count('* as count'));
      // Organizations imported while Scalekit answers; then one event to each, timed until all are applied.
      const existing = Array.from({ length: EXISTING }, (_, i) => {
        const org = emulator.createOrganization({ displayName: `Bench existing ${i}` }, { emit: false });
        for (let u = 0; u < 3; u++) emulator.createUser(org.id, { email: `u${u}@${org.id}.example` }, { emit: false });
        return org.id;
      });
      let round = 0;
      const eventToEach = async (): Promise<number> => {
        round += 1;
        const ids: string[] = [];
        const t = performance.now();
        await pool(existing, 16, async (org) => {
          const r = parseDirectoryWebhook(
            JSON.stringify({
              id: `evt_${org.slice(4, 20)}r${round}`,
              type: 'organization.directory.user_created',
              occurred_at: new Date().toISOString(),
              organization_id: org,
              data: { id: `diruser_r${round}`, email: `r${round}@${org}.example` },
            }),
          );
          if (r.status !== 'event') throw new Error('bad benchmark event');
          ids.push(r.event.id);
          await outageWorkflows.deliver(r.event);
        });
        await waitFor(
          async () =>
            (await count(db('directory_events').whereIn('id', ids).where('outcome', 'applied').count('* as count'))) === ids.length,
        );
        return performance.now() - t;
      };
      try {
        const up = await firstEvents('up');
        await waitFor(async () => (await registered(up.ids)) === ORGS);
        say(`  baseline  Scalekit up: all applied after ${ms(up.took)} (${rate(ORGS, up.took)} organizations)`);
        await pool(existing, 4, async (org) => {
          const { runId } = await outageWorkflows.startReconcile(org, { kind: 'full', dryRun: false, trigger: 'import' });
          await waitFor(async () => (await outageWorkflows.status(org))?.lastReconcile?.runId === runId);
        });
        await waitFor(async () => (await registered(existing)) === EXISTING);
        const existingUp = await eventToEach();
        say(`  baseline  Scalekit up: an event to each of ${EXISTING} existing organizations, all applied after ${ms(existingUp)}`);
        // Refused connections (the SDK retries each call with backoff, seconds, before it fails),
        // then connections that are never answered (each call waits for the SDK's timeout).
        const down: string[] = [];
        for (const [mode, label] of [
          ['refuse', 'unreachable'],
          ['hang', 'not answering'],
        ] as const) {
          await gate.set(mode);
          const run = await firstEvents(mode);
          down.push(...run.ids);
          const stillFailing = ORGS - (await registered(run.ids));
          say(
            `  scimflow  Scalekit ${label}: all applied after ${ms(run.took)} (${rate(ORGS, run.took)} organizations), ${stillFailing.toLocaleString('en-US')} registrations still failing`,
          );
          say(`  ratio     ${label} / up = ${(run.took / up.took).toFixed(2)}x`);
        }
        // Still not answering, with the registrations above waiting: each existing organization's
        // scheduled delta opens a run against it, and its events keep coming.
        for (const org of existing) await outageWorkflows.requestReconcile(org, { kind: 'delta', dryRun: false, trigger: 'schedule' });
        await waitFor(async () => {
          const pending = await Promise.all(
            existing.map(async (org) =>
              ((await client.workflow.getHandle(organizationWorkflowId(org)).describe()).raw.pendingActivities ?? []).some(
                (a) => a.activityType?.name === 'beginSyncRun',
              ),
            ),
          );
          return pending.every(Boolean);
        });
        const existingHang = await eventToEach();
        say(`  scimflow  Scalekit not answering, each one's delta run opening against it: all applied after ${ms(existingHang)}`);
        say(`  ratio     existing, run waiting on Scalekit / up = ${(existingHang / existingUp).toFixed(2)}x`);
        say(
          `  (main queue ${DEFAULT_ACTIVITY_SLOTS} activity slots, Scalekit queue ${DEFAULT_SCALEKIT_SLOTS}, reconcile queue ${DEFAULT_RECONCILE_SLOTS})`,
        );
        await gate.set('open');
        const t = performance.now();
        let ended: string[] = [];
        const [registrationsDone, runsDone] = await Promise.all([
          waitFor(async () => (await registered(down)) === down.length).then(() => performance.now() - t),
          waitFor(async () => {
            const states = await Promise.all(existing.map((org) => outageWorkflows.status(org)));
            ended = states.map((st) => (st && !st.reconcile && st.lastReconcile?.kind === 'delta' ? st.lastReconcile.status : ''));
            return ended.every(Boolean);
          }).then(() => performance.now() - t),
        ]);
        say(`  recovery  every registration done ${ms(registrationsDone)} after Scalekit is back (retries back off to one a minute)`);
        const completed = ended.filter((st) => st === 'completed').length;
        say(
          `  recovery  the existing organizations' delta runs ended ${ms(runsDone)} after Scalekit is back: ${completed} completed, ${EXISTING - completed} failed (retries used up)`,
        );
      } finally {
        outageWorker.shutdown();
        await outageRunning;
        await gate.close();
      }
    }

    if (want('delivery')) {
      await deliveryScenario({
        dbUrl,
        client,
        emulator,
        taskQueue,
        users: USERS,
        temporalAddress: server.address,
      });
    }
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
    await emulator.close();
    await db.destroy();
    await dropDatabase(dbUrl);
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
