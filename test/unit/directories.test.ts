import { describe, expect, it } from 'vitest';
import { describeProgress } from '../../cli/progress';
import { directoryPlanLines } from '../../cli/report';
import type { DirectoryPlan, PlanSummary } from '../../workflows/messages';
import { describeEmailConflict } from '../../domain/conflicts';
import { absenceScope, absenceVerdict, directoriesToRead } from '../../domain/directories';

// The rules of reconciling an organization with several directories, and how a conflict between
// two of them is put into words.

describe('which directories a run reads', () => {
  it('reads the enabled ones in Scalekit\'s order and leaves the disabled ones alone', () => {
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
});

describe('what absence from a full run\'s snapshot means', () => {
  const run = [
    { directoryId: 'dir_a', read: true },
    { directoryId: 'dir_b', read: true },
    { directoryId: 'dir_off', read: false },
  ];

  it('deactivates a user whose own directory was read and no longer lists it', () => {
    expect(absenceVerdict('dir_b', run)).toEqual({ judged: true, reason: 'no longer listed by its directory dir_b' });
  });

  it('never lets another directory\'s snapshot deactivate a user: its own was not read (disabled), so it stays', () => {
    // dir_a and dir_b were read and neither lists the user: that says nothing about dir_off's people.
    expect(absenceVerdict('dir_off', run)).toEqual({ judged: false, reason: 'its directory dir_off is disabled: left as it is' });
  });

  it('deactivates the users of a directory Scalekit no longer has (deleted at the end of a migration)', () => {
    expect(absenceVerdict('dir_deleted', run)).toEqual({ judged: true, reason: 'its directory dir_deleted is no longer in Scalekit' });
  });

  it('judges a user of unknown directory by the whole organization, and only when every directory was read', () => {
    expect(absenceVerdict(null, run)).toEqual({
      judged: false,
      reason: 'its directory is not known and dir_off was not read (disabled): left as it is',
    });
    expect(absenceVerdict(null, run.slice(0, 2)).judged).toBe(true);
  });

  it('gives the plan the judged directories with their reasons, once each', () => {
    expect(absenceScope(['dir_a', 'dir_off', null, 'dir_gone', 'dir_a'], run)).toEqual({
      judgedIds: ['dir_a', 'dir_gone'],
      judgedReasons: ['no longer listed by its directory dir_a', 'its directory dir_gone is no longer in Scalekit'],
      unknown: absenceVerdict(null, run),
      kept: [{ directoryId: 'dir_off', reason: 'its directory dir_off is disabled: left as it is' }],
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
    expect(describeProgress({ ...progress, directoryIds: ['dir_a', 'dir_b'], directoryIndex: 1 }, null, 1_000)).toMatch(/ · directory 2\/2 dir_b$/);
    expect(describeProgress({ ...progress, directoryIds: ['dir_a'], directoryIndex: 0 }, null, 1_000)).not.toContain('directory');
    // A run started before directories were recorded.
    expect(describeProgress(progress, null, 1_000)).not.toContain('directory');
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
    const read: DirectoryPlan = { id: 'dir_a', provider: 'OKTA', enabled: true, read: true, removed: false, usersFetched: 4, activeUsers: 4, deactivate: 0 };
    expect(directoryPlanLines(plan([read]))).toEqual([]);
    expect(
      directoryPlanLines(
        plan([
          read,
          { id: 'dir_c', provider: 'GOOGLE', enabled: false, read: false, removed: false, usersFetched: 0, activeUsers: 3, deactivate: 0 },
          { id: 'dir_b', provider: null, enabled: null, read: false, removed: true, usersFetched: 0, activeUsers: 4, deactivate: 4 },
        ]),
      ),
    ).toEqual([
      '  directory dir_a (OKTA): read, 4 users fetched: deactivate 0 of 4 active users',
      '  directory dir_c (GOOGLE): disabled, not read: its 3 active users are left as they are',
      '  directory dir_b: no longer in Scalekit: deactivate 4 of 4 active users',
    ]);
  });
});
