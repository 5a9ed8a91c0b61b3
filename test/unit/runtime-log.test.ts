import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../observability/logger';
import { temporalLogTo } from '../../worker/runtime-log';

const activityMeta = {
  activityType: 'beginSyncRun',
  workflowId: 'scim-org:org_1',
  taskToken: 'secret-ish',
  attempt: 1,
  durationMs: 10,
};

describe("the worker's log of the Temporal runtime", () => {
  it('logs a refusal as one line with its reason, at info, without a stack', () => {
    const logger = memoryLogger();
    const refusal = ApplicationFailure.nonRetryable('Scalekit does not know organization org_1: check the id', 'OrganizationNotFound');
    expect(refusal.stack?.split('\n').length).toBeGreaterThan(3);
    temporalLogTo(logger)({ level: 'WARN', message: 'Activity failed', meta: { ...activityMeta, error: refusal } });
    expect(logger.lines).toHaveLength(1);
    const line = logger.lines[0] as string;
    expect(line).not.toContain('\n');
    expect(line).not.toMatch(/\s+at\s|\.ts:\d+/);
    expect(JSON.parse(line)).toMatchObject({
      level: 'info',
      msg: 'activity refused',
      activityType: 'beginSyncRun',
      workflowId: 'scim-org:org_1',
      reason: 'Scalekit does not know organization org_1: check the id',
      type: 'OrganizationNotFound',
    });
    expect(line).not.toContain('secret-ish');
  });

  it('still warns about a failure that is not a refusal (retried, or a permanent data error), by name and message only', () => {
    const logger = memoryLogger();
    const log = temporalLogTo(logger);
    log({
      level: 'WARN',
      message: 'Activity failed',
      meta: { ...activityMeta, error: ApplicationFailure.retryable('connection refused', 'DatabaseUnavailable') },
    });
    log({
      level: 'WARN',
      message: 'Activity failed',
      meta: { ...activityMeta, error: ApplicationFailure.nonRetryable('bad row', 'PermanentDataError') },
    });
    expect(logger.lines).toHaveLength(2);
    for (const line of logger.lines) {
      expect(line).not.toContain('\n');
      expect(JSON.parse(line)).toMatchObject({ level: 'warn', msg: 'Activity failed', error: { name: 'ApplicationFailure' } });
    }
  });
});
