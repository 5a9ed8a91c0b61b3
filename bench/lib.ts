import pg from 'pg';
import type { Webhook } from 'standardwebhooks';

/** What the benchmark scenarios share: printing, percentiles, waiting, steady senders, signed webhooks. */

export const say = (line = '') => process.stdout.write(`${line}\n`);
export const ms = (n: number) => `${n.toFixed(0)} ms`;
export const rate = (count: number, millis: number) => `${Math.round((count / millis) * 1000).toLocaleString('en-US')}/s`;
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
export const sleep = (millis: number) => new Promise<void>((r) => setTimeout(r, millis));

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export async function waitFor(fn: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('benchmark step timed out');
    await sleep(50);
  }
}

/** Sends `items` at a steady `perSecond` (open loop: a slow answer does not hold the next send back). */
export async function steady<T>(items: readonly T[], perSecond: number, send: (item: T) => Promise<void>): Promise<void> {
  const start = performance.now();
  const sent: Promise<void>[] = [];
  for (const [i, item] of items.entries()) {
    const wait = start + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    sent.push(send(item));
  }
  await Promise.all(sent);
}

/** POSTs `payload` to scimflow's webhook endpoint, signed like Scalekit signs it; resolves at the 202. */
export async function postWebhook(url: string, signer: Webhook, id: string, payload: string): Promise<void> {
  const now = new Date();
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signer.sign(id, now, payload),
    },
    body: payload,
  });
  await res.arrayBuffer();
  if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
}

/**
 * Commits as PostgreSQL announces them: triggers the benchmark adds to its own database NOTIFY a
 * key per row, and PostgreSQL delivers a notification when its transaction commits. Nothing is
 * polled, so measuring adds no load to what it measures.
 */
export class CommitNotices {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, ((at: number) => void)[]>();

  private constructor(private readonly client: pg.Client) {
    client.on('notification', (n) => {
      const at = performance.now();
      const key = `${n.channel}:${n.payload ?? ''}`;
      if (this.seen.has(key)) return;
      this.seen.set(key, at);
      for (const resolve of this.waiters.get(key) ?? []) resolve(at);
      this.waiters.delete(key);
    });
  }

  static async listen(connectionString: string, channels: string[]): Promise<CommitNotices> {
    const client = new pg.Client({ connectionString, application_name: 'bench-notices' });
    await client.connect();
    for (const channel of channels) await client.query(`LISTEN ${channel}`);
    return new CommitNotices(client);
  }

  /** When `key` was announced on `channel` (performance.now()), waiting for it if need be. */
  when(channel: string, key: string): Promise<number> {
    const at = this.seen.get(`${channel}:${key}`);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => {
      const list = this.waiters.get(`${channel}:${key}`) ?? [];
      list.push(resolve);
      this.waiters.set(`${channel}:${key}`, list);
    });
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/** The latencies `pending` resolve to, sorted; fails when they are not all known within `timeoutMs`. */
export async function latencies(pending: Promise<number>[], timeoutMs = 120_000): Promise<number[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not every commit was seen within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return (await Promise.race([Promise.all(pending), timeout])).sort((a, b) => a - b);
  } finally {
    clearTimeout(timer);
  }
}
