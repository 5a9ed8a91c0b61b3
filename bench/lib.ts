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
 * Polls `committed` every `everyMs` with the keys still waiting and records, for each key it
 * answers, the time from the key's start (the 202) to the poll that saw it committed.
 */
export class CommitWatch<K> {
  readonly latencies: number[] = [];
  private readonly waiting = new Map<K, number>();
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly committed: (keys: K[]) => Promise<K[]>,
    everyMs = 5,
  ) {
    this.loop = (async () => {
      while (!this.stopped) {
        if (this.waiting.size > 0) {
          const done = await this.committed([...this.waiting.keys()]);
          const now = performance.now();
          for (const key of done) {
            const start = this.waiting.get(key);
            if (start === undefined) continue;
            this.latencies.push(now - start);
            this.waiting.delete(key);
          }
        }
        await sleep(everyMs);
      }
    })();
  }

  start(key: K, at: number): void {
    this.waiting.set(key, at);
  }

  /** Waits until every key started is seen committed, then stops polling; answers the sorted latencies. */
  async drain(timeoutMs = 120_000): Promise<number[]> {
    try {
      await waitFor(async () => this.waiting.size === 0, timeoutMs);
    } finally {
      this.stopped = true;
      await this.loop;
    }
    return [...this.latencies].sort((a, b) => a - b);
  }
}
