import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { deliveryWorkflowId } from '../workflows/delivery-messages';
import { organizationWorkflowId, scheduleId } from '../workflows/messages';

/**
 * What Temporal holds for one organization, and removing it (`orgs remove`): its workflows still
 * running (its own, its deliveries, a scheduled reconcile's starter caught mid-way) and its
 * reconcile schedules. Closed workflows stay in Temporal's history until its retention drops them.
 */

export interface RunningWorkflow {
  workflowId: string;
  type: string;
  startedAt: string;
}

export interface TemporalFootprint {
  workflows: RunningWorkflow[];
  /** The reconcile schedules that exist. */
  schedules: string[];
}

/** The workflows every organization may have, by id (read directly: visibility may lag behind). */
function knownWorkflowIds(organizationId: string): string[] {
  return [
    organizationWorkflowId(organizationId),
    deliveryWorkflowId(organizationId, 'temporal'),
    deliveryWorkflowId(organizationId, 'webhook'),
  ];
}

export async function temporalFootprint(client: Client, organizationId: string): Promise<TemporalFootprint> {
  const workflows = new Map<string, RunningWorkflow>();
  for (const workflowId of knownWorkflowIds(organizationId)) {
    try {
      const d = await client.workflow.getHandle(workflowId).describe();
      if (d.status.name === 'RUNNING') workflows.set(workflowId, { workflowId, type: d.type, startedAt: d.startTime.toISOString() });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  // Any other of its workflows (a schedule's starter names the organization in ScimOrgId).
  const query = `ScimOrgId = '${organizationId.replace(/'/g, "\\'")}' AND ExecutionStatus = 'Running'`;
  for await (const w of client.workflow.list({ query })) {
    if (!workflows.has(w.workflowId))
      workflows.set(w.workflowId, { workflowId: w.workflowId, type: w.type, startedAt: w.startTime.toISOString() });
  }
  const schedules: string[] = [];
  for (const kind of ['full', 'delta'] as const) {
    try {
      await client.schedule.getHandle(scheduleId(organizationId, kind)).describe();
      schedules.push(scheduleId(organizationId, kind));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return { workflows: [...workflows.values()], schedules };
}

/**
 * Deletes the schedules first (so none starts a run meanwhile), then terminates the workflows.
 * Whatever is already gone is passed over: a second removal does nothing.
 */
export async function removeFromTemporal(
  client: Client,
  footprint: TemporalFootprint,
  reason: string,
): Promise<{ schedulesDeleted: string[]; workflowsTerminated: string[] }> {
  const schedulesDeleted: string[] = [];
  for (const id of footprint.schedules) {
    try {
      await client.schedule.getHandle(id).delete();
      schedulesDeleted.push(id);
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  const workflowsTerminated: string[] = [];
  for (const w of footprint.workflows) {
    try {
      await client.workflow.getHandle(w.workflowId).terminate(reason);
      workflowsTerminated.push(w.workflowId);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return { schedulesDeleted, workflowsTerminated };
}
