/**
 * Retention: how long scimflow keeps what it stores about people, and what a retention run did.
 * Pure values shared by the worker, the workflow, the CLI and the API (no I/O here).
 */

/** Periods in seconds; 0 keeps forever. */
export interface RetentionPeriods {
  /** Payload and raw body of events that are resolved (applied, duplicate, stale, ignored). */
  eventPayloadSeconds: number;
  /** Ledger rows of resolved events (the exactly-once record of their ids). */
  eventLedgerSeconds: number;
  /** Sync runs with their plans; a dry run's plan not approved by then expires. */
  syncRunSeconds: number;
  /** Personal fields (email, names, attributes) of users deactivated this long ago; 0: kept. */
  deactivatedUserSeconds: number;
  /** Change records (the application's change stream: they hold personal data); 0: kept. */
  changeRecordSeconds: number;
}

export interface RetentionSettings extends RetentionPeriods {
  /** How often the retention schedule runs (a duration such as 1h). */
  interval: string;
}

/**
 * A deleted ledger row lets a redelivery of its event id be applied again; Scalekit retries a
 * delivery for about a day and a half. Anything shorter than this is refused.
 */
export const MIN_EVENT_LEDGER_SECONDS = 7 * 86_400;
/** A run stopped by the deprovision guard waits 24 hours for approval; runs are kept longer. */
export const MIN_SYNC_RUN_SECONDS = 2 * 86_400;
export const MIN_EVENT_PAYLOAD_SECONDS = 3_600;
export const MIN_DEACTIVATED_USER_SECONDS = 86_400;
export const MIN_CHANGE_RECORD_SECONDS = 86_400;

export const DEFAULT_RETENTION: RetentionSettings = {
  eventPayloadSeconds: 30 * 86_400,
  eventLedgerSeconds: 180 * 86_400,
  syncRunSeconds: 90 * 86_400,
  deactivatedUserSeconds: 0,
  changeRecordSeconds: 30 * 86_400,
  interval: '1h',
};

/** What a retention run pruned (or, for a dry run, would prune), by kind. */
export interface RetentionCounts {
  /** Payloads and raw bodies cleared from ledger rows that are kept. */
  eventPayloadsCleared: number;
  /** Ledger rows deleted. */
  ledgerEventsDeleted: number;
  /** Dry-run plans never approved, and runs abandoned without progress, ended. */
  syncRunsEnded: number;
  /** Sync runs deleted. */
  syncRunsDeleted: number;
  /** Their plan changes and directory snapshot rows deleted (and snapshots left by finished runs). */
  syncRunRowsDeleted: number;
  /** Deactivated users whose personal fields were cleared. */
  deactivatedUsersPurged: number;
  /** Spent settings-link nonces past their link's expiry. */
  settingsLinkUsesDeleted: number;
  /** Change records deleted. */
  changeRecordsDeleted: number;
}

export const RETENTION_COUNT_KEYS: readonly (keyof RetentionCounts)[] = [
  'eventPayloadsCleared',
  'ledgerEventsDeleted',
  'syncRunsEnded',
  'syncRunsDeleted',
  'syncRunRowsDeleted',
  'deactivatedUsersPurged',
  'settingsLinkUsesDeleted',
  'changeRecordsDeleted',
];

export function emptyCounts(): RetentionCounts {
  return {
    eventPayloadsCleared: 0,
    ledgerEventsDeleted: 0,
    syncRunsEnded: 0,
    syncRunsDeleted: 0,
    syncRunRowsDeleted: 0,
    deactivatedUsersPurged: 0,
    settingsLinkUsesDeleted: 0,
    changeRecordsDeleted: 0,
  };
}

export function addCounts(a: RetentionCounts, b: RetentionCounts): RetentionCounts {
  const out = emptyCounts();
  for (const k of RETENTION_COUNT_KEYS) out[k] = a[k] + b[k];
  return out;
}

export function totalRows(c: RetentionCounts): number {
  return RETENTION_COUNT_KEYS.reduce((sum, k) => sum + c[k], 0);
}

export type RetentionTrigger = 'schedule' | 'cli';

export interface RetentionRequest {
  dryRun: boolean;
  trigger: RetentionTrigger;
}

/** One bounded step of a run (an activity): what it did and whether anything is left. */
export interface RetentionStep {
  counts: RetentionCounts;
  /** Nothing left to prune for now. */
  done: boolean;
  /** Organizations whose deactivated users were left for the next run (busy applying changes). */
  busyOrganizations: number;
  /** The periods in force on the worker that ran the step. */
  periods: RetentionPeriods;
}

/** A retention run, as it goes (the workflow's query) and once it ended. */
export interface RetentionReport {
  trigger: RetentionTrigger;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string | null;
  /** Everything due was pruned; false: the run's time budget was spent first (the next run goes on). */
  complete: boolean;
  steps: number;
  counts: RetentionCounts;
  busyOrganizations: number;
  periods: RetentionPeriods | null;
  error: string | null;
}

/** "30d", "12h", "keep forever": a period as operators write it. */
export function describePeriod(seconds: number): string {
  if (seconds === 0) return 'keep forever';
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;

/**
 * A retention period in seconds: `30d`, `12h`, `45m`, `90s`, or a bare number of days; `0`
 * keeps forever. Undefined when the text is none of these.
 */
export function parsePeriod(text: string): number | undefined {
  const m = /^(\d{1,6})\s*(s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[(m[2] ?? 'd') as keyof typeof UNIT_SECONDS];
}
