import { ApplicationFailure } from '@temporalio/common';
import {
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WithStartWorkflowOperation,
} from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { OrganizationWorkflows, WorkflowRefusedError, WorkflowTimeoutError } from '../../temporal/client';
import { ORGANIZATION_WORKFLOW_TYPE, organizationWorkflowId } from '../../workflows/messages';

interface Sent {
  update: string;
  args: unknown[];
  start: WithStartWorkflowOperation<never>;
  deadline: number;
}

/** A client whose update-with-start answers with `answer` (after `delayMs`), recording what was sent. */
function fakeClient(answer: () => Promise<unknown>, delayMs = 0) {
  const sent: Sent[] = [];
  let deadline = 0;
  const client = {
    withDeadline: async (d: number, fn: () => Promise<unknown>) => {
      deadline = d;
      return fn();
    },
    workflow: {
      executeUpdateWithStart: async (
        update: { name: string },
        options: { args: unknown[]; startWorkflowOperation: WithStartWorkflowOperation<never> },
      ) => {
        sent.push({ update: update.name, args: options.args, start: options.startWorkflowOperation, deadline });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return answer();
      },
    },
  } as unknown as Client;
  return { client, sent };
}

describe('OrganizationWorkflows commands', () => {
  it('start the workflow if it is not running and run the update on it, with a deadline', async () => {
    const { client, sent } = fakeClient(async () => ({ paused: { since: 'now', note: null }, deferred: 0 }));
    const workflows = new OrganizationWorkflows(client, 'scimflow', 5_000, 60_000);
    const before = Date.now();
    await expect(workflows.pauseSync('org_1', 'maintenance')).resolves.toEqual({ paused: { since: 'now', note: null }, deferred: 0 });
    expect(sent).toHaveLength(1);
    const [s] = sent;
    expect([s!.update, s!.args]).toEqual(['pauseSync', [{ note: 'maintenance' }]]);
    expect(s!.start.workflowTypeOrFunc).toBe(ORGANIZATION_WORKFLOW_TYPE);
    expect(s!.start.options).toMatchObject({
      workflowId: organizationWorkflowId('org_1'),
      taskQueue: 'scimflow',
      args: [{ organizationId: 'org_1' }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    expect(s!.deadline).toBeGreaterThanOrEqual(before + 60_000);
    expect(s!.deadline).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it('a refusal of the workflow is a WorkflowRefusedError with its reason', async () => {
    const { client } = fakeClient(async () => {
      throw new WorkflowUpdateFailedError(
        'Workflow Update failed',
        ApplicationFailure.create({ message: 'the sync of org_1 is not paused', type: 'Refused' }),
      );
    });
    const err = await new OrganizationWorkflows(client, 'scimflow').resumeSync('org_1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRefusedError);
    expect(err).toMatchObject({ organizationId: 'org_1', message: 'the sync of org_1 is not paused', reason: 'Refused' });
  });

  it('no answer before the deadline is a WorkflowTimeoutError that says the command may still be carried out', async () => {
    const { client } = fakeClient(async () => {
      throw new WorkflowUpdateRPCTimeoutOrCancelledError('Workflow update call timeout or cancelled');
    }, 30);
    const err = await new OrganizationWorkflows(client, 'scimflow', 5_000, 20).cancelRun('org_1', 'run_7').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowTimeoutError);
    expect((err as Error).message).toMatch(/org_1 did not answer "cancelRun" within 0 s; it may still carry it out/);
  });

  it('sent again when the run that took it continued as new before handling it, to the next run, a few times at most', async () => {
    const outrun = () =>
      new WorkflowUpdateFailedError(
        'Workflow Update failed',
        ApplicationFailure.create({ message: 'Workflow Update failed because the Workflow completed before the Update completed.' }),
      );
    let calls = 0;
    const { client, sent } = fakeClient(async () => {
      calls += 1;
      if (calls === 1) throw outrun();
      return { paused: { since: 'now', note: null }, deferred: 0 };
    });
    await expect(new OrganizationWorkflows(client, 'scimflow').pauseSync('org_1', null)).resolves.toMatchObject({ deferred: 0 });
    expect(sent).toHaveLength(2);
    // Each send has a start operation of its own (one can be used once).
    expect(sent[0]!.start).not.toBe(sent[1]!.start);

    const always = fakeClient(async () => {
      throw outrun();
    });
    const err = await new OrganizationWorkflows(always.client, 'scimflow').pauseSync('org_1', null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRefusedError);
    expect(always.sent).toHaveLength(3);
  });

  it('a call cut short before the deadline (Temporal unreachable) is thrown as it is', async () => {
    const cut = new WorkflowUpdateRPCTimeoutOrCancelledError('Workflow update call timeout or cancelled');
    const { client } = fakeClient(async () => {
      throw cut;
    });
    await expect(new OrganizationWorkflows(client, 'scimflow').approveRun('org_1', 'run_7')).rejects.toBe(cut);
  });
});
