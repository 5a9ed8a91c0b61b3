import Router from '@koa/router';
import type { Knex } from 'knex';
import { ping } from '../../db/connection';
import { readRetentionGauges, type RetentionGauges } from '../../db/repositories/retention';
import { readDeliveryGauges, type DeliveryChannel, type DeliveryGauges } from '../../db/repositories/deliveries';
import { readStateGauges, type StateGauges } from '../../db/repositories/state-gauges';
import type { Gauge, Metrics } from '../../observability/metrics';
import type { OrganizationWorkflows } from '../../temporal/client';
import { cliPrefix } from '../../domain/cli-command';

export interface HealthDeps {
  db: Knex;
  workflows: Pick<OrganizationWorkflows, 'reachable' | 'workerPresence'>;
  metrics: Metrics;
}

async function postgresReachable(db: Knex): Promise<boolean> {
  try {
    await ping(db);
    return true;
  } catch {
    return false;
  }
}

/**
 * The organizations' state for alerting: what waits for a person (quarantined events, runs to
 * approve, paused organizations) and how fresh reconciliation is. Read from Postgres at scrape
 * time; if it does not answer, `scimflow_state_up` is 0 and the rest is left out.
 */
async function stateGauges(db: Knex): Promise<Gauge[]> {
  let s: StateGauges | undefined;
  try {
    s = await readStateGauges(db);
  } catch {
    s = undefined;
  }
  const g = (name: string, help: string, value: number | null | undefined): Gauge => ({ name, help, value: value ?? null });
  return [
    g('scimflow_state_up', "Whether the organizations' state could be read from PostgreSQL for this scrape.", s ? 1 : 0),
    g(
      'scimflow_quarantined_events',
      `Events kept but not applied, waiting for a look (${cliPrefix()} events list <org> --outcome quarantined).`,
      s?.quarantinedEvents,
    ),
    g('scimflow_deferred_events', 'Events kept while organizations are paused, applied on resume.', s?.deferredEvents),
    g('scimflow_paused_organizations', 'Organizations whose sync is paused.', s?.pausedOrganizations),
    g(
      'scimflow_runs_awaiting_approval',
      'Reconciles stopped by the deprovision guard, waiting for approve or cancel.',
      s?.runsAwaitingApproval,
    ),
    g('scimflow_runs_in_progress', 'Reconciles and imports in progress.', s?.runsInProgress),
    g(
      'scimflow_organizations_never_reconciled',
      'Organizations with a directory and no completed full reconcile or import yet.',
      s?.organizationsNeverReconciled,
    ),
    g(
      'scimflow_oldest_full_reconcile_age_seconds',
      'Age of the oldest last completed full reconcile among organizations with a directory.',
      s?.oldestFullReconcileAgeSeconds,
    ),
    g(
      'scimflow_email_conflicts_between_directories',
      `Users held back because a user of another directory of their organization has their e-mail (${cliPrefix()} status <org>).`,
      s?.emailConflictsBetweenDirectories,
    ),
    g(
      'scimflow_held_users',
      `Users active in the directory held out of the application by their organization's allowed e-mail domains (${cliPrefix()} domains held <org>).`,
      s?.heldUsers,
    ),
    {
      ...g(
        'scimflow_change_records_written_total',
        'Change records written to the change stream, of every organization, since the start.',
        s?.changeRecordsWritten,
      ),
      type: 'counter',
    },
    g(
      'scimflow_change_records_retained',
      'Change records kept in the change stream (not yet removed by retention).',
      s?.changeRecordsRetained,
    ),
    g(
      'scimflow_change_records_oldest_age_seconds',
      'Age of the oldest change record kept (above RETENTION_CHANGE_RECORDS, retention is not keeping up).',
      s?.oldestChangeRecordAgeSeconds,
    ),
  ];
}

/**
 * Delivery of the change stream to the application, by channel: organizations stopped at a record
 * the application refused (an operator must act) or paused, and how far behind the application is.
 * Left out when unreadable.
 */
async function deliveryGauges(db: Knex): Promise<Gauge[]> {
  return [...(await channelGauges(db, 'temporal')), ...(await channelGauges(db, 'webhook'))];
}

