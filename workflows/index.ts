// The workflow bundle's entry: every workflow type the worker runs.
export { organizationWorkflow } from './organization';
export { scheduledReconcileWorkflow } from './scheduled-reconcile';
export { retentionWorkflow, scheduledRetentionWorkflow } from './retention';
export { deliveryWorkflow } from './delivery';
