import { describe, expect, it } from 'vitest';
import { describeProgress } from '../../cli/progress';
import { directoryPlanLines } from '../../cli/report';
import type { DirectoryPlan, PlanSummary } from '../../domain/reconcile';
import { describeEmailConflict } from '../../domain/conflicts';
import { absenceScope, absenceVerdict, directoriesToRead, whyNotRead } from '../../domain/directories';

// The rules of reconciling an organization with several directories, and how a conflict between
// two of them is put into words.

describe('which directories a run reads', () => {
  it("reads the enabled ones in Scalekit's order and leaves the disabled ones alone", () => {
    const listed = [
      { id: 'dir_old', enabled: false },
      { id: 'dir_new', enabled: true },
      { id: 'dir_division', enabled: true },
    ];
    expect(directoriesToRead(listed)).toEqual({
      read: [listed[1], listed[2]],
      skipped: [listed[0]],
    });
  });

  it('leaves alone a listed directory whose details could not be read, and says why', () => {
    const listed = [
      { id: 'dir_a', enabled: true, unreadable: null },
      { id: 'dir_b', enabled: true, unreadable: 'details not found' },
    ];
    expect(directoriesToRead(listed)).toEqual({ read: [listed[0]], skipped: [listed[1]] });
    expect(listed.map(whyNotRead)).toEqual([null, 'details not found']);
    expect(whyNotRead({ id: 'dir_off', enabled: false, unreadable: 'details not found' })).toBe('disabled');
  });
});

describe("what absence from a full run's snapshot means", () => {
  const run = [
    { directoryId: 'dir_a', read: true },
    { directoryId: 'dir_b', read: true },
    { directoryId: 'dir_off', read: false },
  ];
  const known = [...run.map((d) => ({ directoryId: d.directoryId, removed: false })), { directoryId: 'dir_deleted', removed: true }];

  it('deactivates a user whose own directory was read and no longer lists it', () => {
    expect(absenceVerdict('dir_b', run, known)).toEqual({ judged: true, reason: 'no longer listed by its directory dir_b' });
  });

  it("never lets another directory's snapshot deactivate a user: its own was not read (disabled), so it stays", () => {
    // dir_a and dir_b were read and neither lists the user: that says nothing about dir_off's people.
    expect(absenceVerdict('dir_off', run, known)).toEqual({ judged: false, reason: 'its directory dir_off is disabled: left as it is' });
  });

  it('keeps the users of a listed directory whose details could not be read', () => {
    const unreadable = [...run.slice(0, 2), { directoryId: 'dir_c', read: false, unreadReason: 'details not found' }];
    const recorded = unreadable.map((d) => ({ directoryId: d.directoryId, removed: false }));
    expect(absenceVerdict('dir_c', unreadable, recorded)).toEqual({
      judged: false,
      reason: 'its directory dir_c was not read (details not found): left as it is',
    });
    expect(absenceVerdict(null, unreadable, recorded)).toEqual({
      judged: false,
      reason: 'its directory is not known and not every directory was read (dir_c: details not found): left as it is',
    });
  });

  it('deactivates the users of a directory Scalekit no longer has only when an earlier full run found it missing too', () => {
    expect(absenceVerdict('dir_deleted', run, known)).toEqual({
      judged: true,
      reason: 'its directory dir_deleted is no longer in Scalekit (two full runs in a row did not list it)',
    });
    // Missing for the first time (one listing that left it out): kept, for the next full run to confirm.
    const once = known.map((d) => ({ ...d, removed: false }));
    expect(absenceVerdict('dir_deleted', run, once)).toEqual({
      judged: false,
      reason:
        'its directory dir_deleted is not listed by Scalekit: left as it is until the next full run, which deactivates its users if it does not list it either',
    });
    // A directory scimflow never recorded (named by a group event only) waits the same way.
    expect(absenceVerdict('dir_unrecorded', run, known).judged).toBe(false);
  });

  it('judges a user of unknown directory by the whole organization, and only when every directory was read', () => {
    expect(absenceVerdict(null, run, known)).toEqual({
      judged: false,
      reason: 'its directory is not known and not every directory was read (dir_off: disabled): left as it is',
    });
    const allRead = run.slice(0, 2);
    expect(
      absenceVerdict(
        null,
        allRead,
        known.filter((d) => d.directoryId !== 'dir_off'),
      ).judged,
    ).toBe(true);
    // A known directory missing from this listing for the first time may be the user's own.
    expect(absenceVerdict(null, allRead, [...known, { directoryId: 'dir_x', removed: false }])).toEqual({
      judged: false,
      reason:
        'its directory is not known and not every directory was read (dir_off: not listed by Scalekit this time; dir_x: not listed by Scalekit this time): left as it is',
    });
  });

  it('gives the plan the judged directories with their reasons, once each', () => {
    expect(absenceScope(['dir_a', 'dir_off', null, 'dir_deleted', 'dir_a', 'dir_once'], run, known)).toEqual({
      judgedIds: ['dir_a', 'dir_deleted'],
      judgedReasons: [
        'no longer listed by its directory dir_a',
        'its directory dir_deleted is no longer in Scalekit (two full runs in a row did not list it)',
      ],
      unknown: absenceVerdict(null, run, known),
      kept: [
        { directoryId: 'dir_off', reason: 'its directory dir_off is disabled: left as it is' },
        { directoryId: 'dir_once', reason: absenceVerdict('dir_once', run, known).reason },
      ],
    });
  });
});

