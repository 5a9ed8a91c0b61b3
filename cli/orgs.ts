import { NoDirectoryError, OrganizationNotFoundError } from '../scalekit/directory';
import type { DirectoryInfo } from '../domain/directories';
import * as registration from '../temporal/registration';
import { describeSchedules, type ScheduleState } from '../temporal/schedules';
import { organizationWorkflowId } from '../workflows/messages';
import type { CliContext } from './context';
import { CliError, RefusedError } from './errors';
import { ago, n, table } from './format';
import { listOrganizations } from '../db/repositories/organizations';
import { cliPrefix } from '../domain/cli-command';

/** `orgs add` and `orgs list`, and the registration `import` does first. */

export interface Registration {
  organizationId: string;
  displayName: string | null;
  /** Its primary directory (Scalekit's first), or null when it has none yet. */
  directory: DirectoryInfo | null;
  /** Every directory Scalekit lists for it. */
  directories: DirectoryInfo[];
  row: 'created' | 'updated';
  schedulesCreated: string[];
  workflowId: string;
}

export function missingScalekitCredentials(what: string): CliError {
  return new CliError(
    `${what} looks the organization up in Scalekit and needs Scalekit credentials: set SCALEKIT_ENVIRONMENT_URL, ` +
      `SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET in .env or the environment. ` +
      `Beside a running \`npm run dev\` (started from this folder) the CLI finds its local Scalekit emulator by itself.`,
  );
}

/**
 * Looks the organization and its directories up through the SDK, upserts its rows, creates its
 * reconcile schedules (temporal/registration.ts) and starts its workflow. Every step is idempotent.
 */
export async function registerOrganization(
  ctx: CliContext,
  organizationId: string,
  options: { requireDirectory: boolean; what: string },
): Promise<Registration> {
  const scalekit = ctx.scalekit();
  if (!scalekit) throw missingScalekitCredentials(options.what);
  const config = ctx.config();
  const access: registration.RegistrationAccess = {
    scalekit: async (step) => {
      try {
        return await step(scalekit);
      } catch (err) {
        if (err instanceof OrganizationNotFoundError || err instanceof NoDirectoryError) throw new RefusedError(err.message);
        throw new CliError(
          `could not ask Scalekit (${config.scalekit?.environmentUrl ?? '?'}) about ${organizationId}: ${(err as Error).message}. ` +
            `Check SCALEKIT_ENVIRONMENT_URL and the client credentials.`,
        );
      }
    },
    database: (step) => ctx.withDb(step),
    temporal: async (step) => {
      const temporal = await ctx.temporal();
      try {
        return await step(temporal.client, {
          taskQueue: temporal.taskQueue,
          fullInterval: config.reconcile.fullInterval,
          deltaInterval: config.reconcile.deltaInterval,
        });
      } catch (err) {
        throw ctx.temporalError(err);
      }
    },
  };
  const r = await registration.registerOrganization(access, organizationId, {
    listDirectories: true,
    requireDirectory: options.requireDirectory,
  });
  const temporal = await ctx.temporal();
  try {
    await temporal.workflows.ensureRunning(organizationId);
  } catch (err) {
    throw ctx.temporalError(err);
  }
  const { displayName, directories, row, schedulesCreated } = r;
  return {
    organizationId,
    displayName,
    directory: directories[0] ?? null,
    directories,
    row,
    schedulesCreated,
    workflowId: organizationWorkflowId(organizationId),
  };
}

export function describeDirectory(d: DirectoryInfo | null): string {
  if (!d) return 'none yet (its IT admin sets one up in the admin portal)';
  const details = [d.directoryType, d.provider, d.enabled ? 'enabled' : 'disabled'].filter((x): x is string => Boolean(x));
  return `${d.id} (${details.join(', ')})`;
}

