import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { OrganizationWorkflows, WorkflowTimeoutError } from '../../temporal/client';
import { organizationWorkflowId } from '../../workflows/messages';

/**
 * A command waits for the organization workflow to answer, and no longer than its deadline: with
 * no worker to run the workflow, the caller learns in time that the command may still be carried
 * out. The workflow is started all the same (update-with-start), as a delivered event would.
 */

let connection: Connection;
let client: Client;
const taskQueue = `no-worker-${randomBytes(4).toString('hex')}`;
const org = `org_deadline_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
});
afterAll(async () => {
  await client?.workflow
    .getHandle(organizationWorkflowId(org))
    .terminate('test finished')
    .catch(() => undefined);
  await connection?.close();
});

it('a command the workflow does not answer ends at its deadline with a clear error, and the workflow was started', async () => {
  const workflows = new OrganizationWorkflows(client, taskQueue, 5_000, 2_000);
  const started = Date.now();
  const err = await workflows.pauseSync(org, 'maintenance').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowTimeoutError);
  expect((err as Error).message).toBe(
    `the workflow of organization ${org} did not answer "pauseSync" within 2 s; it may still carry it out: see its status (npm run cli -- status ${org})`,
  );
  expect(Date.now() - started).toBeLessThan(15_000);
  const description = await client.workflow.getHandle(organizationWorkflowId(org)).describe();
  expect([description.status.name, description.taskQueue]).toEqual(['RUNNING', taskQueue]);
});
