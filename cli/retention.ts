import { WorkflowFailedError } from '@temporalio/client';
import { listRetentionRuns, readRetentionGauges, type RetentionRunRow } from '../db/repositories/retention';
import { describePeriod, totalRows, type RetentionCounts, type RetentionPeriods, type RetentionReport } from '../domain/retention';
import { describeRetentionSchedule, retentionProgress, startRetentionRun, type RetentionScheduleState } from '../temporal/retention';
import { retentionWorkflowId } from '../workflows/retention-messages';
import type { CliContext } from './context';
import { CliError } from './errors';
import { ago, duration, n, table, time } from './format';
import { cliPrefix } from '../domain/cli-command';

/**
 * `retention run|status`: prune now what the retention periods say is due (or, with --dry-run,
 * count it), and show what is kept, the periods, the schedule and the last runs.
 */

const KINDS: { key: keyof RetentionCounts; label: string }[] = [
  { key: 'eventPayloadsCleared', label: 'event payloads cleared (row kept)' },
  { key: 'ledgerEventsDeleted', label: 'event ledger rows deleted' },
  { key: 'syncRunsEnded', label: 'expired plans and abandoned runs ended' },
  { key: 'syncRunsDeleted', label: 'sync runs deleted' },
  { key: 'syncRunRowsDeleted', label: 'plan changes and snapshot rows deleted' },
  { key: 'deactivatedUsersPurged', label: 'deactivated users purged of personal fields' },
  { key: 'settingsLinkUsesDeleted', label: 'spent settings-link nonces deleted' },
  { key: 'changeRecordsDeleted', label: 'change records deleted' },
];

function periodLines(p: RetentionPeriods): string[] {
  return [
    `  event payloads      ${describePeriod(p.eventPayloadSeconds)}  (RETENTION_EVENT_PAYLOADS)`,
    `  event ledger        ${describePeriod(p.eventLedgerSeconds)}  (RETENTION_EVENT_LEDGER)`,
    `  sync runs           ${describePeriod(p.syncRunSeconds)}  (RETENTION_SYNC_RUNS)`,
    `  deactivated users   ${p.deactivatedUserSeconds === 0 ? 'personal fields kept' : describePeriod(p.deactivatedUserSeconds)}  (RETENTION_DEACTIVATED_USERS)`,
    `  change records      ${describePeriod(p.changeRecordSeconds)}  (RETENTION_CHANGE_RECORDS)`,
  ];
}

function progressLine(r: RetentionReport): string {
  return `retention ${r.dryRun ? 'dry run' : 'run'}: step ${n(r.steps)}, ${n(totalRows(r.counts))} row(s) so far, running for ${duration(Date.now() - Date.parse(r.startedAt))}`;
}

export async function retentionRun(ctx: CliContext, opts: { dryRun?: boolean; json?: boolean; wait: boolean }): Promise<number> {
  const temporal = await ctx.temporal();
  const dryRun = opts.dryRun === true;
  let start;
  try {
    start = await startRetentionRun(temporal.client, temporal.taskQueue, { dryRun, trigger: 'cli' });
  } catch (err) {
    throw ctx.temporalError(err);
  }
  const { handle, started } = start;
  const workflowId = retentionWorkflowId(temporal.taskQueue);
  if (!started) {
    const running = await retentionProgress(handle).catch(() => null);
    const what = running
      ? `started ${ago(running.startedAt)} by ${running.trigger === 'schedule' ? 'the schedule' : 'hand'}`
      : 'just started';
    if (dryRun || running?.dryRun) {
      throw new CliError(
        `a retention ${running?.dryRun ? 'dry run' : 'run'} is in progress (${what}, workflow ${workflowId}); try again once it has finished`,
      );
    }
    if (!opts.json) ctx.io.err(`a retention run is already in progress (${what}); following it`);
  }
  if (!opts.wait) {
    if (opts.json) ctx.io.out(JSON.stringify({ workflowId, started }));
    else
      ctx.io.out(
        `retention ${dryRun ? 'dry run' : 'run'} ${started ? 'started' : 'in progress'}: workflow ${workflowId} (\`${cliPrefix()} retention status\` shows what it pruned once it has finished)`,
      );
    return 0;
  }
  const showProgress = !opts.json && ctx.io.errIsTTY;
  const timer = showProgress
    ? setInterval(() => {
        void retentionProgress(handle)
          .then((r) => r && ctx.io.errRaw(`\r${progressLine(r)}\x1b[K`))
          .catch(() => undefined);
      }, 1_000)
    : undefined;
  let report: RetentionReport;
  try {
    report = (await handle.result()) as RetentionReport;
  } catch (err) {
    if (err instanceof WorkflowFailedError)
      throw new CliError(`${err.cause?.message ?? err.message} (workflow ${workflowId}; it runs again on schedule)`);
    throw ctx.temporalError(err);
  } finally {
    if (timer) {
      clearInterval(timer);
      ctx.io.errRaw('\r\x1b[K');
    }
  }
  if (opts.json) {
    ctx.io.out(JSON.stringify({ workflowId, ...report }));
    return 0;
  }
  const verb = report.dryRun ? 'would be' : 'were';
  ctx.io.out(
    `retention ${report.dryRun ? 'dry run (nothing changed)' : 'run'} ${report.complete ? 'finished' : 'stopped at its time budget'} in ${duration(Date.parse(report.finishedAt ?? '') - Date.parse(report.startedAt))}, ${n(report.steps)} step(s)`,
  );
  ctx.io.out(`rows that ${verb} pruned or cleared:`);
  for (const line of table(
    ['KIND', 'ROWS'],
    KINDS.map((k) => [k.label, n(report.counts[k.key])]),
  ))
    ctx.io.out(`  ${line}`);
  if (report.periods) for (const line of ['periods in force on the worker:', ...periodLines(report.periods)]) ctx.io.out(line);
  if (report.busyOrganizations > 0)
    ctx.io.out(
      `${n(report.busyOrganizations)} organization(s) were busy applying changes: their deactivated users are purged by the next run`,
    );
  if (!report.complete) ctx.io.out(`more is due: the next scheduled run goes on (or run \`${cliPrefix()} retention run\` again)`);
  return 0;
}

