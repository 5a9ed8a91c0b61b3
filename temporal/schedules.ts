import { createHash } from 'node:crypto';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type IntervalSpec } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import { SCHEDULED_RECONCILE_WORKFLOW_TYPE, scheduleId, SCIM_ORG_ID } from '../workflows/messages';
import type { ReconcileKind } from '../domain/reconcile';

/**
 * One Temporal Schedule per organization and kind (full every 6 h, delta hourly by default). A
 * Schedule can only start workflows, so it starts a tiny workflow that signals the organization.
 */

/**
 * Where in its interval a schedule fires: a stable offset derived from a hash of `key`, in whole
 * seconds within [0, every). An interval without offset fires at epoch-aligned moments (every
 * organization's hourly delta at xx:00:00), one burst against Scalekit, the database and the
 * workers; with it, each organization's runs fall at their own moment in the interval, the same
 * one every time the schedule is saved again.
 */
export function scheduleOffsetMs(key: string, every: string | number): number {
  const everySeconds = Math.floor(msToNumber(every as Parameters<typeof msToNumber>[0]) / 1000);
  if (!(everySeconds > 1)) return 0;
  const hash = createHash('sha256').update(key).digest().readUIntBE(0, 6);
  return (hash % everySeconds) * 1000;
}

/**
 * The offset of one organization's schedule of one kind. The kind is part of the key: with the
 * organization id alone, the 6-hourly full run would always fall on one of the hourly delta runs
 * (the same hash modulo 6 h and modulo 1 h agree on the minute).
 */
export function reconcileScheduleOffsetMs(organizationId: string, kind: ReconcileKind, every: string | number): number {
  return scheduleOffsetMs(`${kind}:${organizationId}`, every);
}

/** The interval spec of an organization's schedule: its `every`, at the organization's offset. */
function reconcileInterval(organizationId: string, kind: ReconcileKind, every: string | number): IntervalSpec {
  return { every, offset: reconcileScheduleOffsetMs(organizationId, kind, every) };
}

export interface ScheduleSettings {
  taskQueue: string;
  fullInterval: string;
  deltaInterval: string;
}

/** A schedule as `status` commands show it (`exists: false` when there is none). */
export interface ScheduleDescription {
  id: string;
  exists: boolean;
  paused: boolean;
  note: string | null;
  nextActionAt: string | null;
  lastActionAt: string | null;
}

export interface ScheduleState extends ScheduleDescription {
  kind: ReconcileKind;
}

export async function describeSchedule(client: Client, id: string): Promise<ScheduleDescription> {
  try {
    const d = await client.schedule.getHandle(id).describe();
    return {
      id,
      exists: true,
      paused: d.state.paused,
      note: d.state.note ?? null,
      nextActionAt: d.info.nextActionTimes[0]?.toISOString() ?? null,
      lastActionAt: d.info.recentActions.at(-1)?.takenAt.toISOString() ?? null,
    };
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    return { id, exists: false, paused: false, note: null, nextActionAt: null, lastActionAt: null };
  }
}

export async function ensureSchedules(client: Client, organizationId: string, s: ScheduleSettings): Promise<string[]> {
  const created: string[] = [];
  for (const [kind, every] of [
    ['full', s.fullInterval],
    ['delta', s.deltaInterval],
  ] as const) {
    try {
      await client.schedule.create({
        scheduleId: scheduleId(organizationId, kind),
        spec: { intervals: [reconcileInterval(organizationId, kind, every)] },
        action: {
          type: 'startWorkflow',
          workflowType: SCHEDULED_RECONCILE_WORKFLOW_TYPE,
          taskQueue: s.taskQueue,
          args: [{ organizationId, kind }],
          workflowId: `scim-scheduled-${kind}:${organizationId}`,
          typedSearchAttributes: [{ key: SCIM_ORG_ID, value: organizationId }],
        },
        // A reconcile still running when the next is due is not doubled; missed ones within an
        // hour of an outage still run once.
        policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
        typedSearchAttributes: [{ key: SCIM_ORG_ID, value: organizationId }],
      });
      created.push(scheduleId(organizationId, kind));
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      // Saved again: its workflow arguments are then encoded with today's payload key (after a
      // key rotation, this is what lets the old key go), and a schedule made before offsets gets
      // its organization's offset. Its interval stays as it is.
      await client.schedule.getHandle(scheduleId(organizationId, kind)).update((previous) => ({
        ...previous,
        spec: withOffsets(organizationId, kind, previous.spec),
      }));
    }
  }
  return created;
}

type Spec = { intervals?: { every: string | number; offset?: string | number }[] };

function withOffsets<S extends Spec>(organizationId: string, kind: ReconcileKind, spec: S): S {
  return { ...spec, intervals: spec.intervals?.map((i) => reconcileInterval(organizationId, kind, i.every)) };
}

/** Whether a schedule's intervals all have their organization's offset. */
function hasOffsets(organizationId: string, kind: ReconcileKind, spec: Spec | undefined): boolean {
  return (spec?.intervals ?? []).every(
    (i) => msToNumber((i.offset ?? 0) as number) === reconcileScheduleOffsetMs(organizationId, kind, i.every),
  );
}

/** The organization and kind of a reconcile schedule id, or null for any other schedule. */
function parseScheduleId(id: string): { organizationId: string; kind: ReconcileKind } | null {
  for (const kind of ['full', 'delta'] as const) {
    const prefix = scheduleId('', kind);
    if (id.startsWith(prefix) && id.length > prefix.length) return { organizationId: id.slice(prefix.length), kind };
  }
  return null;
}

/**
 * Gives every reconcile schedule made before offsets (or whose offset is not its organization's)
 * its offset, keeping its interval, pause and note; the others are left alone, so once done this
 * is one listing of the schedules. Run by the worker at start, in the background. A schedule that
 * cannot be changed (deleted meanwhile, its arguments sealed with a key this process lacks) is
 * counted and left for the next start.
 */
export async function alignScheduleOffsets(client: Client): Promise<{ changed: number; failed: number; firstError?: unknown }> {
  const out: { changed: number; failed: number; firstError?: unknown } = { changed: 0, failed: 0 };
  for await (const summary of client.schedule.list({ pageSize: 1000 })) {
    const parsed = parseScheduleId(summary.scheduleId);
    if (!parsed || (summary.spec && hasOffsets(parsed.organizationId, parsed.kind, summary.spec))) continue;
    const { organizationId, kind } = parsed;
    try {
      const handle = client.schedule.getHandle(summary.scheduleId);
      if (hasOffsets(organizationId, kind, (await handle.describe()).spec)) continue;
      await handle.update((previous) => ({ ...previous, spec: withOffsets(organizationId, kind, previous.spec) }));
      out.changed += 1;
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) continue;
      out.failed += 1;
      out.firstError ??= err;
    }
  }
  return out;
}

export async function describeSchedules(client: Client, organizationId: string): Promise<ScheduleState[]> {
  const out: ScheduleState[] = [];
  for (const kind of ['full', 'delta'] as const) {
    const { id, ...state } = await describeSchedule(client, scheduleId(organizationId, kind));
    out.push({ id, kind, ...state });
  }
  return out;
}

export async function controlSchedule(
  client: Client,
  organizationId: string,
  kind: ReconcileKind,
  action: 'pause' | 'resume' | 'trigger',
  note?: string,
): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId(organizationId, kind));
  if (action === 'pause') await handle.pause(note ?? 'paused from the scimflow CLI');
  else if (action === 'resume') await handle.unpause(note ?? 'resumed from the scimflow CLI');
  else await handle.trigger('ALLOW_ALL');
}
