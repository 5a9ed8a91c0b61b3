import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError, ActivityFailure, ApplicationFailure } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APPLY_DIRECTORY_CHANGES, type ChangeBatch, type ChangeBatchResult } from '../../contract/index';
import { createAcmeWorker } from '../../examples/acme-app/temporal';
import { memoryChangeLogger, startAcme, type Acme } from '../support/acme';
import { userRecord, userView } from '../support/change-records';

/** Acme's worker on its own task queue, called by name from a workflow through a real Temporal server. */

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // already installed in this process
}

const WORKFLOWS = fileURLToPath(new URL('../support/workflows/deliver-to-application.ts', import.meta.url));

let acme: Acme;
let connection: NativeConnection;
let client: Client;
let appWorker: Worker;
let deliveryWorker: Worker;
let running: Promise<unknown>;
const appQueue = `acme-app-${randomBytes(4).toString('hex')}`;
const deliveryQueue = `delivery-${randomBytes(4).toString('hex')}`;
const workerLogs: string[] = [];

beforeAll(async () => {
  acme = await startAcme();
  const address = inject('temporalAddress');
  connection = await NativeConnection.connect({ address });
  client = new Client({ connection: await Connection.connect({ address }) });
  appWorker = await createAcmeWorker({ connection, taskQueue: appQueue, db: acme.db, logger: memoryChangeLogger(workerLogs) });
  deliveryWorker = await Worker.create({ connection, taskQueue: deliveryQueue, workflowsPath: WORKFLOWS });
  running = Promise.all([appWorker.run(), deliveryWorker.run()]);
});

afterAll(async () => {
  appWorker?.shutdown();
  deliveryWorker?.shutdown();
  await running;
  await connection?.close();
  await client?.connection.close();
  await acme?.stop();
});

function deliver(batch: ChangeBatch): Promise<ChangeBatchResult> {
  return client.workflow.execute('deliverToApplication', {
    taskQueue: deliveryQueue,
    workflowId: `deliver-${randomBytes(6).toString('hex')}`,
    args: [appQueue, batch],
  });
}

describe("Acme's worker (APP_TASK_QUEUE)", () => {
  it(`implements ${APPLY_DIRECTORY_CHANGES}: applies a batch once, however often it is delivered`, async () => {
    const o = `org_${randomBytes(4).toString('hex')}`;
    const batch = { organizationId: o, records: [userRecord(o, 'user.provisioned', userView('usr_via_temporal', { roles: ['manager'] }))] };
    expect(await deliver(batch)).toEqual({ applied: 1, alreadyApplied: 0 });
    expect(await deliver(batch)).toEqual({ applied: 0, alreadyApplied: 1 });
    const token = await acme.tokenFor(o, 'usr_via_temporal');
    expect((await acme.call('GET', '/me', token)).body).toMatchObject({ roles: ['manager'] });
    expect(workerLogs.some((l) => l.includes('users created'))).toBe(true);
  });

  it('fails a batch it can never apply without retrying it (a non-retryable ApplicationFailure)', async () => {
    const o = `org_${randomBytes(4).toString('hex')}`;
    const record = userRecord(o, 'user.provisioned', userView('usr_malformed'));
    const failure = await deliver({ organizationId: o, records: [{ ...record, committedAt: 'not a time' }] }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const activity = (failure as WorkflowFailedError).cause;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect((activity as ActivityFailure).retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    const cause = (activity as ActivityFailure).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe('RecordRejected');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain(record.id);
    expect(cause.details).toEqual([{ recordId: record.id }]);
    expect(await acme.db('users').where({ organization_id: o })).toHaveLength(0);
  });
});