describe('an e-mail conflict in words', () => {
  it('between two directories: both users, both directories, and what to do', () => {
    expect(describeEmailConflict({ id: 'diruser_new', directoryId: 'dir_entra' }, { id: 'diruser_old', directoryId: 'dir_okta' })).toBe(
      'e-mail conflict between directories: user diruser_new (directory dir_entra) has the e-mail of active user diruser_old (directory dir_okta); ' +
        'the same person provisioned by two directories? deprovision them in one of them',
    );
  });

  it('within one directory (an e-mail changing hands), or with a directory not known yet: no migration advice', () => {
    expect(describeEmailConflict({ id: 'diruser_2', directoryId: 'dir_a' }, { id: 'diruser_1', directoryId: 'dir_a' })).toBe(
      'e-mail conflict: user diruser_2 (directory dir_a) has the e-mail of active user diruser_1 (directory dir_a)',
    );
    expect(describeEmailConflict({ id: 'diruser_2', directoryId: null }, { id: 'diruser_1', directoryId: 'dir_a' })).toBe(
      'e-mail conflict: user diruser_2 (directory not known yet) has the e-mail of active user diruser_1 (directory dir_a)',
    );
  });
});

describe('what an operator sees of a run over several directories', () => {
  const progress = {
    runId: '9',
    kind: 'full' as const,
    dryRun: false,
    trigger: 'cli',
    phase: 'users' as const,
    startedAt: '2026-01-01T00:00:00.000Z',
    snapshotAt: '2026-01-01T00:00:00.000Z',
    pages: 4,
    usersFetched: 120,
    groupsFetched: 6,
    usersTotal: 150,
    groupsTotal: 6,
    plan: null,
    cancelRequested: false,
  };

  it('the progress line names the directory being read when there are several, and nothing more for one', () => {
    expect(describeProgress({ ...progress, directoryIds: ['dir_a', 'dir_b'], directoryIndex: 1 }, null, 1_000)).toMatch(
      / · directory 2\/2 dir_b$/,
    );
    expect(describeProgress({ ...progress, directoryIds: ['dir_a'], directoryIndex: 0 }, null, 1_000)).not.toContain('directory');
    // A run started before directories were recorded.
    expect(describeProgress(progress, null, 1_000)).not.toContain('directory');
  });

  it('the progress line names the listed directories the run does not read, and why', () => {
    const notRead = [
      { id: 'dir_c', reason: 'disabled' },
      { id: 'dir_d', reason: 'details not found' },
    ];
    expect(describeProgress({ ...progress, directoryIds: ['dir_a'], directoryIndex: 0, directoriesNotRead: notRead }, null, 1_000)).toMatch(
      / · not read: dir_c \(disabled\), dir_d \(details not found\)$/,
    );
  });

  it('the plan says per directory what happens: read, left alone, gone', () => {
    const plan = (directories: DirectoryPlan[]): PlanSummary => ({
      users: { create: 0, update: 0, deactivate: 4, reactivate: 0, unchanged: 0, skippedNewer: 0 },
      groups: { create: 0, update: 0, delete: 0, restore: 0, unchanged: 0, skippedNewer: 0 },
      activeUsersBefore: 11,
      drift: 4,
      needsApproval: false,
      guard: { share: 0.2, minimum: 10 },
      directories,
    });
    const read: DirectoryPlan = {
      id: 'dir_a',
      provider: 'OKTA',
      enabled: true,
      read: true,
      removed: false,
      usersFetched: 4,
      activeUsers: 4,
      deactivate: 0,
    };
    expect(directoryPlanLines(plan([read]))).toEqual([]);
    expect(
      directoryPlanLines(
        plan([
          read,
          { id: 'dir_c', provider: 'GOOGLE', enabled: false, read: false, removed: false, usersFetched: 0, activeUsers: 3, deactivate: 0 },
          { id: 'dir_b', provider: null, enabled: null, read: false, removed: true, usersFetched: 0, activeUsers: 4, deactivate: 4 },
          {
            id: 'dir_d',
            provider: 'OKTA',
            enabled: true,
            read: false,
            removed: false,
            usersFetched: 0,
            activeUsers: 2,
            deactivate: 0,
            notRead: 'details not found',
          },
          {
            id: 'dir_e',
            provider: null,
            enabled: null,
            read: false,
            removed: true,
            missingOnce: true,
            usersFetched: 0,
            activeUsers: 5,
            deactivate: 0,
          },
        ]),
      ),
    ).toEqual([
      '  directory dir_a (OKTA): read, 4 users fetched: deactivate 0 of 4 active users',
      '  directory dir_c (GOOGLE): disabled, not read: its 3 active users are left as they are',
      '  directory dir_b: no longer in Scalekit: deactivate 4 of 4 active users',
      '  directory dir_d (OKTA): listed but not read (details not found): its 2 active users are left as they are',
      '  directory dir_e: not listed by Scalekit this time: its 5 active users are left as they are; the next full run deactivates them if it does not list it either',
    ]);
  });
});
