import { log } from '@temporalio/activity';
import type { Knex } from 'knex';
import { recordStep } from '../db/repositories/sync-runs/steps';
import type { RunStep, StepReporter } from '../domain/reconcile';

/**
 * Reports a plan's or an apply's steps from its own connection (outside the run's transaction),
 * in order, without making the run wait: a report that fails is logged and forgotten, the run
 * goes on.
 */
export function stepReporter(db: Knex, runId: string, phase: RunStep['phase']): StepReporter & { settled(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  const report = ((step, progress) => {
    chain = chain
      .then(() => recordStep(db, runId, phase, step, progress ?? null))
      .catch((err: unknown) => log.debug('run step not recorded', { runId, step, error: String(err) }));
  }) as StepReporter & { settled(): Promise<void> };
  report.settled = () => chain;
  return report;
}
