import { beforeEach, describe, expect, it, vi } from 'vitest';
import type * as Workflow from '@temporalio/workflow';
import type { OrganizationActivities } from '../../workflows/activities';
import type { QuarantineRetryResult } from '../../domain/quarantine';
import type { RoleChangeRequest, RoleChangeResult } from '../../domain/roles';

// The entity's handlers call a few workflow APIs; outside a workflow they are stood in for here.
const workflowApi = vi.hoisted(() => ({ patched: true }));
vi.mock('@temporalio/workflow', async (importOriginal) => ({
  ...(await importOriginal<typeof Workflow>()),
  log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  patched: () => workflowApi.patched,
}));

const { OrganizationEntity } = await import('../../workflows/organization-entity');

/** Settles every pending promise callback. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Activities that wait until the test lets them finish, recording when each starts and ends. */
function gatedActivities() {
  const steps: string[] = [];
  const gates: (() => void)[] = [];
  const gated =
    <T>(name: string, answer: T) =>
    (_org: string, request: unknown) => {
      const label = `${name} ${JSON.stringify(request)}`;
      steps.push(`start ${label}`);
      return new Promise<T>((resolve) =>
        gates.push(() => {
          steps.push(`end ${label}`);
          resolve(answer);
        }),
      );
    };
  const roles: RoleChangeResult = {
    dryRun: false,
    reasonsChanged: 0,
    summary: 'default role member',
    changes: [],
  } as unknown as RoleChangeResult;
  const retried: QuarantineRetryResult = {
    tried: 1,
    applied: 1,
    stale: 0,
    ignored: 0,
    stillQuarantined: 0,
    notFound: 0,
    recovered: 0,
  } as QuarantineRetryResult;
  const activities = {
    changeRoleMappings: gated('changeRoleMappings', roles),
    retryQuarantinedEvents: gated('retryQuarantinedEvents', retried),
  } as unknown as OrganizationActivities;
  /** Lets the oldest activity still running finish. */
  const finishNext = async () => {
    gates.shift()?.();
    await settle();
  };
  return { activities, steps, finishNext };
}

const change = (role: string, dryRun = false): RoleChangeRequest => ({ change: { action: 'default', role }, dryRun });

describe('OrganizationEntity: changes take turns', () => {
  beforeEach(() => {
    workflowApi.patched = true;
  });

  it('a role change or a retry that arrives while another changes data waits for it, and a pause waits for both', async () => {
    const { activities, steps, finishNext } = gatedActivities();
    const entity = new OrganizationEntity({ organizationId: 'org_1' }, activities, true);
    const first = entity.changeRoles(change('admin'));
    const second = entity.retryQuarantined({ eventIds: null });
    const third = entity.changeRoles(change('member'));
    await settle();
    // The first started at once (no tick in between); the others wait, and count as changing.
    expect(steps).toEqual(['start changeRoleMappings {"change":{"action":"default","role":"admin"},"dryRun":false}']);
    expect(entity.state.changing).toBe(3);
    await finishNext();
    await finishNext();
    await finishNext();
    await Promise.all([first, second, third]);
    expect(steps).toEqual([
      'start changeRoleMappings {"change":{"action":"default","role":"admin"},"dryRun":false}',
      'end changeRoleMappings {"change":{"action":"default","role":"admin"},"dryRun":false}',
      'start retryQuarantinedEvents {"eventIds":null}',
      'end retryQuarantinedEvents {"eventIds":null}',
      'start changeRoleMappings {"change":{"action":"default","role":"member"},"dryRun":false}',
      'end changeRoleMappings {"change":{"action":"default","role":"member"},"dryRun":false}',
    ]);
    expect([entity.state.changing, entity.state.changes.held]).toEqual([0, false]);
  });

  it('a preview does not wait for a change in progress', async () => {
    const { activities, steps } = gatedActivities();
    const entity = new OrganizationEntity({ organizationId: 'org_1' }, activities, true);
    void entity.changeRoles(change('admin'));
    void entity.changeRoles(change('member', true));
    await settle();
    expect(steps).toHaveLength(2);
    expect(entity.state.changing).toBe(1);
  });

  it('in a run recorded before changes took turns, they run side by side as they did', async () => {
    workflowApi.patched = false;
    const { activities, steps, finishNext } = gatedActivities();
    const entity = new OrganizationEntity({ organizationId: 'org_1' }, activities, true);
    const runs = [entity.changeRoles(change('admin')), entity.retryQuarantined({ eventIds: ['evt_1'] })];
    // Both scheduled synchronously, when the update arrived.
    expect(steps).toEqual([
      'start changeRoleMappings {"change":{"action":"default","role":"admin"},"dryRun":false}',
      'start retryQuarantinedEvents {"eventIds":["evt_1"]}',
    ]);
    await finishNext();
    await finishNext();
    await Promise.all(runs);
    expect([entity.state.changing, entity.state.changes.held]).toEqual([0, false]);
  });

  it('a failed change lets the next one go, and is refused with its own message', async () => {
    const { activities, steps, finishNext } = gatedActivities();
    (activities as { changeRoleMappings: unknown }).changeRoleMappings = vi.fn(async () => {
      steps.push('failed');
      throw new Error('role "ghost" does not exist');
    });
    const entity = new OrganizationEntity({ organizationId: 'org_1' }, activities, true);
    const failed = entity.changeRoles(change('ghost'));
    const next = entity.retryQuarantined({ eventIds: null });
    await expect(failed).rejects.toMatchObject({ message: 'role "ghost" does not exist', type: 'Refused' });
    await settle();
    expect(steps).toEqual(['failed', 'start retryQuarantinedEvents {"eventIds":null}']);
    await finishNext();
    await next;
    expect(entity.state.counters.applied).toBe(1);
  });
});

describe('OrganizationEntity: validators', () => {
  it('refuse a second pause or resume while one is being recorded', () => {
    const entity = new OrganizationEntity({ organizationId: 'org_1' }, {} as OrganizationActivities, true);
    expect(() => entity.validatePauseSync({ note: null })).not.toThrow();
    const release = entity.state.transition.tryAcquire()!;
    expect(() => entity.validatePauseSync({ note: null })).toThrow('a pause or resume of org_1 is being recorded; try again in a moment');
    entity.state.paused = { since: '2026-01-01T00:00:00.000Z', note: null };
    expect(() => entity.validateResumeSync()).toThrow('a pause or resume of org_1 is being recorded; try again in a moment');
    release();
    expect(() => entity.validateResumeSync()).not.toThrow();
  });

  it('refuse changes while the sync is paused, except a preview', () => {
    const entity = new OrganizationEntity({ organizationId: 'org_1' }, {} as OrganizationActivities, true);
    entity.state.paused = { since: '2026-01-01T00:00:00.000Z', note: 'migration' };
    expect(() => entity.validateChangeRoles(change('admin'))).toThrow(
      /paused since 2026-01-01T00:00:00.000Z \(migration\): changing roles waits until it is resumed/,
    );
    expect(() => entity.validateChangeRoles(change('admin', true))).not.toThrow();
    expect(() => entity.validateRetryQuarantined({ eventIds: null })).toThrow(/retrying quarantined events waits until it is resumed/);
    expect(() => entity.validateRetryQuarantined({ eventIds: [] })).toThrow(
      'expected between 1 and 500 event ids, or none for every quarantined event',
    );
  });
});
