import { listLedger, type LedgerOutcome } from '../db/repositories/ledger';
import type { CliContext } from './context';
import { n, table, time, truncate } from './format';
import { requireOrganization } from './pause';
import { cliPrefix } from '../domain/cli-command';

/**
 * `events list|retry`: what happened to an organization's webhooks (the event ledger), and a retry
 * of quarantined ones once their cause is gone (a conflict that cleared, a body an older version
 * could not read).
 */

export async function eventsList(
  ctx: CliContext,
  organizationId: string,
  opts: { outcome?: LedgerOutcome; limit: number; after?: string; json?: boolean },
): Promise<number> {
  const events = await ctx.withDb((db) => listLedger(db, { organizationId, outcome: opts.outcome, limit: opts.limit, after: opts.after }));
  const next = events.length === opts.limit ? (events[events.length - 1]?.id ?? null) : null;
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, events, nextCursor: next }));
    return 0;
  }
  if (events.length === 0) {
    ctx.io.out(`no ${opts.outcome ?? ''}${opts.outcome ? ' ' : ''}events for ${organizationId}${opts.after ? ' after that cursor' : ''}`);
    return 0;
  }
  const rows = events.map((e) => [
    time(e.receivedAt),
    e.id,
    (e.type ?? '-').replace('organization.directory.', ''),
    e.outcome,
    truncate(e.detail ?? '', 90),
  ]);
  for (const line of table(['RECEIVED', 'EVENT', 'TYPE', 'OUTCOME', 'DETAIL'], rows)) ctx.io.out(line);
  if (next)
    ctx.io.out(`more: ${cliPrefix()} events list ${organizationId}${opts.outcome ? ` --outcome ${opts.outcome}` : ''} --after ${next}`);
  if (events.some((e) => e.outcome === 'quarantined'))
    ctx.io.out(`retry quarantined events once their cause is gone: ${cliPrefix()} events retry ${organizationId} [eventId ...]`);
  return 0;
}

export async function eventsRetry(ctx: CliContext, organizationId: string, eventIds: string[], opts: { json?: boolean }): Promise<number> {
  await requireOrganization(ctx, organizationId);
  const temporal = await ctx.temporal();
  const outcome = await ctx.command(organizationId, opts.json, () =>
    temporal.workflows.retryQuarantined(organizationId, eventIds.length > 0 ? eventIds : null),
  );
  if ('refused' in outcome) return 1;
  const result = outcome.value;
  if (opts.json) {
    ctx.io.out(JSON.stringify({ organizationId, ...result }));
    return result.notFound > 0 ? 1 : 0;
  }
  ctx.io.out(
    `retried ${n(result.tried)} quarantined event(s): ${n(result.applied)} applied, ${n(result.stale)} stale, ${n(result.ignored)} ignored, ${n(result.stillQuarantined)} still quarantined` +
      (result.notFound > 0 ? `, ${n(result.notFound)} not found` : ''),
  );
  ctx.io.out(`${n(result.remaining)} quarantined event(s) of ${organizationId} left`);
  const rows = result.events.map((e) => [e.id, e.outcome, truncate(e.detail, 100)]);
  if (rows.length > 0) for (const line of table(['EVENT', 'OUTCOME', 'DETAIL'], rows)) ctx.io.out(`  ${line}`);
  if (result.events.length < result.tried + result.notFound)
    ctx.io.out(`  … the first ${n(result.events.length)} shown; --json for the counts`);
  return result.notFound > 0 ? 1 : 0;
}
