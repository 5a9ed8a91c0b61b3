import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliContext } from './context';
import { classifyError, describeError } from '../db/errors';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors';
import { orgsAdd, orgsList } from './orgs';
import { orgsRemove, type RemoveOptions } from './remove';
import { eventsList, eventsRetry } from './events';
import { deliveryCommand, deliveryStatusCommand } from './delivery';
import { pauseCommand } from './pause';
import { runCommand } from './reconcile';
import { retentionRun, retentionStatus } from './retention';
import { rolesChange, rolesList, rolesWhy } from './roles';
import { domainsChange, domainsHeld, domainsShow } from './domains';
import { decideCommand, planCommand, runsCommand } from './runs';
import { scheduleCommand, type ScheduleAction, type ScheduleKindOption } from './schedule';
import { statusCommand } from './status';
import { continueAsNewCommand, workflowsList } from './workflows';
import { isRunId, organizationIdProblem } from '../domain/ids';
import { DEFAULT_PRECEDENCE, MAX_PRECEDENCE, roleNameProblem } from '../domain/roles';
import { LEDGER_OUTCOMES, type LedgerOutcome } from '../db/repositories/ledger';
import type { DeliveryChannel } from '../db/repositories/deliveries';
import { cliPrefix, useCliPrefix } from '../domain/cli-command';

/**
 * scimflow: the engineers' CLI. Every command talks to the organization workflows through the
 * Temporal client and reads sync runs from Postgres; nothing here writes directory data.
 * Exit codes: 0 ok, 1 failure or refusal, 2 usage, 130 detached with Ctrl-C.
 */

