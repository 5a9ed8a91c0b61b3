import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { DirectoryEvent } from '../domain/events';
import type { ScalekitDirectory } from '../scalekit/directory';
import type { QuarantineRetryRequest, QuarantineRetryResult } from '../domain/quarantine';
import type { RoleChangeRequest, RoleChangeResult } from '../domain/roles';
import type { EmailPolicyRequest, EmailPolicyResult } from '../domain/email-policy';
import type { ScheduleSettings } from '../temporal/schedules';
import type { WorkerMetrics } from '../observability/metrics';

import { applyDirectoryEvents, type ApplyResult } from './apply-events';
import { createPushActivities, type PushDeps } from './push';
import { createDeliveryActivities, DeliveryNotifier, wakingDelivery, type DeliveryDeps } from './delivery';
import { observeEvents, type EventObserver } from './event-metrics';
import { reported, type ReportOptions } from './failures';
import { withHeartbeat } from './heartbeat';
import { createReconcileActivities, DEFAULT_RECONCILE_SETTINGS, type ReconcileSettings } from './reconcile';
import { applyDeferredEvents, deferDirectoryEvents, recordSyncPause, type DeferredApplyResult, type DeferResult } from './pause';
import { createRetentionActivities, DEFAULT_RETENTION_OPTIONS, type RetentionOptions } from './retention';
import { retryQuarantinedEvents } from './retry-quarantined';
import { changeRoleMappings } from './roles';
import { changeEmailPolicy } from './email-policy';
import { createScheduleActivities } from './schedules';
import { createSearchAttributeActivities } from './search-attributes';

export interface ActivityDeps {
  db: Knex;
  /** The Scalekit Directory API; undefined when no credentials are configured. */
  directory: ScalekitDirectory | undefined;
  client: Client;
  schedules: ScheduleSettings;
  reconcile?: Partial<ReconcileSettings>;
  /** Retention periods (the configuration's), batch size, and where runs are logged. */
  retention?: Partial<RetentionOptions>;
  /** Registrations waiting on Scalekit at once in this worker (see registrationLimit); default: no limit. */
  registrationLimit?: number;
  /** Temporal-native delivery to the application (APP_TASK_QUEUE); undefined: off. */
  delivery?: DeliveryDeps;
  /** Signed HTTP push to the application (APP_WEBHOOK_URL); undefined: off. */
  push?: PushDeps;
  /** Where the activities record what they did (the worker's /metrics); undefined: nowhere. */
  metrics?: WorkerMetrics;
}

/**
 * The worker's activities, closed over their dependencies. Workflows reference them only as
 * `proxyActivities<Activities>` with `import type`.
 */
export function createActivities(deps: ActivityDeps) {
  const metrics = deps.metrics;
  const observe: EventObserver | undefined = metrics && ((resolved) => observeEvents(metrics, resolved));
  // Applying never ends for a permanent error: bad events are isolated inside, the rest retries.
  const applying = reportEach(
    {
      async applyDirectoryEvents(organizationId: string, events: DirectoryEvent[]): Promise<ApplyResult> {
        return withHeartbeat(() => applyDirectoryEvents(deps.db, organizationId, events, observe ? { observe } : {}));
      },
      async deferDirectoryEvents(organizationId: string, events: DirectoryEvent[]): Promise<DeferResult> {
        return withHeartbeat(() => deferDirectoryEvents(deps.db, organizationId, events, observe));
      },
      async applyDeferredEvents(organizationId: string, limit: number): Promise<DeferredApplyResult> {
        return withHeartbeat(() => applyDeferredEvents(deps.db, organizationId, limit, observe));
      },
    },
    { permanentIsFinal: false },
  );
  const steering = reportEach(
    {
      /** Returns how many events are deferred. */
      async recordSyncPause(organizationId: string, pause: { since: string; note: string | null } | null): Promise<number> {
        return recordSyncPause(deps.db, organizationId, pause);
      },
      async retryQuarantinedEvents(organizationId: string, request: QuarantineRetryRequest): Promise<QuarantineRetryResult> {
        return withHeartbeat(() => retryQuarantinedEvents(deps.db, organizationId, request.eventIds));
      },
      async changeRoleMappings(organizationId: string, request: RoleChangeRequest): Promise<RoleChangeResult> {
        return changeRoleMappings(deps.db, organizationId, request);
      },
      async changeEmailPolicy(organizationId: string, request: EmailPolicyRequest): Promise<EmailPolicyResult> {
        return changeEmailPolicy(deps.db, organizationId, request);
      },
      ...createReconcileActivities({
        db: deps.db,
        directory: deps.directory,
        settings: { ...DEFAULT_RECONCILE_SETTINGS, ...deps.reconcile },
        ...(metrics ? { metrics } : {}),
      }),
      ...createScheduleActivities({
        db: deps.db,
        client: deps.client,
        schedules: deps.schedules,
        directory: deps.directory,
        ...(deps.registrationLimit !== undefined ? { registrationLimit: deps.registrationLimit } : {}),
      }),
      ...createSearchAttributeActivities(deps.client),
      ...createRetentionActivities({ db: deps.db, options: { ...DEFAULT_RETENTION_OPTIONS, ...deps.retention } }),
      ...createDeliveryActivities(deps.db, metrics),
      ...createPushActivities(deps.push),
    },
    { permanentIsFinal: true },
  );
  // The steps that commit changes of the mirror (and so change records) wake the organization's delivery.
  const notifier = deps.delivery ? new DeliveryNotifier(deps.db, deps.client, deps.delivery) : undefined;
  return wakingDelivery({ ...applying, ...steering }, notifier, [
    'applyDirectoryEvents',
    'applyDeferredEvents',
    'retryQuarantinedEvents',
    'changeRoleMappings',
    'changeEmailPolicy',
    'applySyncRun',
  ]);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ActivityFunctions = Record<string, (...args: any[]) => Promise<unknown>>;

/** Every activity of `fns`, reporting its failures the bounded way (activities/failures.ts). */
function reportEach<T extends ActivityFunctions>(fns: T, options: ReportOptions): T {
  const out: ActivityFunctions = {};
  for (const [name, fn] of Object.entries(fns)) out[name] = reported(fn, options);
  return out as T;
}

export type Activities = ReturnType<typeof createActivities>;

/** The named activities of `all`: what a worker of one task queue runs (see temporal/task-queues.ts). */
export function pickActivities<K extends keyof Activities>(all: Activities, names: readonly K[]): Pick<Activities, K> {
  return Object.fromEntries(names.map((name) => [name, all[name]])) as Pick<Activities, K>;
}
export type { ApplyResult };