/** How each channel's gauges are named and described. */
const CHANNEL_GAUGES: Record<DeliveryChannel, { prefix: string; what: string; done: string; status: string }> = {
  temporal: {
    prefix: 'scimflow_delivery',
    what: 'delivery to the application',
    done: 'delivered',
    status: `${cliPrefix()} delivery status <org>`,
  },
  // The signed HTTP push (APP_WEBHOOK_URL), whose cursors are its own.
  webhook: {
    prefix: 'scimflow_push',
    what: 'signed HTTP push to the application',
    done: 'pushed',
    status: `${cliPrefix()} delivery status <org> --channel webhook`,
  },
};

async function channelGauges(db: Knex, channel: DeliveryChannel): Promise<Gauge[]> {
  let d: DeliveryGauges | undefined;
  try {
    d = await readDeliveryGauges(db, channel);
  } catch {
    d = undefined;
  }
  const { prefix, what, done, status } = CHANNEL_GAUGES[channel];
  const g = (name: string, help: string, value: number | null | undefined): Gauge => ({
    name: `${prefix}_${name}`,
    help,
    value: value ?? null,
  });
  return [
    g('stopped_organizations', `Organizations whose ${what} stopped at a record it refused (${status}).`, d?.stoppedDeliveries),
    g('paused_organizations', `Organizations whose ${what} is paused.`, d?.pausedDeliveries),
    g('records_waiting', `Change records committed and not yet ${done} to the application.`, d?.recordsWaiting),
    g('oldest_waiting_age_seconds', `Age of the oldest change record not yet ${done} to the application.`, d?.oldestWaitingSeconds),
  ];
}

/**
 * What retention keeps: the age of the oldest row of each kind it prunes (above its period, the
 * retention run is not keeping up or not running), and the last run. Left out when unreadable.
 */
async function retentionGauges(db: Knex): Promise<Gauge[]> {
  let r: RetentionGauges | undefined;
  try {
    r = await readRetentionGauges(db);
  } catch {
    r = undefined;
  }
  const g = (name: string, help: string, value: number | null | undefined): Gauge => ({ name, help, value: value ?? null });
  return [
    g(
      'scimflow_retention_oldest_event_payload_age_seconds',
      'Age of the oldest payload or raw body kept for a resolved event (applied, duplicate, stale, ignored).',
      r?.oldestEventPayloadAgeSeconds,
    ),
    g(
      'scimflow_retention_oldest_ledger_event_age_seconds',
      'Age of the oldest event ledger row of a resolved event.',
      r?.oldestLedgerEventAgeSeconds,
    ),
    g(
      'scimflow_retention_oldest_sync_run_age_seconds',
      'Age of the oldest sync run kept (finished, planned or waiting for approval), not counting the newest completed runs that deltas read.',
      r?.oldestSyncRunAgeSeconds,
    ),
    g(
      'scimflow_retention_oldest_deactivated_user_data_age_seconds',
      'How long ago the oldest deactivated user still holding personal fields was deactivated.',
      r?.oldestDeactivatedUserDataAgeSeconds,
    ),
    g('scimflow_retention_last_run_age_seconds', 'Time since the last retention run (not a dry run) finished.', r?.lastRunAgeSeconds),
    g('scimflow_retention_last_run_rows', 'Rows pruned or cleared by the last retention run.', r?.lastRunRows),
  ];
}

/** Whether a worker polls the task queue, and when one last did; null when Temporal does not say. */
async function worker(deps: HealthDeps): Promise<{ polling: boolean; lastSeenAt: string | null } | null> {
  try {
    const { polling, lastSeenAt } = await deps.workflows.workerPresence();
    return { polling, lastSeenAt };
  } catch {
    return null;
  }
}

/** /healthz (the process is up), /readyz (its dependencies answer), /metrics (Prometheus). */
export function healthRouter(deps: HealthDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [postgres, temporal] = await Promise.all([postgresReachable(deps.db), deps.workflows.reachable()]);
    const ready = postgres && temporal;
    ctx.status = ready ? 200 : 503;
    // A detail, not a check: with no worker the API still takes webhooks (Temporal keeps them until
    // one is back), so taking it out of the load balancer would lose what it can still accept.
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal }, worker: temporal ? await worker(deps) : null };
  });
  router.get('/metrics', async (ctx) => {
    const [state, retention, delivery] = await Promise.all([stateGauges(deps.db), retentionGauges(deps.db), deliveryGauges(deps.db)]);
    ctx.body = await deps.metrics.render([...state, ...retention, ...delivery]);
    ctx.type = deps.metrics.contentType;
  });
  return router;
}
