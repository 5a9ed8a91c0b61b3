import { finishRun } from '../db/repositories/sync-runs/runs';
import {
  countOrganizationRows,
  deleteOrganizationData,
  runsInProgress,
  type OrganizationRowCounts,
} from '../db/repositories/organization-data';
import { removeFromTemporal, temporalFootprint, type TemporalFootprint } from '../temporal/removal';
import type { CliContext } from './context';
import { CliError } from './errors';
import { ago, n } from './format';
import { cliPrefix } from '../domain/cli-command';

/**
 * `orgs remove <orgId>`: an organization's workflows, its reconcile schedules and, with --data,
 * its rows in the database. Shown first with --dry-run; done only with --yes; refused while a run
 * is in progress unless --force. Whatever is already gone is passed over, so running it again
 * says there is nothing left and exits 0.
 */

export interface RemoveOptions {
  dryRun?: boolean;
  data?: boolean;
  yes?: boolean;
  force?: boolean;
  json?: boolean;
}

interface Footprint extends TemporalFootprint {
  /** Rows per table (with --data), or null when the data is kept. */
  rows: OrganizationRowCounts | null;
  runs: { id: string; kind: string; status: string }[];
}

function footprintLines(organizationId: string, f: Footprint): string[] {
  const lines = [
    ...f.workflows.map((w) => `  workflow  ${w.workflowId}  ${w.type}, running since ${ago(w.startedAt)}`),
    ...f.schedules.map((id) => `  schedule  ${id}`),
    ...f.runs.map((r) => `  run       ${r.id} (${r.kind}) ${r.status}: in progress (--force stops it with the workflow)`),
  ];
  if (f.rows) {
    const tables = Object.entries(f.rows);
    lines.push(tables.length > 0 ? `  data      ${tables.map(([t, c]) => `${t} ${n(c)}`).join(', ')}` : '  data      none');
  } else lines.push(`  data      kept (add --data to delete the rows of ${organizationId} too)`);
  return lines;
}

function isEmpty(f: Footprint): boolean {
  return f.workflows.length === 0 && f.schedules.length === 0 && (f.rows === null || Object.keys(f.rows).length === 0);
}

export async function orgsRemove(ctx: CliContext, organizationId: string, opts: RemoveOptions): Promise<number> {
  const temporal = await ctx.temporal();
  let temporalPart: TemporalFootprint;
  try {
    temporalPart = await temporalFootprint(temporal.client, organizationId);
  } catch (err) {
    throw ctx.temporalError(err);
  }
  const [rows, runs] = await ctx.withDb(async (db) => [
    opts.data ? await countOrganizationRows(db, organizationId) : null,
    await runsInProgress(db, organizationId),
  ]);
  const f: Footprint = { ...temporalPart, rows, runs };
  const summary = { organizationId, workflows: f.workflows, schedules: f.schedules, rows: f.rows, runsInProgress: f.runs };

  if (isEmpty(f)) {
    if (opts.json) ctx.io.out(JSON.stringify({ ...summary, status: 'nothing_to_remove' }));
    else
      ctx.io.out(
        `nothing to remove for ${organizationId}: no workflow running, no schedules${opts.data ? ', no rows in the database' : ''} (already removed, or never registered)`,
      );
    return 0;
  }
  if (opts.dryRun) {
    if (opts.json) ctx.io.out(JSON.stringify({ ...summary, status: 'dry_run' }));
    else {
      ctx.io.out(`dry run: \`orgs remove\` would remove, of ${organizationId}:`);
      for (const line of footprintLines(organizationId, f)) ctx.io.out(line);
      ctx.io.out(`nothing changed; remove with \`${cliPrefix()} orgs remove ${organizationId}${opts.data ? ' --data' : ''} --yes\``);
    }
    return 0;
  }
  const again = `${cliPrefix()} orgs remove ${organizationId}${opts.data ? ' --data' : ''}`;
  const refuse = (reason: string): number => {
    if (opts.json) ctx.io.out(JSON.stringify({ ...summary, status: 'refused', error: reason }));
    else throw new CliError(`refused: ${reason}`);
    return 1;
  };
  if (f.runs.length > 0 && !opts.force) {
    const r = f.runs[0]!;
    return refuse(
      `run ${r.id} (${r.kind}, ${r.status}) is in progress for ${organizationId}: wait for it or cancel it ` +
        `(\`${cliPrefix()} cancel ${organizationId} ${r.id}\`), then remove; or stop it with the rest: \`${again} --yes --force\``,
    );
  }
  if (!opts.yes) {
    if (!opts.json) for (const line of footprintLines(organizationId, f)) ctx.io.err(line);
    return refuse(`removing cannot be undone; to remove the above, run \`${again} --yes\``);
  }

  let removed: Awaited<ReturnType<typeof removeFromTemporal>>;
  try {
    removed = await removeFromTemporal(temporal.client, f, `removed with \`${cliPrefix()} orgs remove\``);
  } catch (err) {
    throw ctx.temporalError(err);
  }
  const deleted = await ctx.withDb(async (db) => {
    if (opts.data) return deleteOrganizationData(db, organizationId);
    // Its workflow is gone: the runs it had open will not end by themselves.
    for (const r of f.runs) await finishRun(db, r.id, 'cancelled', { error: 'stopped: the organization was removed' });
    return null;
  });
  if (opts.json) {
    ctx.io.out(JSON.stringify({ ...summary, status: 'removed', ...removed, rowsDeleted: deleted }));
    return 0;
  }
  ctx.io.out(`removed ${organizationId}:`);
  for (const id of removed.workflowsTerminated) ctx.io.out(`  workflow  ${id} terminated`);
  for (const id of removed.schedulesDeleted) ctx.io.out(`  schedule  ${id} deleted`);
  if (deleted) {
    const total = Object.values(deleted).reduce((a, b) => a + b, 0);
    ctx.io.out(
      `  data      ${n(total)} rows deleted (${
        Object.entries(deleted)
          .map(([t, c]) => `${t} ${n(c)}`)
          .join(', ') || 'none'
      })`,
    );
  } else ctx.io.out(`  data      kept (\`${cliPrefix()} orgs remove ${organizationId} --data --yes\` deletes it)`);
  ctx.io.out(
    `a webhook or command for ${organizationId} starts its workflow again: turn its directory off in Scalekit first if it is leaving for good`,
  );
  return 0;
}
