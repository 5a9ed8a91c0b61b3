import type { ReconcileProgress, RunStep } from '../domain/reconcile';
import type { Output } from './context';
import { duration, n, rate } from './format';

/**
 * Renders a run's progress as the organization workflow reports it. On a terminal one line is
 * redrawn in place (`\r`); otherwise (CI logs, pipes) a line is printed when the phase changes,
 * when another tenth of the directory has been fetched, and at least every `intervalMs`, so logs
 * stay short but show that the run moves.
 */

const RATE_WINDOW_MS = 5_000;
const BAR_WIDTH = 24;

interface Sample {
  at: number;
  users: number;
}

export interface ProgressOptions {
  tty: boolean;
  intervalMs?: number;
  now?: () => number;
}

export class ProgressRenderer {
  private readonly samples: Sample[] = [];
  private lastPrintedAt = 0;
  private lastPhase: string | null = null;
  private lastBucket = -1;
  private lastStep: string | null = null;
  private lineOpen = false;
  private readonly firstSeenAt: number;
  private readonly now: () => number;
  private readonly intervalMs: number;

  constructor(
    private readonly io: Output,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.intervalMs = options.intervalMs ?? 2_000;
    this.firstSeenAt = this.now();
  }

  /** Users fetched per second over the last few seconds (or since the first sample). */
  usersPerSecond(): number | null {
    const last = this.samples.at(-1);
    if (!last) return null;
    const first = this.samples.find((s) => last.at - s.at <= RATE_WINDOW_MS) ?? last;
    const span = last.at - first.at;
    if (span < 500) return null;
    return (last.users - first.users) / (span / 1_000);
  }

  update(p: ReconcileProgress, step: RunStep | null = null): void {
    const at = this.now();
    if (p.phase === 'users') {
      this.samples.push({ at, users: p.usersFetched });
      while (this.samples.length > 2 && at - (this.samples[0]?.at ?? at) > RATE_WINDOW_MS * 2) this.samples.shift();
    }
    const text = describeProgress(p, p.phase === 'users' ? this.usersPerSecond() : null, at - this.firstSeenAt, step, at);
    if (this.options.tty) {
      // Longer than the terminal, the line would wrap and `\r` would no longer redraw it.
      const reported = this.io.errColumns();
      const columns = reported && reported >= 40 ? reported : 120;
      const line = text.length >= columns ? `${text.slice(0, columns - 2)}…` : text;
      this.io.errRaw(`\r${line}\x1b[K`);
      this.lineOpen = true;
    } else {
      // A line per phase, per step of a plan or apply, per tenth of the directory fetched, and
      // at least every intervalMs.
      const bucket = tenth(p);
      const stepKey = step ? `${step.phase}:${step.step}` : null;
      if (
        p.phase !== this.lastPhase ||
        bucket !== this.lastBucket ||
        stepKey !== this.lastStep ||
        at - this.lastPrintedAt >= this.intervalMs
      ) {
        this.io.err(text);
        this.lastPrintedAt = at;
        this.lastBucket = bucket;
      }
      this.lastStep = stepKey;
    }
    this.lastPhase = p.phase;
  }

  /** Prints a line of its own (closing the redrawn line first). */
  note(text: string): void {
    this.close();
    this.io.err(text);
  }

  /** Ends the redrawn line so what follows starts on a fresh one. */
  close(): void {
    if (this.lineOpen) {
      this.io.errRaw('\n');
      this.lineOpen = false;
    }
  }
}

function tenth(p: ReconcileProgress): number {
  if (p.phase === 'users' && p.usersTotal) return Math.floor((p.usersFetched * 10) / p.usersTotal);
  if (p.phase === 'groups' && p.groupsTotal) return Math.floor((p.groupsFetched * 10) / p.groupsTotal);
  return -1;
}

function bar(fraction: number): string {
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round(fraction * BAR_WIDTH)));
  return `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}]`;
}

function percent(done: number, total: number | null): string {
  if (!total) return '';
  return ` (${Math.min(100, Math.floor((done / total) * 100))}%)`;
}

/**
 * Which of several directories a run is reading, e.g. ` · directory 2/3 dir_…`, nothing for one;
 * and the listed directories it does not read, with why.
 */
