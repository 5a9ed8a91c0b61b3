import type { Knex } from 'knex';
import { stepPosition, type ReconcilePhase, type RunStep, type RunStepName } from '../../../domain/reconcile';

/** Where a run's plan or apply is (table sync_run_steps). */

type Db = Knex | Knex.Transaction;

export async function recordStep(
  db: Db,
  runId: string,
  phase: RunStep['phase'],
  step: RunStepName,
  progress: { done: number; total: number } | null,
): Promise<void> {
  await db.raw(
    `INSERT INTO sync_run_steps AS s (run_id, phase, step, done, total) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (run_id) DO UPDATE
        SET phase = excluded.phase, step = excluded.step, done = excluded.done, total = excluded.total,
            phase_started_at = CASE WHEN s.phase = excluded.phase THEN s.phase_started_at ELSE excluded.phase_started_at END,
            updated_at = excluded.updated_at`,
    [runId, phase, step, progress?.done ?? null, progress?.total ?? null],
  );
}

export async function getStep(db: Db, runId: string): Promise<RunStep | null> {
  const row = (await db('sync_run_steps').where('run_id', runId).first()) as
    | { phase: RunStep['phase']; step: RunStepName; done: string | null; total: string | null; phase_started_at: Date; updated_at: Date }
    | undefined;
  if (!row) return null;
  return {
    phase: row.phase,
    step: row.step,
    ...stepPosition(row.phase, row.step),
    done: row.done === null ? null : Number(row.done),
    total: row.total === null ? null : Number(row.total),
    phaseStartedAt: row.phase_started_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * The step of a run in its plan or apply phase, as the run's progress names the phase; null in
 * other phases (nothing is read) or when the step recorded is another phase's.
 */
export async function stepOfPhase(db: Db, run: { runId: string; phase: ReconcilePhase }): Promise<RunStep | null> {
  if (run.phase !== 'plan' && run.phase !== 'apply') return null;
  const step = await getStep(db, run.runId);
  return step?.phase === run.phase ? step : null;
}
