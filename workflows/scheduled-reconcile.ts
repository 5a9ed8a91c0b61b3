import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index';
import type { ReconcileKind } from '../domain/reconcile';
import { reconcileRequest } from './activities';

const { requestOrganizationReconcile } = proxyActivities<Activities>(reconcileRequest);

/**
 * Started by an organization's Temporal Schedule. A Schedule can only start workflows, so this
 * one asks the organization workflow to reconcile (it skips if a run is already in progress).
 */
export async function scheduledReconcileWorkflow(input: { organizationId: string; kind: ReconcileKind }): Promise<void> {
  await requestOrganizationReconcile(input.organizationId, input.kind);
}