function scheduleLine(s: RetentionScheduleState): string {
  if (!s.exists) return `none (the worker creates it when it starts)  [${s.id}]`;
  const state = s.paused ? `paused${s.note ? ` (${s.note})` : ''}` : 'active';
  return `${state} · next ${s.paused ? '-' : time(s.nextActionAt)} · last ${s.lastActionAt ? ago(s.lastActionAt) : 'never'}  [${s.id}]`;
}

function runRow(r: RetentionRunRow): string[] {
  return [
    time(r.finishedAt),
    r.trigger,
    r.dryRun ? 'dry run' : r.error ? 'failed' : r.complete ? 'complete' : 'partial',
    n(totalRows(r.counts)),
    r.error ??
      KINDS.filter((k) => r.counts[k.key] > 0)
        .map((k) => `${k.key} ${n(r.counts[k.key])}`)
        .join(', '),
  ];
}

function ageText(seconds: number | null): string {
  if (seconds === null) return 'none kept';
  if (seconds < 2 * 86_400) return duration(seconds * 1_000);
  return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3_600)}h`;
}

export async function retentionStatus(ctx: CliContext, opts: { json?: boolean; limit: number }): Promise<number> {
  const config = ctx.config();
  const [gauges, runs] = await ctx.withDb((db) => Promise.all([readRetentionGauges(db), listRetentionRuns(db, opts.limit)]));
  let schedule: RetentionScheduleState | null = null;
  let scheduleProblem: string | null = null;
  try {
    const temporal = await ctx.temporal();
    schedule = await describeRetentionSchedule(temporal.client, temporal.taskQueue);
  } catch (err) {
    scheduleProblem = (ctx.temporalError(err) as Error).message;
  }
  if (opts.json) {
    ctx.io.out(JSON.stringify({ periods: config.retention, schedule, scheduleProblem, oldest: gauges, runs }));
    return 0;
  }
  const lines = [
    "periods (as configured for this command; the worker's own are in each run below)",
    ...periodLines(config.retention),
    `schedule  ${schedule ? scheduleLine(schedule) : `unknown: ${scheduleProblem ?? ''}`}`,
    'oldest kept',
    `  event payload       ${ageText(gauges.oldestEventPayloadAgeSeconds)}`,
    `  event ledger row    ${ageText(gauges.oldestLedgerEventAgeSeconds)}`,
    `  sync run            ${ageText(gauges.oldestSyncRunAgeSeconds)}`,
    `  deactivated user    ${ageText(gauges.oldestDeactivatedUserDataAgeSeconds)}`,
  ];
  for (const line of lines) ctx.io.out(line);
  if (runs.length === 0) {
    ctx.io.out(`runs      none yet (\`${cliPrefix()} retention run --dry-run\` shows what a run would prune)`);
    return 0;
  }
  ctx.io.out('runs');
  for (const line of table(['FINISHED', 'TRIGGER', 'RESULT', 'ROWS', 'DETAIL'], runs.map(runRow))) ctx.io.out(`  ${line}`);
  return 0;
}
