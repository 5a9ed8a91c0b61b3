import { describe, expect, it } from 'vitest';
import { ProgressRenderer, stepPart } from '../../cli/progress';
import type { Output } from '../../cli/context';
import { APPLY_STEPS, PLAN_STEPS, stepPosition, type ReconcileProgress, type RunStep } from '../../domain/reconcile';

/** A plan or an apply shows the step it has reached, with its position and the phase's time. */

const apply: ReconcileProgress = {
  runId: '7',
  kind: 'full',
  dryRun: false,
  trigger: 'import',
  phase: 'apply',
  startedAt: '2026-01-01T00:00:00.000Z',
  snapshotAt: '2026-01-01T00:00:00.000Z',
  pages: 120,
  usersFetched: 30_000,
  groupsFetched: 100,
  usersTotal: 30_000,
  groupsTotal: 100,
  plan: null,
  cancelRequested: false,
};

const at = Date.parse('2026-01-01T00:01:00.000Z');
const step = (s: Partial<RunStep> & Pick<RunStep, 'phase' | 'step'>): RunStep => ({
  ...stepPosition(s.phase, s.step),
  done: null,
  total: null,
  phaseStartedAt: new Date(at - 4_200).toISOString(),
  updatedAt: new Date(at).toISOString(),
  ...s,
});

function recorder(): Output & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    out: () => undefined,
    err: (l = '') => void lines.push(l),
    errRaw: () => undefined,
    errIsTTY: false,
    errColumns: () => undefined,
  };
}

describe('steps of a plan and of an apply', () => {
  it('are numbered in their phase', () => {
    expect(stepPosition('plan', 'users in the directory')).toEqual({ index: 1, of: PLAN_STEPS.length });
    expect(stepPosition('apply', 'change records')).toEqual({ index: APPLY_STEPS.length, of: APPLY_STEPS.length });
  });

  it('show the step, its progress within, and the time the phase has taken', () => {
    expect(stepPart(step({ phase: 'apply', step: 'memberships' }), at)).toBe(' · step 6/10 memberships · 4.2s in this phase');
    expect(stepPart(step({ phase: 'apply', step: 'roles', done: 10_000, total: 30_000 }), at)).toBe(
      ' · step 9/10 roles 10,000 / 30,000 (33%) · 4.2s in this phase',
    );
    expect(stepPart(null, at)).toBe('');
  });

  it('print a line each in a log, even when the phase stays the same', () => {
    const io = recorder();
    const renderer = new ProgressRenderer(io, { tty: false, intervalMs: 60_000, now: () => at });
    renderer.update(apply, step({ phase: 'apply', step: 'groups' }));
    renderer.update(apply, step({ phase: 'apply', step: 'groups' }));
    renderer.update(apply, step({ phase: 'apply', step: 'memberships' }));
    expect(io.lines.map((l) => / · step (\d+\/\d+ \w+)/.exec(l)?.[1])).toEqual(['2/10 groups', '6/10 memberships']);
  });
});
