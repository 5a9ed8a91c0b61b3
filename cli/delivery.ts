import type { CliContext } from './context';
import { CliError } from './errors';
import { DELIVERY_CHANNELS, deliveryStatus, type DeliveryChannel, type DeliveryStatus } from '../db/repositories/deliveries';
import { deliverySettings } from '../domain/delivery';
import { DeliveryWorkflows } from '../temporal/delivery';
import { pushTaskQueue } from '../temporal/task-queues';
import { duration, n, time } from './format';
import { requireOrganization } from './pause';
import { cliPrefix } from '../domain/cli-command';

export type DeliveryAction = 'retry' | 'skip' | 'pause' | 'resume' | 'rewind';

export interface DeliveryOptions {
  json?: boolean;
  /** Which delivery (default: Temporal-native, or the push when only it is on). */
  channel?: DeliveryChannel;
  note?: string;
  reason?: string;
  record?: string;
  toSequence?: number;
  toTime?: string;
  dryRun?: boolean;
}

/** The channel an operator means: the one asked for, else Temporal-native delivery, else the push when only it is on. */
function channelOf(ctx: CliContext, asked: DeliveryChannel | undefined): DeliveryChannel {
  const config = ctx.config();
  return asked ?? (!config.delivery.appTaskQueue && config.push ? 'webhook' : 'temporal');
}

function channelEnabled(ctx: CliContext, channel: DeliveryChannel): boolean {
  return channel === 'webhook' ? ctx.config().push !== undefined : ctx.config().delivery.appTaskQueue !== undefined;
}

/**
 * `delivery status <orgId>`: where the organization's delivery to the application stands (from the
 * database), for each channel (or the one asked for).
 */
export async function deliveryStatusCommand(
  ctx: CliContext,
  organizationId: string,
  opts: { json?: boolean; channel?: DeliveryChannel },
): Promise<number> {
  await requireOrganization(ctx, organizationId);
  const channel = channelOf(ctx, opts.channel);
  const statuses = await ctx.withDb(async (db) => {
    const out: Partial<Record<DeliveryChannel, DeliveryStatus>> = {};
    for (const c of DELIVERY_CHANNELS) out[c] = await deliveryStatus(db, organizationId, c);
    return out as Record<DeliveryChannel, DeliveryStatus>;
  });
  if (opts.json) {
    const channels = Object.fromEntries(DELIVERY_CHANNELS.map((c) => [c, { enabled: channelEnabled(ctx, c), ...statuses[c] }]));
    ctx.io.out(JSON.stringify({ enabled: channelEnabled(ctx, channel), ...statuses[channel], channels }));
    return 0;
  }
  const shown = opts.channel
    ? [opts.channel]
    : DELIVERY_CHANNELS.filter((c) => c === channel || channelEnabled(ctx, c) || statuses[c].state !== 'idle');
  for (const c of shown) printStatus(ctx, organizationId, c, statuses[c]);
  return 0;
}

function printStatus(ctx: CliContext, organizationId: string, channel: DeliveryChannel, s: DeliveryStatus): void {
  const enabled = channelEnabled(ctx, channel);
  const flag = channel === 'temporal' ? '' : ` --channel ${channel}`;
  if (channel === 'webhook') {
    if (!enabled) ctx.io.out('signed HTTP push is off here (APP_WEBHOOK_URL is not set)');
    ctx.io.out(`push of ${organizationId} to the application's URL: ${s.state}`);
  } else {
    if (!enabled) ctx.io.out('Temporal-native delivery is off here (APP_TASK_QUEUE is not set)');
    ctx.io.out(`delivery of ${organizationId} to ${ctx.config().delivery.appTaskQueue ?? '(no application queue)'}: ${s.state}`);
  }
  ctx.io.out(
    `  delivered   ${n(s.deliveredSequence)} of ${n(s.latestSequence)}${s.deliveredAt ? ` (last at ${time(s.deliveredAt)})` : ''}`,
  );
  ctx.io.out(
    `  waiting     ${n(s.waiting)} record(s)${s.oldestWaitingSeconds !== null ? `, the oldest for ${duration(s.oldestWaitingSeconds * 1000)}` : ''}`,
  );
  if (s.paused) ctx.io.out(`  paused      since ${time(s.paused.since)}${s.paused.note ? ` (${s.paused.note})` : ''}`);
  if (s.stop) {
    ctx.io.out(`  stopped     at record ${s.stop.recordId ?? '?'} (sequence ${s.stop.sequence}) since ${time(s.stop.at)}: ${s.stop.kind}`);
    ctx.io.out(`              ${s.stop.reason}`);
    ctx.io.out(
      `  next        fix the application, then \`${cliPrefix()} delivery retry ${organizationId}${flag}\`; or \`${cliPrefix()} delivery skip ${organizationId}${flag} --record ${s.stop.recordId ?? '<id>'} --reason "..."\``,
    );
  }
  for (const k of s.skips) ctx.io.out(`  skipped     record ${k.recordId} (sequence ${k.sequence}) at ${time(k.skippedAt)}: ${k.reason}`);
}

