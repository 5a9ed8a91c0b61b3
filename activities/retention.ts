import type { Knex } from 'knex';
import * as repo from '../db/repositories/retention';
import { pruneChangeRecords } from '../db/repositories/changes';
import {
  DEFAULT_RETENTION,
  emptyCounts,
  totalRows,
  type RetentionCounts,
  type RetentionPeriods,
  type RetentionReport,
  type RetentionStep,
} from '../domain/retention';
import type { Logger } from '../observability/logger';
import { withHeartbeat } from './heartbeat';

export interface RetentionOptions extends RetentionPeriods {
  /** Rows per batch (one short transaction each). */
  batchSize: number;
  /** A step (one activity) returns after this long, so progress and the time budget are checked. */
  stepBudgetMs: number;
  logger?: Logger;
}

export const DEFAULT_RETENTION_OPTIONS: RetentionOptions = {
  eventPayloadSeconds: DEFAULT_RETENTION.eventPayloadSeconds,
  eventLedgerSeconds: DEFAULT_RETENTION.eventLedgerSeconds,
  syncRunSeconds: DEFAULT_RETENTION.syncRunSeconds,
  deactivatedUserSeconds: DEFAULT_RETENTION.deactivatedUserSeconds,
  changeRecordSeconds: DEFAULT_RETENTION.changeRecordSeconds,
  batchSize: 2_000,
  stepBudgetMs: 20_000,
};

export function createRetentionActivities(deps: { db: Knex; options: RetentionOptions }) {
  const o = deps.options;
  const periods: RetentionPeriods = {
    eventPayloadSeconds: o.eventPayloadSeconds,
    eventLedgerSeconds: o.eventLedgerSeconds,
    syncRunSeconds: o.syncRunSeconds,
    deactivatedUserSeconds: o.deactivatedUserSeconds,
    changeRecordSeconds: o.changeRecordSeconds,
  };

  /**
   * Prunes in batches until nothing is due or the step's budget is spent. Each batch is its own
   * short transaction that skips rows another transaction holds, so organization workflows are
   * never kept waiting. Kinds go in an order where one never redoes another's work: runs (ended,
   * then deleted), ledger rows, then payloads of the rows kept.
   */
  async function step(counts: RetentionCounts): Promise<RetentionStep> {
    const deadline = Date.now() + o.stepBudgetMs;
    const busy = new Set<string>();
    let done = true;
    /** Runs batches of one kind until one comes back short; false when the budget ran out first. */
    const drain = async (batch: () => Promise<number>): Promise<void> => {
      for (;;) {
        if (Date.now() >= deadline) {
          done = false;
          return;
        }
        if ((await batch()) < o.batchSize) return;
      }
    };
    const limit = o.batchSize;
    if (periods.syncRunSeconds > 0) {
      await drain(async () => {
        const n = await repo.endExpiredRuns(deps.db, periods.syncRunSeconds, limit);
        counts.syncRunsEnded += n;
        return n;
      });
      await drain(async () => {
        const r = await repo.pruneSyncRuns(deps.db, periods.syncRunSeconds, limit);
        counts.syncRunsDeleted += r.runs;
        counts.syncRunRowsDeleted += r.rows;
        return r.runs + r.rows;
      });
    }
    await drain(async () => {
      const n = await repo.pruneFinishedRunSnapshots(deps.db, limit);
      counts.syncRunRowsDeleted += n;
      return n;
    });
    if (periods.eventLedgerSeconds > 0) {
      await drain(async () => {
        const n = await repo.pruneLedgerEvents(deps.db, periods.eventLedgerSeconds, limit);
        counts.ledgerEventsDeleted += n;
        return n;
      });
    }
    if (periods.eventPayloadSeconds > 0) {
      await drain(async () => {
        const n = await repo.clearEventPayloads(deps.db, periods.eventPayloadSeconds, limit);
        counts.eventPayloadsCleared += n;
        return n;
      });
    }
    if (periods.deactivatedUserSeconds > 0) {
      for (;;) {
        if (Date.now() >= deadline) {
          done = false;
          break;
        }
        const n = await repo.purgeDeactivatedUsers(deps.db, periods.deactivatedUserSeconds, limit, busy);
        if (n === null) break;
        counts.deactivatedUsersPurged += n;
      }
    }
    if (periods.changeRecordSeconds > 0) {
      await drain(async () => {
        const n = await pruneChangeRecords(deps.db, periods.changeRecordSeconds, limit);
        counts.changeRecordsDeleted += n;
        return n;
      });
    }
    await drain(async () => {
      const n = await repo.pruneSettingsLinkUses(deps.db, limit);
      counts.settingsLinkUsesDeleted += n;
      return n;
    });
    return { counts, done, busyOrganizations: busy.size, periods };
  }

  return {
    /**
     * One bounded step of a retention run: prunes for up to `stepBudgetMs` (a dry run counts
     * what is due instead, changing nothing). The workflow calls it until `done`.
     */
    async pruneRetentionStep(request: { dryRun: boolean }): Promise<RetentionStep> {
      if (request.dryRun) {
        const counts = await withHeartbeat(() => repo.countDue(deps.db, periods));
        return { counts, done: true, busyOrganizations: 0, periods };
      }
      const started = Date.now();
      const counts = emptyCounts();
      // The counts so far go with each heartbeat: the Temporal UI shows how far the step is.
      const result = await withHeartbeat(() => step(counts), { details: () => ({ counts }) });
      o.logger?.info('retention step', {
        ...result.counts,
        rows: totalRows(result.counts),
        done: result.done,
        busyOrganizations: result.busyOrganizations,
        ms: Date.now() - started,
      });
      return result;
    },

    /** Keeps the run in `retention_runs` (what was pruned, when, with which periods). */
    async recordRetentionRun(report: RetentionReport): Promise<void> {
      await repo.recordRetentionRun(deps.db, report);
      const fields = {
        ...report.counts,
        rows: totalRows(report.counts),
        dryRun: report.dryRun,
        trigger: report.trigger,
        complete: report.complete,
        steps: report.steps,
      };
      if (report.error) o.logger?.error('retention run failed', { ...fields, error: report.error });
      else o.logger?.info(report.dryRun ? 'retention dry run' : 'retention run finished', fields);
    },
  };
}
