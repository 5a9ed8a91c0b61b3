import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { SCHEDULED_RECONCILE_WORKFLOW_TYPE, scheduleId, SCIM_ORG_ID } from '../workflows/messages';
import type { ReconcileKind } from '../domain/reconcile';

/**
 * One Temporal Schedule per organization and kind (full every 6 h, delta hourly by default). A
 * Schedule can only start workflows, so it starts a tiny workflow that signals the organization.
 */

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
        spec: { intervals: [{ every }] },
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
      // Saved again as it is: its workflow arguments are then encoded with today's payload key
      // (after a key rotation, this is what lets the old key go).
      await client.schedule.getHandle(scheduleId(organizationId, kind)).update((previous) => previous);
    }
  }
  return created;
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
