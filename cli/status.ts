import { countEmailConflicts } from '../db/repositories/conflicts';
import { getEmailPolicy } from '../db/repositories/email-policy';
import { listOrganizationDirectories, usersWithoutDirectory, type OrganizationDirectory } from '../db/repositories/directories';
import { countDeferred, countOutcome } from '../db/repositories/ledger';
import { WorkflowNotFoundError } from '@temporalio/client';
import { describeSchedules, type ScheduleState } from '../temporal/schedules';
import { workerPresence, type WorkerPresence } from '../temporal/workers';
import { organizationWorkflowId, type OrganizationSyncStatus } from '../workflows/messages';
import type { CliContext } from './context';
import { CliError } from './errors';
import { ago, n, time } from './format';
import { describeProgress } from './progress';
import { cliPrefix } from '../domain/cli-command';
import { stepOfPhase } from '../db/repositories/sync-runs/steps';

/** `status <orgId>`: the organization workflow's own account (status query) and its schedules. */

function lastRunLine(s: OrganizationSyncStatus): string {
  const l = s.lastReconcile;
  if (!l) return 'none yet';
  const head = `run ${l.runId || '(not started)'} ${l.kind}${l.dryRun ? ' dry run' : ''} ${l.status} ${ago(l.finishedAt)}`;
  if (l.status === 'failed') return `${head}: ${l.error ?? 'unknown error'}`;
  if (l.result) {
    const u = l.result.users;
    return `${head}: users created ${n(u.created)}, updated ${n(u.updated)}, deactivated ${n(u.deactivated)}, reactivated ${n(u.reactivated)}, unchanged ${n(u.unchanged)}; drift ${n(l.result.drift)}`;
  }
  if (l.plan) return `${head}: plan of ${n(l.plan.drift)} changes (\`${cliPrefix()} plan ${s.organizationId} ${l.runId}\`)`;
  return head;
}

function directoryLine(d: OrganizationDirectory): string {
  const state = d.removedAt
    ? `no longer in Scalekit since ${time(d.removedAt)}`
    : d.enabled === null
      ? 'state not known'
      : d.enabled
        ? 'enabled'
        : 'disabled';
  const details = [d.directoryType, d.provider, state].filter((x): x is string => Boolean(x)).join(', ');
  return `  ${d.id}  ${details} · ${n(d.activeUsers)} active users of ${n(d.users)} · ${n(d.groups)} groups`;
}

/** The organization's directories and its e-mail conflicts between them, as the database has them. */
async function directoryState(
  ctx: CliContext,
  organizationId: string,
): Promise<{
  directories: OrganizationDirectory[];
  usersWithoutDirectory: { activeUsers: number; users: number };
  emailConflicts: number;
  /** The allowed e-mail domains (empty: all) and the active users they hold out of the application. */
  emailPolicy: { allowedDomains: string[]; heldUsers: number } | null;
  /** Events quarantined in the ledger now: the webhook's own (bodies it could not read) and the workflow's, less those retried. */
  quarantinedEvents: number;
} | null> {
  try {
    return await ctx.withDb(async (db) => ({
      directories: await listOrganizationDirectories(db, organizationId),
      usersWithoutDirectory: await usersWithoutDirectory(db, organizationId),
      emailConflicts: await countEmailConflicts(db, organizationId),
      quarantinedEvents: await countOutcome(db, organizationId, 'quarantined'),
      emailPolicy: await getEmailPolicy(db, organizationId).then((p) => p && { allowedDomains: p.allowedDomains, heldUsers: p.heldUsers }),
    }));
  } catch {
    return null; // the workflow's account still shows
  }
}

function scheduleLine(sc: ScheduleState): string {
  if (!sc.exists) return `  ${sc.kind.padEnd(5)}  none (create with \`${cliPrefix()} orgs add <orgId>\`)`;
  const state = sc.paused ? `paused${sc.note ? ` (${sc.note})` : ''}` : 'active';
  return `  ${sc.kind.padEnd(5)}  ${state} · next ${sc.paused ? '-' : time(sc.nextActionAt)} · last ${sc.lastActionAt ? ago(sc.lastActionAt) : 'never'}  [${sc.id}]`;
}

/** The worker line: whether a worker polls the task queue, and when one last did. */
export function workerLine(w: WorkerPresence | null, taskQueue: string): string {
  if (!w) return `worker     unknown (Temporal did not describe task queue "${taskQueue}")`;
  const missing = w.queues.filter((q) => q.pollers === 0).map((q) => `${q.taskQueue} (${q.type})`);
  if (!w.polling) {
    return (
      `WORKER     none polls task queue "${taskQueue}" (${w.lastSeenAt ? `last seen ${ago(w.lastSeenAt)}` : 'none seen in the last minutes'}): ` +
      `events and runs wait until one does; start it (\`npm run start:worker\`, the scimflow-worker service, or \`npm run dev\`)`
    );
  }
  const pollers = Math.max(...w.queues.slice(0, 2).map((q) => q.pollers));
  return (
    `worker     ${pollers} polling task queue "${taskQueue}", last seen ${ago(w.lastSeenAt)}` +
    (missing.length > 0 ? `; none polls ${missing.join(', ')} (set aside for another process?)` : '')
  );
}

