import { getRun, type SyncRunRow } from '../db/repositories/sync-runs/runs';
import { stepOfPhase } from '../db/repositories/sync-runs/steps';
import type { ReconcileOutcome, ReconcileProgress } from '../domain/reconcile';
import type { CliContext, Temporal } from './context';
import type { ProgressRenderer } from './progress';
import { cliPrefix } from '../domain/cli-command';

/**
 * Follows one run by polling the organization workflow's status query (about 4 times a second)
 * until it ends, stops for approval, or the engineer presses Ctrl-C (detach: the run goes on in
 * the workflow; nothing here owns it).
 */

export type WatchResult =
  | { kind: 'ended'; outcome: ReconcileOutcome; last: ReconcileProgress | null }
  | { kind: 'awaiting_approval'; progress: ReconcileProgress }
  | { kind: 'detached'; last: ReconcileProgress | null };

const POLL_MS = 250;
/** How long the status may stay unanswerable (worker restarting, Temporal blip) before giving up. */
const GIVE_UP_AFTER_MS = 120_000;

const TERMINAL = new Set(['completed', 'planned', 'cancelled', 'failed']);

export function outcomeFromRow(row: SyncRunRow): ReconcileOutcome {
  return {
    runId: row.id,
    kind: row.kind,
    dryRun: row.dryRun,
    status: row.status as ReconcileOutcome['status'],
    finishedAt: row.finishedAt ?? new Date().toISOString(),
    plan: row.plan,
    result: row.result,
    error: row.error,
  };
}

function progressFromRow(row: SyncRunRow): ReconcileProgress {
  return {
    runId: row.id,
    kind: row.kind,
    dryRun: row.dryRun,
    trigger: row.trigger,
    phase: row.status === 'needs_approval' ? 'awaiting_approval' : 'users',
    startedAt: row.createdAt,
    snapshotAt: row.snapshotAt,
    pages: row.pagesFetched,
    usersFetched: row.usersFetched,
    groupsFetched: row.groupsFetched,
    usersTotal: row.usersTotal,
    groupsTotal: row.groupsTotal,
    plan: row.plan,
    cancelRequested: false,
  };
}

export async function watchRun(
  ctx: CliContext,
  temporal: Temporal,
  organizationId: string,
  runId: string,
  renderer: ProgressRenderer | undefined,
): Promise<WatchResult> {
  let detach: () => void = () => undefined;
  const detached = new Promise<'detached'>((resolve) => {
    detach = () => resolve('detached');
  });
  const onSigint = () => detach();
  process.on('SIGINT', onSigint);
  const sleep = (ms: number) => Promise.race([new Promise<'slept'>((r) => setTimeout(() => r('slept'), ms)), detached]);

  let last: ReconcileProgress | null = null;
  let failingSince: number | null = null;
  let warned = false;
  try {
    for (;;) {
      const polled = await Promise.race([
        temporal.workflows.status(organizationId).then(
          (status) => ({ status, error: null }),
          (error: unknown) => ({ status: undefined, error }),
        ),
        detached,
      ]);
      if (polled === 'detached') return { kind: 'detached', last };
      if (polled.error !== null) {
        failingSince ??= Date.now();
        if (Date.now() - failingSince > GIVE_UP_AFTER_MS) throw ctx.temporalError(polled.error);
        if (!warned) {
          renderer?.note(`status unavailable (${(polled.error as Error).message}); still trying; the run itself goes on`);
          warned = true;
        }
      } else {
        failingSince = null;
        warned = false;
        const s = polled.status;
        if (!s)
          throw new Error(
            `the workflow of ${organizationId} is gone (terminated?); see the run with \`${cliPrefix()} runs ${organizationId}\``,
          );
        if (s.reconcile?.runId === runId) {
          last = s.reconcile;
          // A plan or an apply is one long transaction: the step it has reached is in the database.
          const progress = s.reconcile;
          const step = renderer ? await ctx.withDb((db) => stepOfPhase(db, progress)).catch(() => null) : null;
          renderer?.update(s.reconcile, step);
          if (s.reconcile.phase === 'awaiting_approval') return { kind: 'awaiting_approval', progress: s.reconcile };
        } else if (s.lastReconcile?.runId === runId) {
          return { kind: 'ended', outcome: s.lastReconcile, last };
        } else {
          // Another run ended since (or the workflow continued as new): the database knows.
          const row = await ctx.withDb((db) => getRun(db, organizationId, runId));
          if (!row) throw new Error(`run ${runId} of ${organizationId} does not exist`);
          if (TERMINAL.has(row.status)) return { kind: 'ended', outcome: outcomeFromRow(row), last };
          if (row.status === 'needs_approval') return { kind: 'awaiting_approval', progress: progressFromRow(row) };
        }
      }
      if ((await sleep(POLL_MS)) === 'detached') return { kind: 'detached', last };
    }
  } finally {
    process.off('SIGINT', onSigint);
    renderer?.close();
  }
}
