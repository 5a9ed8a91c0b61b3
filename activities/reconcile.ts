import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { Knex } from 'knex';
import { inTransaction } from '../db/connection';
import { withMirrorWriter } from '../db/mirror/writer';
import { ensureOrganization } from '../db/repositories/directory';
import { listedDirectoryStates, writeDirectoryStates } from '../db/repositories/directories';
import * as runDirectories from '../db/repositories/run-directories';
import { computePlan } from '../db/repositories/sync-runs/plan';
import * as runs from '../db/repositories/sync-runs/runs';
import { deleteSnapshot, insertSnapshotGroups, insertSnapshotUsers } from '../db/repositories/sync-runs/snapshot';
import { directoriesToRead, whyNotRead, type DirectoryInfo } from '../domain/directories';
import { NoDirectoryError, OrganizationNotFoundError, type Page, type ScalekitDirectory } from '../scalekit/directory';
import type { ApplyCounts, PlanSummary, ReconcileCursor, ReconcileRequest, SnapshotGroup, SnapshotUser } from '../domain/reconcile';
import type { WorkerMetrics } from '../observability/metrics';
import { retryConflicts } from './apply-events';
import { observeFullReconcile } from './event-metrics';
import { withHeartbeat } from './heartbeat';
import { stepReporter } from './run-steps';

export interface ReconcileSettings {
  /** Mass-deprovision guard: stop when a run would deactivate more than this share of active users… */
  guardShare: number;
  /** …and at least this many. */
  guardMinimum: number;
  /** Directory pages read per workflow step (30 entities each). */
  pagesPerStep: number;
  /** A step returns after this long even if it has pages left, so events are not kept waiting. */
  stepBudgetMs: number;
  /** A delta reads from this long before the last snapshot: a margin for clock skew with Scalekit. */
  deltaSkewMs: number;
}

export const DEFAULT_RECONCILE_SETTINGS: ReconcileSettings = {
  guardShare: 0.2,
  guardMinimum: 10,
  pagesPerStep: 20,
  stepBudgetMs: 4_000,
  deltaSkewMs: 5 * 60_000,
};

export interface ReconcileDeps {
  db: Knex;
  directory: ScalekitDirectory | undefined;
  settings: ReconcileSettings;
  /** Where a full reconcile's drift is recorded; undefined: nowhere. */
  metrics?: WorkerMetrics;
}

function requireDirectory(deps: ReconcileDeps): ScalekitDirectory {
  if (!deps.directory) {
    throw ApplicationFailure.nonRetryable(
      'Scalekit credentials are not configured on the worker (SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET)',
      'ScalekitNotConfigured',
    );
  }
  return deps.directory;
}

/** Every directory Scalekit lists for the organization; refuses clearly when there is none. */
async function resolveDirectories(deps: ReconcileDeps, organizationId: string): Promise<DirectoryInfo[]> {
  try {
    const directories = await requireDirectory(deps).listDirectories(organizationId);
    if (directories.length === 0) throw new NoDirectoryError(organizationId);
    return directories;
  } catch (err) {
    if (err instanceof OrganizationNotFoundError) throw ApplicationFailure.nonRetryable(err.message, 'OrganizationNotFound');
    if (err instanceof NoDirectoryError) throw ApplicationFailure.nonRetryable(err.message, 'NoDirectory');
    throw err;
  }
}

/**
 * Scalekit's group → role mapping of the directories the run reads (group ids are unique across
 * them): as recorded when the run opened, so planning and applying need only PostgreSQL. A run
 * opened before they were recorded asks Scalekit.
 */
async function roleAssignmentsOf(deps: ReconcileDeps, organizationId: string, run: runs.SyncRunRow): Promise<runs.RoleAssignment[]> {
  if (run.roleAssignments) return run.roleAssignments;
  const read = new Set((await runDirectories.ensureRunDirectories(deps.db, run)).filter((d) => d.read).map((d) => d.directoryId));
  const directories = await resolveDirectories(deps, organizationId);
  return directories.filter((d) => read.has(d.id)).flatMap((d) => d.roleAssignments);
}

