import { describe, expect, it } from 'vitest';
import type { DirectoryEvent } from '../../domain/events';
import type { PlanSummary, ReconcileCursor } from '../../domain/reconcile';
import { OrganizationState } from '../../workflows/organization-state';
import { organizationDetails, scimState } from '../../workflows/organization-view';

const T0 = new Date('2026-01-01T00:00:00.000Z');

function fresh(): OrganizationState {
  return new OrganizationState({ organizationId: 'org_1' }, T0);
}

function ev(id: string): DirectoryEvent {
  return {
    id,
    organizationId: 'org_1',
    environmentId: null,
    occurredAt: '2026-01-01T00:00:00.000000001Z',
    occurredAtNs: '1767225600000000001',
    webhookId: null,
    receivedAt: '2026-01-01T00:00:01.000Z',
    kind: 'user',
    type: 'organization.directory.user_created',
    user: { id: 'diruser_1', attributes: { email: 'ada.lovelace@example.com', given_name: 'Ada', family_name: 'Lovelace' } },
  } as DirectoryEvent;
}

function cursor(fields: Partial<ReconcileCursor> = {}): ReconcileCursor {
  return {
    runId: '12',
    kind: 'full',
    dryRun: false,
    trigger: 'import',
    phase: 'users',
    startedAt: T0.toISOString(),
    snapshotAt: T0.toISOString(),
    pages: 4,
    usersFetched: 120,
    groupsFetched: 0,
    usersTotal: 300,
    groupsTotal: null,
    plan: null,
    cancelRequested: false,
    directoryId: 'dir_2',
    pageToken: 'token',
    updatedAfter: null,
    ...fields,
  };
}

const guarded = { users: { deactivate: 40 }, activeUsersBefore: 100, needsApproval: true } as PlanSummary;

describe('the state the workflow list filters on', () => {
  it('is idle with nothing to do, applying with events queued', () => {
    const s = fresh();
    expect(scimState(s)).toBe('idle');
    s.enqueue(ev('evt_1'));
    expect(scimState(s)).toBe('applying');
    s.takeBatch();
    s.applying = true;
    expect(scimState(s)).toBe('applying');
  });

  it('puts what needs a person first: paused, then a run waiting for approval, before reconciling and applying', () => {
    const s = fresh();
    s.enqueue(ev('evt_1'));
    s.reconcile = cursor();
    expect(scimState(s)).toBe('reconciling');
    s.reconcile = cursor({ phase: 'awaiting_approval', plan: guarded });
    expect(scimState(s)).toBe('awaiting_approval');
    s.paused = { since: T0.toISOString(), note: null };
    expect(scimState(s)).toBe('paused');
  });
});

describe('the current details', () => {
  it('say idle, then the queue and the last batch applied', () => {
    const s = fresh();
    expect(organizationDetails(s)).toBe('**Idle**');
    s.enqueue(ev('evt_1'));
    s.enqueue(ev('evt_2'));
    s.recordBatch({ applied: 5, duplicate: 0, stale: 0, quarantined: 0, lastAppliedOccurredAt: null }, T0);
    expect(organizationDetails(s)).toBe(
      '**Applying events**\n\nQueue: 2 events\n\nLast applied: batch 1 at 2026-01-01T00:00:00.000Z (5 events applied in all)',
    );
  });

  it("show the run's phase with its progress, the directory it reads among several, and a cancel asked for", () => {
    const s = fresh();
    s.reconcile = cursor({ directoryIds: ['dir_1', 'dir_2', 'dir_3'], directoryIndex: 1, cancelRequested: true });
    expect(organizationDetails(s)).toBe(
      '**Reconciling**\n\nRun 12 (full, import): reading users (directory 2 of 3, 4 pages read, 120 of 300 users); cancel requested',
    );
    s.reconcile = cursor({ phase: 'plan', dryRun: true, trigger: 'cli', groupsFetched: 7 });
    expect(organizationDetails(s)).toContain('Run 12 (full, dry run, cli): planning (120 users and 7 groups read)');
  });

  it('say what a run waiting for approval would do and how to approve or cancel it', () => {
    const s = fresh();
    s.reconcile = cursor({ phase: 'awaiting_approval', plan: guarded });
    expect(organizationDetails(s)).toBe(
      '**Awaiting approval**\n\nRun 12 (full, import): waiting for approval: it would deactivate 40 of 100 active users; ' +
        '`npm run cli -- approve org_1 12` or `npm run cli -- cancel org_1 12`',
    );
  });

  it('say since when the sync is paused, with its note, and how the last run ended', () => {
    const s = fresh();
    s.paused = { since: T0.toISOString(), note: 'IdP migration' };
    s.endReconcile({
      runId: '11',
      kind: 'delta',
      dryRun: false,
      status: 'failed',
      finishedAt: T0.toISOString(),
      plan: null,
      result: null,
      error: 'Scalekit answered 500 for ada.lovelace@example.com',
    });
    expect(organizationDetails(s)).toBe(
      '**Paused** since 2026-01-01T00:00:00.000Z: IdP migration\n\n' +
        'Events are kept in arrival order until `npm run cli -- resume org_1`\n\n' +
        'Last run 11 (delta): failed at 2026-01-01T00:00:00.000Z',
    );
  });

  it('never carry what the events say of people', () => {
    const s = fresh();
    s.enqueue(ev('evt_1'));
    expect(organizationDetails(s)).not.toMatch(/ada|lovelace|@/i);
  });
});
