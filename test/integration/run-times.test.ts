import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeRun, createRun, finishRun, getRun } from '../../db/repositories/sync-runs/runs';
import type { ApplyCounts } from '../../domain/reconcile';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * A run's end is when it ended: the apply (and a cancel inside a longer transaction) records
 * its finish in a transaction that began long before, and the run's duration, `runs`,
 * `orgs list` and the report all read it.
 */

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  await database.db('organizations').insert({ id: 'org_times' });
});
afterAll(async () => database?.drop());

const newRun = () =>
  createRun(database.db, {
    organizationId: 'org_times',
    kind: 'full',
    trigger: 'cli',
    dryRun: false,
    directoryId: 'dir_times',
    updatedAfter: null,
    roleAssignments: [],
  });

describe('when a run ended', () => {
  it('is the moment its finish was written, not the start of the transaction that wrote it', async () => {
    for (const finish of [
      (trx: Parameters<typeof completeRun>[0], id: string) => completeRun(trx, id, {} as ApplyCounts),
      (trx: Parameters<typeof finishRun>[0], id: string) => finishRun(trx, id, 'cancelled'),
    ]) {
      const run = await newRun();
      const began = await database.db.transaction(async (trx) => {
        const { rows } = await trx.raw(`SELECT now() AS began FROM pg_sleep(1.2)`);
        await finish(trx, run.id);
        return (rows as { began: Date }[])[0]!.began;
      });
      const ended = await getRun(database.db, 'org_times', run.id);
      expect(Date.parse(ended!.finishedAt!) - began.getTime()).toBeGreaterThanOrEqual(1_200);
    }
  });
});