function runFailure(run: runs.SyncRunRow | undefined, organizationId: string, runId: string): runs.SyncRunRow {
  if (!run) throw ApplicationFailure.nonRetryable(`run ${runId} of ${organizationId} does not exist`, 'RunNotFound');
  return run;
}

/** Fetches pages one ahead: the next request is in flight while the current page is written. */
async function readPages<T>(
  fetch: (token: string) => Promise<Page<T>>,
  write: (items: T[]) => Promise<void>,
  startToken: string,
  maxPages: number,
  budgetMs: number,
  onPage: (page: Page<T>) => void,
): Promise<{ nextToken: string; pages: number }> {
  const deadline = Date.now() + budgetMs;
  let next: Promise<Page<T>> | undefined = fetch(startToken);
  let pages = 0;
  let token = startToken;
  while (next) {
    const page = await next;
    pages += 1;
    token = page.nextPageToken;
    const more = token !== '' && pages < maxPages && Date.now() < deadline;
    next = more ? fetch(token) : undefined;
    // Avoid an unhandled rejection if writing fails while the prefetch is pending.
    next?.catch(() => undefined);
    await write(page.items);
    onPage(page);
    heartbeat({ pages });
  }
  return { nextToken: token, pages };
}

export function createReconcileActivities(deps: ReconcileDeps) {
  /** One bounded step of reading pages into the snapshot (see fetchDirectoryPages). */
  async function fetchStep(organizationId: string, cursor: ReconcileCursor): Promise<ReconcileCursor> {
    const directory = requireDirectory(deps);
    const next: ReconcileCursor = { ...cursor };
    const after = cursor.updatedAfter ?? undefined;
    const start = cursor.directoryStart ?? { usersFetched: 0, groupsFetched: 0, usersTotal: 0, groupsTotal: 0 };
    const read = <T>(
      fetch: (token: string) => Promise<Page<T>>,
      write: (items: T[]) => Promise<void>,
      count: (page: Page<T>) => void,
      then: ReconcileCursor['phase'],
    ) =>
      readPages<T>(fetch, write, cursor.pageToken, deps.settings.pagesPerStep, deps.settings.stepBudgetMs, count).then((r) => {
        next.pages += r.pages;
        next.pageToken = r.nextToken;
        if (r.nextToken === '') next.phase = then;
      });
    if (cursor.phase === 'users') {
      await read<SnapshotUser>(
        (token) => directory.usersPage(organizationId, cursor.directoryId, token, after),
        (items) => insertSnapshotUsers(deps.db, cursor.runId, items),
        (page) => {
          next.usersFetched += page.items.length;
          next.usersTotal = start.usersTotal + page.totalSize;
        },
        'groups',
      );
    } else if (cursor.phase === 'groups') {
      await read<SnapshotGroup>(
        (token) => directory.groupsPage(organizationId, cursor.directoryId, token, after),
        (items) => insertSnapshotGroups(deps.db, cursor.runId, items),
        (page) => {
          next.groupsFetched += page.items.length;
          next.groupsTotal = start.groupsTotal + page.totalSize;
        },
        'plan',
      );
    }
    await runDirectories.recordDirectoryProgress(deps.db, cursor.runId, cursor.directoryId, {
      usersFetched: next.usersFetched - start.usersFetched,
      groupsFetched: next.groupsFetched - start.groupsFetched,
      usersTotal: next.usersTotal === null ? null : next.usersTotal - start.usersTotal,
      groupsTotal: next.groupsTotal === null ? null : next.groupsTotal - start.groupsTotal,
    });
    const ids = cursor.directoryIds ?? [cursor.directoryId];
    const index = cursor.directoryIndex ?? 0;
    const following = ids[index + 1];
    if (next.phase === 'plan' && following !== undefined) {
      // This directory is read: on to the next one, from its first page of users.
      const row = (await runDirectories.listRunDirectories(deps.db, cursor.runId)).find((d) => d.directoryId === following);
      next.phase = 'users';
      next.pageToken = '';
      next.directoryIndex = index + 1;
      next.directoryId = following;
      next.updatedAfter = row?.updatedAfter ?? null;
      next.directoryStart = {
        usersFetched: next.usersFetched,
        groupsFetched: next.groupsFetched,
        usersTotal: next.usersTotal ?? 0,
        groupsTotal: next.groupsTotal ?? 0,
      };
    }
    await runs.recordProgress(deps.db, cursor.runId, {
      phase: next.phase,
      pagesFetched: next.pages,
      usersFetched: next.usersFetched,
      groupsFetched: next.groupsFetched,
      usersTotal: next.usersTotal,
      groupsTotal: next.groupsTotal,
    });
    return next;
  }

  return {
    /**
     * Opens a run: lists the organization's directories (those it reads: the enabled ones; see
     * domain/directories.ts), records the snapshot time and their group → role assignments (the
     * plan and apply steps read them from the run's row). Refuses clearly.
     */
    async beginSyncRun(organizationId: string, request: ReconcileRequest): Promise<ReconcileCursor> {
      const listed = await resolveDirectories(deps, organizationId);
      const { read, skipped } = directoriesToRead(listed);
      const first = read[0];
      if (!first) {
        if (skipped.some((d) => d.enabled)) {
          throw ApplicationFailure.nonRetryable(
            `no directory of ${organizationId} can be read now (${skipped.map((d) => `${d.id}: ${whyNotRead(d) ?? ''}`).join('; ')}); ` +
              `nothing was changed, and the next run tries again`,
            'NoReadableDirectory',
          );
        }
        throw ApplicationFailure.nonRetryable(
          `every directory of ${organizationId} is disabled in Scalekit (${listed.map((d) => d.id).join(', ')}), so there is nothing to read: ` +
            `its IT admin enables one in the admin portal (scimflow's settings page)`,
          'NoEnabledDirectory',
        );
      }
      await ensureOrganization(deps.db, organizationId);
      await writeDirectoryStates(deps.db, organizationId, listedDirectoryStates(listed));
      let kind = request.kind;
      const since = new Map<string, string | null>();
      // A margin for clock skew between this database and Scalekit.
      const skewed = (at: string | null) => (at ? new Date(Date.parse(at) - deps.settings.deltaSkewMs).toISOString() : null);
      if (kind === 'delta') {
        // Without a completed run there is nothing to be a delta of.
        if (!(await runs.lastCompletedSnapshot(deps.db, organizationId))) kind = 'full';
        // Each directory from its own last read; one never read before (just added) in full.
        else for (const d of read) since.set(d.id, skewed(await runDirectories.lastReadSnapshot(deps.db, organizationId, d.id)));
      }
      const afterOf = (directoryId: string) => (kind === 'delta' ? (since.get(directoryId) ?? null) : null);
      const updatedAfter = afterOf(first.id);
      const run = await inTransaction(deps.db, async (trx) => {
        const created = await runs.createRun(trx, {
          organizationId,
          kind,
          trigger: request.trigger,
          dryRun: request.dryRun,
          directoryId: first.id,
          updatedAfter,
          roleAssignments: read.flatMap((d) => d.roleAssignments),
        });
        const row = (d: DirectoryInfo, isRead: boolean) => ({
          directoryId: d.id,
          directoryType: d.directoryType,
          provider: d.provider,
          enabled: d.enabled,
          read: isRead,
          unreadReason: isRead ? null : whyNotRead(d),
          updatedAfter: isRead ? afterOf(d.id) : null,
        });
        await runDirectories.recordRunDirectories(trx, created.id, [
          ...read.map((d) => row(d, true)),
          ...skipped.map((d) => row(d, false)),
        ]);
        return created;
      });
      return {
        runId: run.id,
        kind,
        dryRun: request.dryRun,
        trigger: request.trigger,
        phase: 'users',
        startedAt: run.createdAt,
        snapshotAt: run.snapshotAt,
        pages: 0,
        usersFetched: 0,
        groupsFetched: 0,
        usersTotal: null,
        groupsTotal: null,
        plan: null,
        cancelRequested: false,
        directoryIds: read.map((d) => d.id),
        directoryIndex: 0,
        directoriesNotRead: skipped.map((d) => ({ id: d.id, reason: whyNotRead(d) ?? '' })),
        directoryId: first.id,
        pageToken: '',
        updatedAfter,
      };
    },

    /**
     * One bounded step of reading the directory into the run's snapshot: up to `pagesPerStep`
     * pages or `stepBudgetMs`. Returns the advanced cursor; retried steps rewrite the same rows.
     */
    async fetchDirectoryPages(organizationId: string, cursor: ReconcileCursor): Promise<ReconcileCursor> {
      // The SDK backs off up to 30 s on Unavailable/429: keep heartbeating meanwhile.
      return withHeartbeat(() => fetchStep(organizationId, cursor));
    },

    /** Computes the plan (set-based SQL) and says whether the guard tripped. */
    async planSyncRun(organizationId: string, runId: string): Promise<PlanSummary> {
      const planned = runFailure(await runs.getRun(deps.db, organizationId, runId), organizationId, runId);
      const roleAssignments = await roleAssignmentsOf(deps, organizationId, planned);
      const onStep = stepReporter(deps.db, runId, 'plan');
      try {
        return await withHeartbeat(() =>
          inTransaction(deps.db, async (trx) => {
            const run = runFailure(await runs.getRun(trx, organizationId, runId), organizationId, runId);
            const plan = await computePlan(trx, {
              organizationId,
              run,
              roleAssignments,
              guard: { share: deps.settings.guardShare, minimum: deps.settings.guardMinimum },
              onStep,
            });
            if (run.dryRun) await runs.finishRun(trx, runId, 'planned');
            else if (plan.needsApproval) await runs.finishRun(trx, runId, 'needs_approval');
            return plan;
          }),
        );
      } finally {
        await onStep.settled();
      }
    },

    /** Applies the stored plan with freshness rechecked per row; completes the run. */
    async applySyncRun(organizationId: string, runId: string, replan = true): Promise<ApplyCounts> {
      const done = await runs.getRun(deps.db, organizationId, runId);
      // A retry after the apply committed must not need Scalekit to say so.
      if (done?.status === 'completed' && done.result) return done.result;
      const roleAssignments = await roleAssignmentsOf(deps, organizationId, runFailure(done, organizationId, runId));
      const onStep = stepReporter(deps.db, runId, 'apply');
      // Set when this attempt applied a full run (not when it found the run applied already).
      let appliedFull = false;
      // Under the organization's lock: serialized with event batches of the same organization.
      const counts = await withHeartbeat(() =>
        withMirrorWriter(deps.db, organizationId, async (writer) => {
          const trx = writer.trx;
          const run = runFailure(await runs.getRun(trx, organizationId, runId), organizationId, runId);
          if (run.status === 'completed' && run.result) return run.result;
          // A run that has ended is never applied: cancelled meanwhile, or expired by retention (which
          // then removes its snapshot). The row lock this takes keeps it from ending during the apply.
          if (!(await runs.claimRunForApply(trx, runId))) {
            const ended = await runs.getRun(trx, organizationId, runId);
            throw ApplicationFailure.nonRetryable(
              `run ${runId} already ended (${ended?.status ?? 'deleted'}); it cannot be applied`,
              'RunEnded',
            );
          }
          // Tens of thousands of rows each check their foreign keys with a plan this connection may
          // have cached while the tables were small (a sequential scan per row, quadratic over
          // the run): within this transaction each check is planned for the tables as they are.
          await trx.raw('SET LOCAL plan_cache_mode = force_custom_plan');
          const options = {
            organizationId,
            run,
            roleAssignments,
            guard: { share: deps.settings.guardShare, minimum: deps.settings.guardMinimum },
            onStep,
          };
          // Events applied since the plan (or while it waited for approval) are in the tables now:
          // plan again under the lock, so the apply starts from what is really there.
          if (replan) {
            onStep('planning again');
            await computePlan(trx, { ...options, onStep: undefined });
          }
          const result = await writer.applySyncRunPlan(options);
          // A user the run deactivated or renamed may have freed an email a quarantined event wants.
          if (result.drift > 0) {
            const retried = await retryConflicts(writer);
            if (retried.applied > 0) {
              result.recoveredEvents = retried.applied;
              await runs.recordResult(trx, runId, result);
            }
          }
          // The writer makes the transaction's change records when this returns, before the commit.
          onStep('change records');
          appliedFull = run.kind === 'full';
          return result;
        }),
      ).finally(() => onStep.settled());
      // Committed: what the run found drifted is now corrected.
      if (appliedFull && deps.metrics) observeFullReconcile(deps.metrics, counts);
      return counts;
    },

    /** A dry run's plan (status planned), to be applied on approval; refuses other runs. */
    async loadPlannedRun(organizationId: string, runId: string): Promise<ReconcileCursor> {
      const run = await runs.getRun(deps.db, organizationId, runId);
      if (!run) throw ApplicationFailure.nonRetryable(`run ${runId} of ${organizationId} does not exist`, 'RunNotFound');
      if (run.status !== 'planned' && run.status !== 'needs_approval') {
        throw ApplicationFailure.nonRetryable(
          `run ${runId} is ${run.status}; only a dry run's plan or a run waiting for approval can be approved`,
          'RunNotApprovable',
        );
      }
      return {
        runId: run.id,
        kind: run.kind,
        dryRun: false,
        trigger: run.trigger,
        phase: 'apply',
        startedAt: run.createdAt,
        snapshotAt: run.snapshotAt,
        pages: run.pagesFetched,
        usersFetched: run.usersFetched,
        groupsFetched: run.groupsFetched,
        usersTotal: run.usersTotal,
        groupsTotal: run.groupsTotal,
        plan: run.plan,
        cancelRequested: false,
        directoryIds: (await runDirectories.listRunDirectories(deps.db, run.id)).filter((d) => d.read).map((d) => d.directoryId),
        directoryId: run.directoryId ?? '',
        pageToken: '',
        updatedAfter: run.updatedAfter,
      };
    },

    /**
     * Ends a run as cancelled or failed, in one transaction. Asking again for the state a run is
     * already in succeeds (a retried step); a run that completed cannot be cancelled or failed.
     */
    async finishSyncRun(organizationId: string, runId: string, status: 'cancelled' | 'failed', error: string | null): Promise<void> {
      await inTransaction(deps.db, async (trx) => {
        const run = await runs.getRun(trx, organizationId, runId);
        if (!run) {
          if (status === 'cancelled')
            throw ApplicationFailure.nonRetryable(`run ${runId} of ${organizationId} does not exist`, 'RunNotFound');
          return;
        }
        if (run.status === status) return;
        if (run.status === 'completed' || run.status === 'cancelled' || run.status === 'failed') {
          if (status === 'failed') return;
          throw ApplicationFailure.nonRetryable(`run ${runId} already ended (${run.status}); it cannot be cancelled`, 'RunEnded');
        }
        await runs.finishRun(trx, runId, status, { error });
        await deleteSnapshot(trx, runId);
      });
    },
  };
}