function organizationIdArg(value: string): string {
  const problem = organizationIdProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

function runIdArg(value: string): string {
  if (!isRunId(value)) throw new InvalidArgumentError(`expected a run number, as \`${cliPrefix()} runs <orgId>\` lists them`);
  return value;
}

function positiveInt(max: number) {
  return (value: string): number => {
    const v = Number(value);
    if (!/^\d+$/.test(value) || v < 1 || v > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
    return v;
  };
}

function precedenceArg(value: string): number {
  const v = Number(value);
  if (!/^\d+$/.test(value) || v > MAX_PRECEDENCE)
    throw new InvalidArgumentError(`expected a whole number from 0 to ${MAX_PRECEDENCE} (lower wins)`);
  return v;
}

function roleArg(value: string): string {
  const problem = roleNameProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

function idArg(what: string) {
  return (value: string): string => {
    if (value.length === 0 || value.length > 256) throw new InvalidArgumentError(`expected a directory ${what} id`);
    return value;
  };
}

function noteArg(value: string): string {
  if (value.length > 500) throw new InvalidArgumentError('at most 500 characters');
  return value;
}

function channelArg(value: string): DeliveryChannel {
  if (value !== 'temporal' && value !== 'webhook') throw new InvalidArgumentError('expected temporal or webhook');
  return value;
}

function recordIdArg(value: string): string {
  if (!/^\d{1,19}$/.test(value)) throw new InvalidArgumentError('expected a record id (a number)');
  return value;
}

function reasonArg(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected the reason (it is recorded)');
  return noteArg(value);
}

function timeArg(value: string): string {
  if (Number.isNaN(Date.parse(value))) throw new InvalidArgumentError('expected a time such as 2026-12-01T09:00:00Z');
  return value;
}

function cursorArg(value: string): string {
  if (!/^(user|group):.+$/.test(value))
    throw new InvalidArgumentError('expected a cursor as printed by the previous page, such as user:diruser_123');
  return value;
}

const RUN_HELP = `
While it waits, the command shows the run's progress (phase, pages, users fetched of the
directory's total, rate, ETA, then the apply) and ends with the run's counts. Ctrl-C detaches:
the run goes on in the organization workflow; watch it again with \`${cliPrefix()} status <orgId>\`.
A dry run stops after the plan; apply it with \`${cliPrefix()} approve <orgId> <runId>\`.`;

export function buildProgram(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command(cliPrefix())
    .description('Onboarding imports, reconciliations and schedules of scimflow organizations (through Temporal and Postgres).')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .helpCommand(true)
    .addHelpText(
      'after',
      `
Configuration comes from the environment or .env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_TASK_QUEUE, DATABASE_URL, SCALEKIT_ENVIRONMENT_URL/CLIENT_ID/CLIENT_SECRET.
Exit codes: 0 ok, 1 failure or refusal, 2 usage error, 130 detached with Ctrl-C.`,
    );
  const run = (fn: () => Promise<number>) => async () => setExitCode(await fn());

  const orgs = program.command('orgs').description('register, list and remove organizations');
  orgs
    .command('add')
    .description(
      'register an organization: look up its directories in Scalekit, store them, create its reconcile schedules, start its workflow',
    )
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--json', 'print the registration as JSON')
    .action((orgId: string, opts: { json?: boolean }) => run(() => orgsAdd(ctx, orgId, opts))());
  orgs
    .command('list')
    .description('organizations with their directory, user counts, last run and schedule state')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => run(() => orgsList(ctx, opts))());
  orgs
    .command('remove')
    .description(
      'remove an organization: terminate its workflows, delete its reconcile schedules and, with --data, its rows in the database',
    )
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--dry-run', 'list what would be removed (with --data: rows per table); change nothing')
    .option('--data', "also delete the organization's rows in the database (one transaction)")
    .option('--yes', 'remove (required: it cannot be undone)')
    .option('--force', 'remove even while a run is in progress (the run is stopped)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Webhooks and commands for the organization start its workflow again: turn its directory off in
Scalekit first when it leaves for good. Already removed: says so and exits 0.`,
    )
    .action((orgId: string, opts: RemoveOptions) => run(() => orgsRemove(ctx, orgId, opts))());

  program
    .command('import')
    .description(
      'onboarding import: register the organization if needed, then run a full reconcile of its whole directory and show its progress',
    )
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--dry-run', 'stop after the plan: show what would change, change nothing')
    .option('--json', 'no progress bar; print one JSON object with the outcome at the end')
    .option('--no-wait', 'return once the run is accepted')
    .addHelpText('after', RUN_HELP)
    .action((orgId: string, opts: { dryRun?: boolean; json?: boolean; wait: boolean }) =>
      run(() => runCommand(ctx, orgId, opts, 'import'))(),
    );

  program
    .command('reconcile')
    .description('reconcile an organization with its directories now (full, or --delta for what changed since the last run)')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--dry-run', 'stop after the plan: show what would change, change nothing')
    .option('--delta', 'read only users and groups updated since the last completed run (cannot see deletions)')
    .option('--json', 'no progress bar; print one JSON object with the outcome at the end')
    .option('--no-wait', 'return once the run is accepted')
    .addHelpText('after', RUN_HELP)
    .action((orgId: string, opts: { dryRun?: boolean; delta?: boolean; json?: boolean; wait: boolean }) =>
      run(() => runCommand(ctx, orgId, opts, 'cli'))(),
    );

  program
    .command('runs')
    .description("an organization's recent runs (imports, reconciliations), newest first")
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--limit <n>', 'how many runs', positiveInt(1_000), 20)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { json?: boolean; limit: number }) => run(() => runsCommand(ctx, orgId, opts))());

  program
    .command('plan')
    .description("a run's plan: its counts and its changes, a page at a time")
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<runId>', 'run number', runIdArg)
    .option('--limit <n>', 'changes per page', positiveInt(1_000), 50)
    .option('--after <cursor>', 'start after this cursor (printed at the end of the previous page)', cursorArg)
    .option('--json', 'print JSON (with nextCursor)')
    .action((orgId: string, runId: string, opts: { json?: boolean; limit: number; after?: string }) =>
      run(() => planCommand(ctx, orgId, runId, opts))(),
    );

  program
    .command('approve')
    .description("apply a dry run's plan, or a run the deprovision guard stopped (freshness is checked again)")
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<runId>', 'run number', runIdArg)
    .option('--wait', 'follow the apply and print its counts')
    .option('--json', 'print JSON')
    .action((orgId: string, runId: string, opts: { json?: boolean; wait?: boolean }) =>
      run(() => decideCommand(ctx, 'approve', orgId, runId, opts))(),
    );

  program
    .command('cancel')
    .description('discard a planned run or one waiting for approval, or stop a run in progress')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<runId>', 'run number', runIdArg)
    .option('--json', 'print JSON')
    .action((orgId: string, runId: string, opts: { json?: boolean }) => run(() => decideCommand(ctx, 'cancel', orgId, runId, opts))());

  program
    .command('status')
    .description("the organization workflow's status (events, current run, last run) and its schedules")
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { json?: boolean }) => run(() => statusCommand(ctx, orgId, opts))());

  const schedule = program.command('schedule').description("pause, resume or trigger an organization's reconcile schedules");
  const descriptions: Record<ScheduleAction, string> = {
    pause: 'pause the schedules (all kinds unless --kind)',
    resume: 'resume the schedules (all kinds unless --kind)',
    trigger: 'start a scheduled run now (full unless --kind delta); skipped if a run is in progress',
  };
  for (const action of ['pause', 'resume', 'trigger'] as const) {
    const cmd = schedule
      .command(action)
      .description(descriptions[action])
      .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
      .addOption(new Option('--kind <kind>', 'which schedule').choices(action === 'trigger' ? ['full', 'delta'] : ['full', 'delta', 'all']))
      .option('--json', 'print JSON');
    if (action !== 'trigger') cmd.option('--note <text>', 'why (shown in `status` and the Temporal UI)');
    cmd.action((orgId: string, opts: { kind?: ScheduleKindOption; note?: string; json?: boolean }) =>
      run(() => scheduleCommand(ctx, action, orgId, opts))(),
    );
  }
  program
    .command('pause')
    .description(
      "stop applying an organization's directory changes: webhooks are kept in order, everyone keeps their access, scheduled reconciles are skipped",
    )
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--note <text>', 'why, at most 500 characters (shown in `status`)', noteArg)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { note?: string; json?: boolean }) => run(() => pauseCommand(ctx, 'pause', orgId, opts))());
  program
    .command('resume')
    .description('resume a paused organization: apply the changes kept during the pause, in the order they arrived, then new ones')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { json?: boolean }) => run(() => pauseCommand(ctx, 'resume', orgId, opts))());

  const delivery = program
    .command('delivery')
    .description(
      "an organization's delivery of directory changes to the application (APP_TASK_QUEUE; --channel webhook: the signed HTTP push to APP_WEBHOOK_URL): status; retry, skip, pause, resume, rewind",
    );
  /** A delivery subcommand: `<orgId>`, the options `extra` adds, then `--channel` and `--json`. */
  const deliverySubcommand = (name: string, description: string, extra: (cmd: Command) => Command = (cmd) => cmd) =>
    extra(delivery.command(name).description(description).argument('<orgId>', 'Scalekit organization id', organizationIdArg))
      .option('--channel <channel>', 'temporal or webhook (default: temporal, or webhook when only the push is on)', channelArg)
      .option('--json', 'print JSON');
  deliverySubcommand('status', 'state, records delivered and waiting (and the age of the oldest), why it stopped, records skipped').action(
    (orgId: string, opts: { channel?: DeliveryChannel; json?: boolean }) => run(() => deliveryStatusCommand(ctx, orgId, opts))(),
  );
  deliverySubcommand('retry', 'deliver the record the application refused again (once the application is fixed)').action(
    (orgId: string, opts: { channel?: DeliveryChannel; json?: boolean }) => run(() => deliveryCommand(ctx, 'retry', orgId, opts))(),
  );
  deliverySubcommand('skip', 'pass over the record the delivery stopped at (never delivered), recording why, and go on', (cmd) =>
    cmd
      .requiredOption('--record <id>', 'the record id, as `delivery status` shows it', recordIdArg)
      .requiredOption('--reason <text>', 'why, at most 500 characters (recorded)', reasonArg),
  ).action((orgId: string, opts: { channel?: DeliveryChannel; record: string; reason: string; json?: boolean }) =>
    run(() => deliveryCommand(ctx, 'skip', orgId, opts))(),
  );
  deliverySubcommand('pause', 'stop delivering after the batch in flight: records wait in order, the directory keeps syncing', (cmd) =>
    cmd.option('--note <text>', 'why, at most 500 characters (shown in `delivery status`)', noteArg),
  ).action((orgId: string, opts: { channel?: DeliveryChannel; note?: string; json?: boolean }) =>
    run(() => deliveryCommand(ctx, 'pause', orgId, opts))(),
  );
  deliverySubcommand('resume', 'deliver again, from where it paused').action(
    (orgId: string, opts: { channel?: DeliveryChannel; json?: boolean }) => run(() => deliveryCommand(ctx, 'resume', orgId, opts))(),
  );
  deliverySubcommand('rewind', 'deliver records again from a sequence or from a time (after the application restored a backup)', (cmd) =>
    cmd
      .option('--to-sequence <n>', 'the first record to deliver again', positiveInt(Number.MAX_SAFE_INTEGER))
      .option('--to-time <iso>', 'from the first record committed at or after this time (ISO 8601)', timeArg)
      .option('--dry-run', 'count the records that would be delivered again; change nothing'),
  ).action((orgId: string, opts: { channel?: DeliveryChannel; toSequence?: number; toTime?: string; dryRun?: boolean; json?: boolean }) => {
    if ((opts.toSequence === undefined) === (opts.toTime === undefined)) {
      throw new CliError('give either --to-sequence or --to-time', EXIT_USAGE);
    }
    return run(() => deliveryCommand(ctx, 'rewind', orgId, opts))();
  });

  const events = program
    .command('events')
    .description("an organization's event ledger: what happened to each webhook; retry quarantined ones");
  events
    .command('list')
    .description('events newest first, with their outcome (applied, deferred, duplicate, stale, ignored, quarantined) and why')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .addOption(new Option('--outcome <outcome>', 'only events with this outcome').choices([...LEDGER_OUTCOMES]))
    .option('--limit <n>', 'events per page', positiveInt(500), 50)
    .option('--after <eventId>', 'start after this event (printed at the end of the previous page)', idArg('event'))
    .option('--json', 'print JSON (with nextCursor)')
    .action((orgId: string, opts: { outcome?: LedgerOutcome; limit: number; after?: string; json?: boolean }) =>
      run(() => eventsList(ctx, orgId, opts))(),
    );
  events
    .command('retry')
    .description(
      'apply quarantined events again once their cause is gone (the given ids, up to 500; otherwise every quarantined one, oldest first, up to 5,000)',
    )
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('[eventIds...]', 'event ids, as `events list --outcome quarantined` shows them')
    .option('--json', 'print JSON')
    .action((orgId: string, eventIds: string[], opts: { json?: boolean }) => {
      if (eventIds.length > 500) throw new CliError('at most 500 event ids at a time', EXIT_USAGE);
      return run(() => eventsRetry(ctx, orgId, eventIds, opts))();
    });

  const roles = program
    .command('roles')
    .description("which directory groups grant which of the application's roles, the default role, and why a user holds a role");
  roles
    .command('list')
    .description("the organization's default role, its mapped groups (role, precedence, users granted) and its unmapped groups")
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { json?: boolean }) => run(() => rolesList(ctx, orgId, opts))());
  roles
    .command('map')
    .description(
      "grant <role> to the members of a directory group (replaces the group's mapping); a user in several mapped groups gets the lowest precedence",
    )
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<groupId>', 'directory group id, as `roles list` shows it', idArg('group'))
    .argument('<role>', "the application's role name", roleArg)
    .option('--precedence <n>', 'lower wins when a user is in several mapped groups', precedenceArg, DEFAULT_PRECEDENCE)
    .option('--dry-run', 'show who would gain or lose a role; change nothing')
    .option('--json', 'print JSON')
    .action((orgId: string, groupId: string, role: string, opts: { precedence: number; dryRun?: boolean; json?: boolean }) =>
      run(() => rolesChange(ctx, orgId, { action: 'map', groupId, role, precedence: opts.precedence }, opts))(),
    );
  roles
    .command('unmap')
    .description("remove a directory group's role mapping")
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<groupId>', 'directory group id', idArg('group'))
    .option('--dry-run', 'show who would gain or lose a role; change nothing')
    .option('--json', 'print JSON')
    .action((orgId: string, groupId: string, opts: { dryRun?: boolean; json?: boolean }) =>
      run(() => rolesChange(ctx, orgId, { action: 'unmap', groupId }, opts))(),
    );
  roles
    .command('default')
    .description('set the role of active users that no mapped group and no Scalekit role gives one (--none: no default)')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('[role]', "the application's role name", roleArg)
    .option('--none', 'remove the default role')
    .option('--dry-run', 'show who would gain or lose a role; change nothing')
    .option('--json', 'print JSON')
    .action((orgId: string, role: string | undefined, opts: { none?: boolean; dryRun?: boolean; json?: boolean }) => {
      if ((role === undefined) === (opts.none !== true)) {
        throw new CliError('give either a role name or --none', EXIT_USAGE);
      }
      return run(() => rolesChange(ctx, orgId, { action: 'default', role: role ?? null }, opts))();
    });
  roles
    .command('why')
    .description('the roles a user holds and why: the group and precedence, Scalekit, or the default; and what granted it')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<userId>', 'directory user id', idArg('user'))
    .option('--json', 'print JSON')
    .action((orgId: string, userId: string, opts: { json?: boolean }) => run(() => rolesWhy(ctx, orgId, userId, opts))());

  const domains = program
    .command('domains')
    .description(
      "the organization's allowed e-mail domains: active users outside them are held (kept in the mirror, not provisioned into the application)",
    );
  domains
    .command('show')
    .description('the allowed e-mail domains and how many users they hold')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { json?: boolean }) => run(() => domainsShow(ctx, orgId, opts))());
  domains
    .command('set')
    .description('allow only these e-mail domains (example.com; *.example.com for its subdomains); replaces the list')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .argument('<domains...>', 'e-mail domains')
    .option('--dry-run', 'list who would be held or released; change nothing')
    .option('--json', 'print JSON')
    .action((orgId: string, list: string[], opts: { dryRun?: boolean; json?: boolean }) =>
      run(() => domainsChange(ctx, orgId, list, opts))(),
    );
  domains
    .command('clear')
    .description('allow every e-mail domain again (releases every held user)')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--dry-run', 'list who would be released; change nothing')
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { dryRun?: boolean; json?: boolean }) => run(() => domainsChange(ctx, orgId, [], opts))());
  domains
    .command('held')
    .description('the users held out of the application, and why')
    .argument('<orgId>', 'Scalekit organization id', organizationIdArg)
    .option('--limit <n>', 'how many users', positiveInt(10_000), 100)
    .option('--json', 'print JSON')
    .action((orgId: string, opts: { json?: boolean; limit: number }) => run(() => domainsHeld(ctx, orgId, opts))());

  const workflows = program
    .command('workflows')
    .description(
      'the running organization and delivery workflows: which run started before a time; ask them to continue as new (after a key rotation)',
    );
  workflows
    .command('list')
    .description(
      'running organization and delivery workflows on this task queue and when their current run started (after the last continue-as-new)',
    )
    .option('--started-before <time>', 'only those whose current run started before this time (ISO 8601): not yet renewed', timeArg)
    .option('--json', 'print JSON')
    .action((opts: { startedBefore?: string; json?: boolean }) => run(() => workflowsList(ctx, opts))());
  workflows
    .command('continue-as-new')
    .description(
      "ask an organization's workflow and its deliveries (or --all) to continue as new at their next idle point, so what they keep is sealed with today's payload key",
    )
    .argument('[orgId]', 'Scalekit organization id', organizationIdArg)
    .option('--all', 'every organization and delivery workflow running on this task queue')
    .option('--json', 'print JSON')
    .action((orgId: string | undefined, opts: { all?: boolean; json?: boolean }) => run(() => continueAsNewCommand(ctx, orgId, opts))());

  const retention = program
    .command('retention')
    .description("how long event payloads, the event ledger, sync runs and deactivated users' personal fields are kept; prune now");
  retention
    .command('run')
    .description('prune now what the retention periods say is due (as the retention schedule does), in short batches, and show what went')
    .option('--dry-run', 'count what is due; change nothing')
    .option('--json', "print the run's report as JSON")
    .option('--no-wait', 'return once the run is started')
    .action((opts: { dryRun?: boolean; json?: boolean; wait: boolean }) => run(() => retentionRun(ctx, opts))());
  retention
    .command('status')
    .description('the retention periods, the schedule, the age of the oldest row kept of each kind, and the last runs')
    .option('--limit <n>', 'how many runs', positiveInt(1_000), 10)
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean; limit: number }) => run(() => retentionStatus(ctx, opts))());
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const ctx = new CliContext();
  let code = 0;
  try {
    await buildProgram(ctx, (c) => (code = c)).parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed the message or the help; --help and --version end with 0.
      code = err.exitCode === 0 ? 0 : EXIT_USAGE;
    } else {
      const mapped = err instanceof CliError ? err : ctx.temporalError(err);
      // Our own errors say what to do; anything else is described without a statement or values.
      const known = mapped instanceof CliError || classifyError(mapped) === 'unknown';
      ctx.io.err(`error: ${known ? ((mapped as Error).message ?? String(mapped)) : describeError(mapped, 1_000)}`);
      code = mapped instanceof CliError ? mapped.exitCode : EXIT_FAILURE;
    }
  } finally {
    await ctx.close();
  }
  return code;
}

// How its hints say to run it: as set where it runs (Compose: `docker compose run --rm cli`); as the
// installed bin (`scimflow`, through `npm link`); otherwise `npm run cli -- …`.
const givenPrefix = process.env.SCIMFLOW_CLI_PREFIX?.trim();
if (givenPrefix) useCliPrefix(givenPrefix);
else if (/(^|[/\\])scimflow$/.test(process.argv[1] ?? '')) useCliPrefix('scimflow');

// Output to a reader that has gone (`… | head`): the rest is not wanted; end quietly, as `cat` does.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const code = await main(process.argv);
process.exitCode = code;
// Anything left open (a lingering socket) must not keep a finished command alive.
setTimeout(() => process.exit(code), 2_000).unref();
