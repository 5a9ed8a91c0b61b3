import { ScheduleNotFoundError } from '@temporalio/client';
import { controlSchedule, describeSchedules } from '../temporal/schedules';
import { scheduleId } from '../workflows/messages';
import type { ReconcileKind } from '../domain/reconcile';
import type { CliContext } from './context';
import { CliError } from './errors';
import { cliPrefix } from '../domain/cli-command';

/** `schedule pause|resume|trigger <orgId>`: the organization's reconcile schedules in Temporal. */

export type ScheduleAction = 'pause' | 'resume' | 'trigger';
export type ScheduleKindOption = ReconcileKind | 'all';

export async function scheduleCommand(
  ctx: CliContext,
  action: ScheduleAction,
  organizationId: string,
  opts: { kind?: ScheduleKindOption; note?: string; json?: boolean },
): Promise<number> {
  // Pausing or resuming means "this organization's schedules" unless one is named; a trigger
  // starts one run, a full one unless --kind delta.
  const chosen = opts.kind ?? (action === 'trigger' ? 'full' : 'all');
  if (action === 'trigger' && chosen === 'all') throw new CliError('trigger starts one run: choose --kind full or --kind delta', 2);
  const kinds: ReconcileKind[] = chosen === 'all' ? ['full', 'delta'] : [chosen];
  const temporal = await ctx.temporal();
  try {
    for (const kind of kinds) await controlSchedule(temporal.client, organizationId, kind, action, opts.note);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      throw new CliError(
        `${organizationId} has no ${kinds.join(' and ')} schedule (${kinds.map((k) => scheduleId(organizationId, k)).join(', ')}): ` +
          `register it with \`${cliPrefix()} orgs add ${organizationId}\``,
      );
    }
    throw ctx.temporalError(err);
  }
  const states = await describeSchedules(temporal.client, organizationId).catch(() => null);
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, action, kinds, schedules: states }));
    return 0;
  }
  const ids = kinds.map((k) => scheduleId(organizationId, k)).join(', ');
  if (action === 'trigger') {
    ctx.io.out(`triggered ${ids}: the organization workflow reconciles now (skipped if a run is already in progress)`);
    ctx.io.out(`follow it with \`${cliPrefix()} status ${organizationId}\``);
  } else {
    ctx.io.out(`${action === 'pause' ? 'paused' : 'resumed'} ${ids}${opts.note ? ` (note: ${opts.note})` : ''}`);
    for (const s of states ?? []) ctx.io.out(`  ${s.kind.padEnd(5)}  ${!s.exists ? 'none' : s.paused ? 'paused' : 'active'}`);
  }
  return 0;
}
