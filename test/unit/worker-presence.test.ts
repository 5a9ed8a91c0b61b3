import type { Client } from '@temporalio/client';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { describe, expect, it } from 'vitest';
import { workerLine } from '../../cli/status';
import { POLLER_STALE_AFTER_MS, workerPresence } from '../../temporal/workers';

/**
 * Whether a worker is alive, from the pollers Temporal lists for each task queue: Temporal keeps
 * listing a poller for minutes after its last poll, so one not seen lately counts as gone.
 */

const WORKFLOW = 1;

/** A client whose describeTaskQueue lists pollers last seen `agoMs` ago, per queue and task type. */
function fakeClient(pollers: (queue: string, type: 'workflow' | 'activity') => number[]) {
  const asked: string[] = [];
  const client = {
    options: { namespace: 'default' },
    workflowService: {
      describeTaskQueue: async (req: { taskQueue: { name: string }; taskQueueType: number }) => {
        const type = req.taskQueueType === WORKFLOW ? 'workflow' : 'activity';
        asked.push(`${req.taskQueue.name}/${type}`);
        return {
          pollers: pollers(req.taskQueue.name, type).map((agoMs) => ({ lastAccessTime: msNumberToTs(Date.now() - agoMs) })),
        };
      },
    },
  };
  return { client: client as unknown as Client, asked };
}

describe('workerPresence', () => {
  it('a worker polling the main queue for workflow and activity tasks is there, with when it was last seen', async () => {
    const { client, asked } = fakeClient(() => [5_000, 40_000]);
    const w = await workerPresence(client, 'scimflow');
    expect(asked.sort()).toEqual(['scimflow-reconcile/activity', 'scimflow-scalekit/activity', 'scimflow/activity', 'scimflow/workflow']);
    expect(w.polling).toBe(true);
    expect(Date.now() - Date.parse(w.lastSeenAt!)).toBeGreaterThanOrEqual(4_000);
    expect(Date.now() - Date.parse(w.lastSeenAt!)).toBeLessThan(POLLER_STALE_AFTER_MS);
    expect(workerLine(w, 'scimflow')).toMatch(/^worker {5}2 polling task queue "scimflow", last seen \d+\.\ds ago$/);
  });

  it('pollers Temporal still lists but not seen lately are gone: the line says so, with when one was last seen', async () => {
    const { client } = fakeClient(() => [POLLER_STALE_AFTER_MS + 60_000]);
    const w = await workerPresence(client, 'scimflow');
    expect(w.polling).toBe(false);
    expect(w.lastSeenAt).not.toBeNull();
    expect(workerLine(w, 'scimflow')).toMatch(
      /^WORKER {5}none polls task queue "scimflow" \(last seen 3m0\ds ago\): .*npm run start:worker/,
    );
  });

  it('a main queue polled for workflow tasks only is not enough; an unpolled side queue is named', async () => {
    const { client } = fakeClient((queue, type) => (queue === 'scimflow' && type === 'activity' ? [] : [1_000]));
    expect((await workerPresence(client, 'scimflow')).polling).toBe(false);
    const { client: sideless } = fakeClient((queue) => (queue === 'scimflow-reconcile' ? [] : [1_000]));
    const w = await workerPresence(sideless, 'scimflow');
    expect(w.polling).toBe(true);
    expect(workerLine(w, 'scimflow')).toContain('none polls scimflow-reconcile (activity)');
    expect(workerLine(null, 'scimflow')).toMatch(/^worker {5}unknown/);
  });
});