/** The workflow's state in Temporal: null when there is none; `RUNNING`, or how it ended. */
async function workflowState(ctx: CliContext, organizationId: string): Promise<{ status: string; closedAt: string | null } | null> {
  const temporal = await ctx.temporal();
  try {
    const d = await temporal.client.workflow.getHandle(organizationWorkflowId(organizationId)).describe();
    return { status: d.status.name, closedAt: d.closeTime?.toISOString() ?? null };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

export async function statusCommand(ctx: CliContext, organizationId: string, opts: { json?: boolean }): Promise<number> {
  const temporal = await ctx.temporal();
  let status: OrganizationSyncStatus | null;
  let schedules: ScheduleState[];
  let workflow: Awaited<ReturnType<typeof workflowState>>;
  let worker: WorkerPresence | null;
  try {
    [workflow, schedules, worker] = await Promise.all([
      workflowState(ctx, organizationId),
      describeSchedules(temporal.client, organizationId),
      workerPresence(temporal.client, temporal.taskQueue).catch(() => null),
    ]);
    // A workflow that ended (removed, or refused as unknown) is no organization's account any more.
    status = workflow?.status === 'RUNNING' ? await temporal.workflows.status(organizationId) : null;
  } catch (err) {
    throw ctx.temporalError(err);
  }
  const stored = await directoryState(ctx, organizationId);
  if (opts.json) {
    ctx.io.out(
      JSON.stringify({
        organizationId,
        workflowId: organizationWorkflowId(organizationId),
        workflow,
        status,
        schedules,
        worker,
        ...stored,
      }),
    );
    return status ? 0 : 1;
  }
  if (!status) {
    // A workflow that ended (removed, refused as unknown) says how and when.
    const ended = workflow ? `: ended ${workflow.status.toLowerCase()}${workflow.closedAt ? ` ${ago(workflow.closedAt)}` : ''}` : '';
    throw new CliError(
      `no organization workflow running for ${organizationId} (${organizationWorkflowId(organizationId)}${ended}): ` +
        `register it with \`${cliPrefix()} orgs add ${organizationId}\``,
    );
  }
  const s = status;
  const r = s.reconcile;
  const step = r ? await ctx.withDb((db) => stepOfPhase(db, r)) : null;
  const lines = [
    `organization ${s.organizationId}  (workflow ${organizationWorkflowId(s.organizationId)}, first started ${ago(s.firstStartedAt)}, continued as new ${n(s.continuedAsNew)}×)`,
    `events     queued ${n(s.queued)} · received ${n(s.received)} · applied ${n(s.applied)} · duplicates ${n(s.duplicates)} · stale ${n(s.stale)} · batches ${n(s.batches)}`,
    `last event ${s.lastAppliedEventAt ? `${time(s.lastAppliedEventAt)} (occurred)` : 'none applied yet'}${s.lastBatchAt ? ` · last batch ${ago(s.lastBatchAt)}` : ''}`,
    `run        ${r ? describeProgress(r, null, Date.now() - Date.parse(r.startedAt), step) : 'none in progress'}`,
    `last run   ${lastRunLine(s)}`,
    workerLine(worker, temporal.taskQueue),
  ];
  // Quarantined is the ledger's answer: the webhook quarantines what it cannot read before any workflow sees it.
  const quarantined = stored?.quarantinedEvents ?? s.quarantined;
  lines.push(
    quarantined > 0
      ? `quarantined ${n(quarantined)} event(s) wait for a look: \`${cliPrefix()} events list ${organizationId} --outcome quarantined\``
      : 'quarantined 0',
  );
  if (s.paused || s.resuming) {
    // How many wait is the ledger's answer (the workflow counts every event it ever kept).
    const waiting = await ctx.withDb((db) => countDeferred(db, organizationId)).catch(() => null);
    const count = waiting === null ? 'some events' : `${n(waiting)} event(s)`;
    lines.splice(
      1,
      0,
      s.paused
        ? `PAUSED     since ${time(s.paused.since)}${s.paused.note ? ` (${s.paused.note})` : ''}: ${count} kept, none applied; resume with \`${cliPrefix()} resume ${organizationId}\``
        : `RESUMING   applying the events kept during the pause in the order they arrived: ${count} to go`,
    );
  }
  if (s.reconcilesSkipped > 0)
    lines.push(`skipped    ${n(s.reconcilesSkipped)} scheduled run(s) skipped because a run was in progress or the sync was paused`);
  if (s.reconcile?.phase === 'awaiting_approval') {
    lines.push(
      `decide     \`${cliPrefix()} approve ${organizationId} ${s.reconcile.runId}\` or \`${cliPrefix()} cancel ${organizationId} ${s.reconcile.runId}\``,
    );
  }
  if (stored && stored.directories.length > 0) lines.push('directories', ...stored.directories.map(directoryLine));
  if (stored && stored.usersWithoutDirectory.users > 0) {
    const u = stored.usersWithoutDirectory;
    lines.push(
      `  (not known yet)  ${n(u.activeUsers)} active users of ${n(u.users)}: arrived by webhook, which does not name the directory; the next reconcile reads it from Scalekit`,
    );
  }
  if (stored && stored.emailConflicts > 0) {
    lines.push(
      `CONFLICTS  ${n(stored.emailConflicts)} user(s) held back: a user of another directory has their e-mail ` +
        `(\`${cliPrefix()} events list ${organizationId} --outcome quarantined\`; the runbook's IdP migration section says what to do)`,
    );
  }
  if (stored?.emailPolicy && stored.emailPolicy.allowedDomains.length > 0) {
    const p = stored.emailPolicy;
    lines.push(
      `domains    ${p.allowedDomains.join(', ')} · ${n(p.heldUsers)} user(s) held out of the application` +
        (p.heldUsers > 0 ? ` (\`${cliPrefix()} domains held ${organizationId}\`)` : ''),
    );
  }
  lines.push('schedules', ...schedules.map(scheduleLine));
  for (const line of lines) ctx.io.out(line);
  return 0;
}