/** `delivery retry|skip|pause|resume|rewind <orgId>`: an operator's command to the organization's delivery workflow. */
export async function deliveryCommand(
  ctx: CliContext,
  action: DeliveryAction,
  organizationId: string,
  opts: DeliveryOptions,
): Promise<number> {
  const config = ctx.config();
  const channel = channelOf(ctx, opts.channel);
  if (channel === 'webhook' && !config.push) {
    throw new CliError('signed HTTP push is off: set APP_WEBHOOK_URL and APP_WEBHOOK_SECRET as the worker has them');
  }
  if (channel === 'temporal' && !config.delivery.appTaskQueue) {
    throw new CliError("Temporal-native delivery is off: set APP_TASK_QUEUE (the application's task queue) as the worker has it");
  }
  await requireOrganization(ctx, organizationId);
  const temporal = await ctx.temporal();
  const tuning = { batch: config.delivery.batch, maxAttempts: config.delivery.maxAttempts };
  const deliveries = new DeliveryWorkflows(
    temporal.client,
    temporal.taskQueue,
    deliverySettings(channel === 'webhook' ? pushTaskQueue(temporal.taskQueue) : config.delivery.appTaskQueue!, tuning),
    10_000,
    undefined,
    channel,
  );
  const say = (value: object, text: string[]): number => {
    if (opts.json) ctx.io.out(JSON.stringify({ organizationId, channel, action, ...value }));
    else for (const line of text) ctx.io.out(line);
    return 0;
  };
  switch (action) {
    case 'retry': {
      const o = await ctx.command(organizationId, opts.json, () => deliveries.retry(organizationId));
      if ('refused' in o) return 1;
      return say(o.value, [`delivering ${organizationId} again from sequence ${o.value.retryingFrom}`]);
    }
    case 'skip': {
      const o = await ctx.command(organizationId, opts.json, () => deliveries.skip(organizationId, opts.record!, opts.reason!));
      if ('refused' in o) return 1;
      return say(o.value, [
        `skipped record ${o.value.skipped} (sequence ${o.value.sequence}) of ${organizationId}; delivering the next ones`,
      ]);
    }
    case 'pause': {
      const o = await ctx.command(organizationId, opts.json, () => deliveries.pause(organizationId, opts.note ?? null));
      if ('refused' in o) return 1;
      return say(o.value, [
        `paused the delivery of ${organizationId} at ${time(o.value.paused.since)}: records wait in order; the directory keeps syncing`,
        `resume with \`${cliPrefix()} delivery resume ${organizationId}\``,
      ]);
    }
    case 'resume': {
      const o = await ctx.command(organizationId, opts.json, () => deliveries.resume(organizationId));
      if ('refused' in o) return 1;
      return say(o.value, [`resumed the delivery of ${organizationId} (paused since ${time(o.value.resumed.since)})`]);
    }
    case 'rewind': {
      const request = {
        ...(opts.toSequence !== undefined ? { toSequence: opts.toSequence } : {}),
        ...(opts.toTime !== undefined ? { toTime: opts.toTime } : {}),
        dryRun: opts.dryRun === true,
      };
      const o = await ctx.command(organizationId, opts.json, () => deliveries.rewind(organizationId, request));
      if ('refused' in o) return 1;
      const r = o.value;
      if (r.records === 0) return say(r, [`nothing to deliver again: ${organizationId} has delivered up to ${r.deliveredSequence}`]);
      return say(r, [
        r.dryRun
          ? `would deliver ${n(r.records)} record(s) of ${organizationId} again, from sequence ${r.fromSequence} (dry run: nothing changed)`
          : `delivering ${n(r.records)} record(s) of ${organizationId} again, from sequence ${r.fromSequence}; the application skips those it applied`,
      ]);
    }
  }
}
