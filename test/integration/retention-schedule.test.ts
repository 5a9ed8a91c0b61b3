import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { memoryLogger } from '../../observability/logger';
import { describeRetentionSchedule, keepEnsuringRetentionSchedule } from '../../temporal/retention';
import { scheduleOffsetMs } from '../../temporal/schedules';
import { eventually } from '../support/stack';

/**
 * The worker makes the retention schedule in the background, and keeps trying until Temporal
 * takes it: here a namespace that does not exist yet when the worker starts (as when the worker
 * comes up before the namespace job has run). Real Temporal dev server.
 */

let connection: Connection;
beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await connection?.close();
});

const lines = (logger: { lines: string[] }) =>
  logger.lines.map((l) => JSON.parse(l) as { level: string; msg: string; kind?: string; attempts?: number });

it('keeps trying until the namespace exists, logging the failure once, then creates the schedule', async () => {
  const namespace = `late-${randomBytes(4).toString('hex')}`;
  const client = new Client({ connection, namespace });
  const logger = memoryLogger();
  const settings = { taskQueue: `retention-${randomBytes(4).toString('hex')}`, interval: '365d' };
  let outcome: string | null | undefined;
  const trying = keepEnsuringRetentionSchedule(client, settings, {
    logger,
    signal: new AbortController().signal,
    initialDelayMs: 50,
    maxDelayMs: 200,
  }).then((o) => (outcome = o));

  // It fails (no such namespace) and keeps trying.
  await eventually(async () => logger.lines.some((l) => l.includes('could not create the retention schedule')), {
    timeoutMs: 120_000,
    intervalMs: 50,
  });
  expect(outcome).toBeUndefined();

  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  await trying;
  expect(outcome).toBe('created');
  expect((await describeRetentionSchedule(client, settings.taskQueue)).exists).toBe(true);
  // At its own moment in the interval, not at the top of the hour.
  const scheduleId = `scimflow-retention:${settings.taskQueue}`;
  expect((await client.schedule.getHandle(scheduleId).describe()).spec.intervals).toEqual([
    { every: 365 * 86_400_000, offset: scheduleOffsetMs(scheduleId, '365d') },
  ]);

  const logged = lines(logger);
  const failures = logged.filter((l) => l.level === 'error');
  // However many attempts failed the same way, the log says so once.
  expect(failures).toHaveLength(1);
  expect(failures[0]?.kind).toMatch(/\S/);
  const created = logged.find((l) => l.msg === 'retention schedule created');
  expect(created?.attempts).toBeGreaterThan(1);
  await client.schedule.getHandle(`scimflow-retention:${settings.taskQueue}`).delete();
}, 180_000);

it('stops trying when the worker stops', async () => {
  const client = new Client({ connection, namespace: `never-${randomBytes(4).toString('hex')}` });
  const logger = memoryLogger();
  const stopping = new AbortController();
  // After the first failure it waits an hour (longer than this test may take) before trying again.
  const trying = keepEnsuringRetentionSchedule(
    client,
    { taskQueue: 'nowhere', interval: '1h' },
    { logger, signal: stopping.signal, initialDelayMs: 3_600_000 },
  );
  await eventually(async () => logger.lines.some((l) => l.includes('could not create the retention schedule')), {
    timeoutMs: 120_000,
    intervalMs: 50,
  });
  // Stopping ends the wait.
  stopping.abort();
  expect(await trying).toBeNull();
}, 180_000);