export function registrationLines(r: Registration, intervals: { full: string; delta: string }): string[] {
  const lines = [
    `registered ${r.organizationId}${r.displayName ? ` "${r.displayName}"` : ''}`,
    ...(r.directories.length > 0
      ? r.directories.map((d) => `  directory   ${describeDirectory(d)}`)
      : [`  directory   ${describeDirectory(null)}`]),
    `  database    organizations row ${r.row}`,
    r.schedulesCreated.length > 0
      ? `  schedules   created ${r.schedulesCreated.join(', ')} (full every ${intervals.full}, delta every ${intervals.delta})`
      : `  schedules   already there (full and delta)`,
    `  workflow    ${r.workflowId} running`,
  ];
  if (!r.directory) {
    lines.push(
      `note: no directory yet, so scheduled runs will be refused until its IT admin connects one; then run \`${cliPrefix()} import ${r.organizationId}\``,
    );
  }
  return lines;
}

export async function orgsAdd(ctx: CliContext, organizationId: string, opts: { json?: boolean }): Promise<number> {
  const r = await registerOrganization(ctx, organizationId, { requireDirectory: false, what: 'orgs add' });
  if (opts.json) {
    ctx.io.out(JSON.stringify(r));
    return 0;
  }
  const c = ctx.config();
  for (const line of registrationLines(r, { full: c.reconcile.fullInterval, delta: c.reconcile.deltaInterval })) ctx.io.out(line);
  if (r.directory) ctx.io.out(`next: import its directory with \`${cliPrefix()} import ${organizationId}\``);
  return 0;
}

function scheduleSummary(states: ScheduleState[] | null): string {
  if (!states) return '?';
  const existing = states.filter((s) => s.exists);
  if (existing.length === 0) return 'none';
  const paused = existing.filter((s) => s.paused).map((s) => s.kind);
  if (paused.length === existing.length) return 'paused';
  if (paused.length > 0) return `${paused.join('+')} paused`;
  return existing.length === states.length ? 'active' : `${existing.map((s) => s.kind).join('+')} only`;
}

export async function orgsList(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const orgs = await ctx.withDb((db) => listOrganizations(db));
  // Schedules live in Temporal; without it the list still shows what the database knows.
  let schedules: (ScheduleState[] | null)[] = orgs.map(() => null);
  let temporalNote: string | null = null;
  try {
    const temporal = await ctx.temporal();
    schedules = await Promise.all(orgs.map((o) => describeSchedules(temporal.client, o.id)));
  } catch (err) {
    temporalNote = `schedules unknown: ${(ctx.temporalError(err) as Error).message}`;
  }
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizations: orgs.map((o, i) => ({ ...o, schedules: schedules[i] })) }));
    return 0;
  }
  if (orgs.length === 0) {
    ctx.io.out(`no organizations yet: register one with \`${cliPrefix()} orgs add <orgId>\` (or \`${cliPrefix()} import <orgId>\`)`);
    return 0;
  }
  const rows = orgs.map((o, i) => [
    o.id,
    o.displayName ?? '-',
    o.directories.length > 0
      ? o.directories.map((d) => `${d.id}${d.provider ? ` ${d.provider}` : ''}${d.enabled === false ? ' (disabled)' : ''}`).join(', ')
      : 'none',
    `${n(o.activeUsers)}/${n(o.totalUsers)}`,
    o.lastRun ? `#${o.lastRun.id} ${o.lastRun.kind} ${o.lastRun.status} ${ago(o.lastRun.finishedAt ?? o.lastRun.createdAt)}` : '-',
    o.syncPaused ? 'PAUSED' : 'live',
    scheduleSummary(schedules[i] ?? null),
  ]);
  for (const line of table(['ORGANIZATION', 'NAME', 'DIRECTORIES', 'USERS (ACTIVE/TOTAL)', 'LAST RUN', 'SYNC', 'SCHEDULES'], rows))
    ctx.io.out(line);
  if (temporalNote) ctx.io.err(temporalNote);
  return 0;
}