function directoryPart(p: ReconcileProgress): string {
  if (p.phase !== 'users' && p.phase !== 'groups') return '';
  const ids = p.directoryIds ?? [];
  const i = Math.min(p.directoryIndex ?? 0, ids.length - 1);
  const reading = ids.length < 2 ? '' : ` · directory ${i + 1}/${ids.length} ${ids[i] ?? ''}`;
  const notRead = (p.directoriesNotRead ?? []).map((d) => `${d.id} (${d.reason})`);
  return reading + (notRead.length > 0 ? ` · not read: ${notRead.join(', ')}` : '');
}

/**
 * One line describing where a run is: phase, pages, counts against totals, rate, ETA; in a plan
 * or an apply, the step it has reached and how long the phase has taken.
 */
export function describeProgress(
  p: ReconcileProgress,
  usersPerSecond: number | null,
  elapsedMs: number,
  step: RunStep | null = null,
  now = Date.now(),
): string {
  return describePhase(p, usersPerSecond, elapsedMs) + stepPart(step, now) + directoryPart(p);
}

/** ` · step 9/10 roles 10,000 / 30,000 (33%) · 4.2s in this phase`, or nothing. */
export function stepPart(step: RunStep | null, now: number): string {
  if (!step) return '';
  const within = step.done !== null && step.total ? ` ${n(step.done)} / ${n(step.total)}${percent(step.done, step.total)}` : '';
  const phaseMs = Math.max(0, now - Date.parse(step.phaseStartedAt));
  return ` · step ${step.index}/${step.of} ${step.step}${within} · ${duration(phaseMs)} in this phase`;
}

function describePhase(p: ReconcileProgress, usersPerSecond: number | null, elapsedMs: number): string {
  const clock = `[${duration(elapsedMs).padStart(6)}]`;
  const label = p.dryRun ? `${p.kind} dry run` : p.kind;
  switch (p.phase) {
    case 'users': {
      const total = p.usersTotal;
      if (total === null && p.pages === 0) return `${clock} run ${p.runId} (${label}) users: reading the first page of the directory`;
      const parts = [
        `${clock} run ${p.runId} (${label}) users ${bar(total ? p.usersFetched / total : 0)} ${n(p.usersFetched)} / ${n(total)} fetched${percent(p.usersFetched, total)}`,
        `${n(p.pages)} pages`,
      ];
      if (usersPerSecond !== null) {
        parts.push(`${rate(usersPerSecond)} users/s`);
        if (total && usersPerSecond > 0) parts.push(`ETA ${duration(((total - p.usersFetched) / usersPerSecond) * 1_000)}`);
      }
      return parts.join(' · ');
    }
    case 'groups': {
      const total = p.groupsTotal;
      if (total === null && p.groupsFetched === 0)
        return `${clock} run ${p.runId} (${label}) groups: reading the first page · users ${n(p.usersFetched)} fetched`;
      return [
        `${clock} run ${p.runId} (${label}) groups ${bar(total ? p.groupsFetched / total : 0)} ${n(p.groupsFetched)} / ${n(total)} fetched${percent(p.groupsFetched, total)}`,
        `${n(p.pages)} pages`,
        `users ${n(p.usersFetched)} fetched`,
      ].join(' · ');
    }
    case 'plan':
      return `${clock} run ${p.runId} (${label}) plan: comparing ${n(p.usersFetched)} users and ${n(p.groupsFetched)} groups with the database`;
    case 'awaiting_approval':
      return `${clock} run ${p.runId} (${label}) awaiting approval: it would deactivate ${n(p.plan?.users.deactivate)} of ${n(p.plan?.activeUsersBefore)} active users`;
    case 'apply': {
      const u = p.plan?.users;
      const changes = u
        ? `: create ${n(u.create)}, update ${n(u.update)}, deactivate ${n(u.deactivate)}, reactivate ${n(u.reactivate)} users`
        : '';
      return `${clock} run ${p.runId} (${label}) apply${changes}`;
    }
    default:
      return `${clock} run ${p.runId} (${label}) ${String(p.phase)}`;
  }
}
