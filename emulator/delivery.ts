import { Webhook } from 'standardwebhooks';
import { Rng } from './random';
import type { WebhookPayload } from './webhook-payloads';

/**
 * Webhook delivery the way Scalekit does it (through Svix): POST the signed JSON to the endpoint;
 * 200/201/202 is success; any other status, a connection error or a timeout is retried on the
 * 8-attempt schedule. Faults (drop, duplicate, reorder, delay) are decided from a seeded PRNG at
 * enqueue time, and attempts run one at a time in (due time, sequence) order, so one seed and one
 * script give one delivery log.
 */

/** Delays before attempts 1..8, in ms: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

const SUCCESS = new Set([200, 201, 202]);

/** An event as emitted: its payload and the exact bytes every delivery of it carries. */
export interface EmittedEvent {
  id: string;
  /** Standard Webhooks message id (`msg_…`): stable across retries and duplicates. */
  webhookId: string;
  type: WebhookPayload['type'];
  organizationId: string;
  occurredAt: string;
  payload: WebhookPayload;
  body: string;
}

export interface FaultOptions {
  /** Seed of the fault decisions; defaults to the emulator's seed. Setting faults restarts the stream. */
  seed?: number;
  /** Fraction of events never delivered (logged with outcome `dropped`). */
  dropRate?: number;
  /** Fraction of events delivered twice (same webhook-id and body; the copy has `copy: 1`). */
  duplicateRate?: number;
  /** Events are released in seeded-shuffled groups of this size (0 or 1: in order). */
  reorderWindow?: number;
  /**
   * Fraction of events whose first attempt is held back by a delay in [delayMinMs, delayMaxMs].
   * Later events wait behind a delayed one (use reorderWindow to reorder).
   */
  delayRate?: number;
  delayMinMs?: number;
  delayMaxMs?: number;
}

export interface DeliveryLogEntry {
  /** Position in the log. */
  seq: number;
  eventId: string;
  webhookId: string;
  type: string;
  organizationId: string;
  /** 1..8; a dropped event is logged once with attempt 1. */
  attempt: number;
  /** 0 for the event itself, 1 for an injected duplicate. */
  copy: number;
  outcome: 'delivered' | 'failed' | 'dropped';
  /** HTTP status, when a response arrived. */
  status?: number;
  /** Connection error or timeout description. */
  error?: string;
  /** When the attempt started (ISO). */
  at: string;
  durationMs?: number;
  /** For failed attempts with attempts left: when the next one is due (ISO). */
  nextAttemptAt?: string;
  /** Failed, and it was the last attempt. */
  exhausted?: boolean;
}

export interface DeliveryOptions {
  secrets: () => readonly string[];
  timeScale: number;
  timeoutMs: number;
  seed: number;
  /** How many attempts may be in flight at once; 1 keeps the log reproducible. */
  concurrency: number;
  /** How long a partly filled reorder window waits for more events before it is released. */
  reorderFlushMs?: number;
  onAttempt?: (entry: DeliveryLogEntry) => void;
  /** Called whenever what waits to be delivered changes (the emulator saves its state on it). */
  onChange?: () => void;
  /** Start with deliveries held until resume() (queued events wait, nothing is sent). */
  paused?: boolean;
}

/** A delivery still to be made, as saved with the emulator's state. */
export interface PendingDelivery {
  event: EmittedEvent;
  url: string;
  copy: number;
  /** Attempts already made (and failed). */
  attempts: number;
  /** When the next attempt is due (epoch ms). */
  dueAt: number;
}

interface Message {
  event: EmittedEvent;
  url: string;
  copy: number;
  /** Attempts made so far. */
  attempts: number;
  dueAt: number;
  seq: number;
  /** The engine generation it belongs to: a reset orphans in-flight attempts. */
  generation: number;
}

/** Min-heap on (dueAt, seq). */
class MessageHeap {
  private readonly items: Message[] = [];

  get size(): number {
    return this.items.length;
  }

  private less(a: Message, b: Message): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  push(m: Message): void {
    const a = this.items;
    a.push(m);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  values(): readonly Message[] {
    return this.items;
  }

  peek(): Message | undefined {
    return this.items[0];
  }

  pop(): Message | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

export function signatureHeader(secrets: readonly string[], webhookId: string, at: Date, body: string): string {
  // One `v1,<sig>` entry per secret, space-separated, as during a key rotation.
  return secrets.map((s) => new Webhook(s).sign(webhookId, at, body)).join(' ');
}

export class DeliveryEngine {
  private readonly log: DeliveryLogEntry[] = [];
  private readonly queue = new MessageHeap();
  private holding: Message[] = [];
  private holdTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private inFlight = 0;
  private readonly controllers = new Set<AbortController>();
  private seq = 0;
  private faults: FaultOptions = {};
  private faultRng: Rng;
  /** Shuffles draw from their own stream, so per-event decisions do not depend on release timing. */
  private shuffleRng: Rng;
  private waiters: (() => void)[] = [];
  private closed = false;
  private generation = 0;
  private lastFirstDue = 0;
  private paused: boolean;
  private readonly flying = new Set<Message>();

  constructor(private readonly options: DeliveryOptions) {
    this.paused = options.paused === true;
    this.faultRng = new Rng(options.seed ^ 0xfa017);
    this.shuffleRng = new Rng(options.seed ^ 0x5b0ff1e);
  }

  setFaults(faults: FaultOptions): void {
    for (const key of ['dropRate', 'duplicateRate', 'delayRate'] as const) {
      const v = faults[key];
      if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`${key} must be between 0 and 1`);
    }
    this.faults = { ...faults };
    this.faultRng = new Rng((faults.seed ?? this.options.seed) ^ 0xfa017);
    this.shuffleRng = new Rng((faults.seed ?? this.options.seed) ^ 0x5b0ff1e);
  }

  getFaults(): FaultOptions {
    return { ...this.faults };
  }

  entries(): DeliveryLogEntry[] {
    return this.log.map((e) => ({ ...e }));
  }

  clearLog(): void {
    this.log.length = 0;
  }

  /** Nothing held, queued or in flight. */
  isSettled(): boolean {
    return this.holding.length === 0 && this.queue.size === 0 && this.inFlight === 0;
  }

  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private checkSettled(): void {
    if (!this.isSettled()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Every delivery not made yet: queued, held for reordering, or in flight (to be sent again). */
  pending(): PendingDelivery[] {
    const all = [...this.queue.values(), ...this.holding, ...this.flying].filter((m) => m.generation === this.generation);
    return all
      .sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq)
      .map((m) => ({
        event: m.event,
        url: m.url,
        copy: m.copy,
        attempts: this.flying.has(m) ? m.attempts - 1 : m.attempts,
        dueAt: m.dueAt,
      }));
  }

  /** Queues saved deliveries again, in their order (no fault decisions: they were made already). */
  restorePending(pending: readonly PendingDelivery[]): void {
    for (const p of pending) {
      this.schedule({
        event: p.event,
        url: p.url,
        copy: p.copy,
        attempts: p.attempts,
        dueAt: p.dueAt,
        seq: 0,
        generation: this.generation,
      });
      this.lastFirstDue = Math.max(this.lastFirstDue, p.dueAt);
    }
    this.pump();
  }

  /** Starts sending what is queued (after `paused: true`). */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  enqueue(event: EmittedEvent, url: string): void {
    if (this.closed) return;
    const f = this.faults;
    const rng = this.faultRng;
    const now = Date.now();
    // Draw every decision for every event, so one event's fault does not shift the next one's.
    const drop = rng.chance(f.dropRate ?? 0);
    const duplicate = rng.chance(f.duplicateRate ?? 0);
    const delayed = rng.chance(f.delayRate ?? 0);
    const min = f.delayMinMs ?? 0;
    const max = Math.max(min, f.delayMaxMs ?? min);
    const delay = rng.int(min, max);
    if (drop) {
      this.record({ event, copy: 0, attempt: 1, outcome: 'dropped', at: now });
      return;
    }
    // First attempts never overtake each other (only reorderWindow reorders): a delay holds an
    // event, and those behind it, back. That keeps the log a function of the seed, not of timing.
    const dueAt = Math.max(now + (delayed ? delay : 0), this.lastFirstDue);
    this.lastFirstDue = dueAt;
    const copies = duplicate ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const message: Message = { event, url, copy, attempts: 0, dueAt, seq: 0, generation: this.generation };
      if ((f.reorderWindow ?? 0) > 1) this.hold(message);
      else this.schedule(message);
    }
    this.pump();
  }

  private schedule(message: Message): void {
    message.seq = this.seq++;
    this.queue.push(message);
  }

  private hold(message: Message): void {
    this.holding.push(message);
    if (this.holding.length >= (this.faults.reorderWindow ?? 0)) this.releaseHeld();
    else if (!this.holdTimer) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = undefined;
        this.releaseHeld();
        this.pump();
      }, this.options.reorderFlushMs ?? 25);
    }
  }

  private releaseHeld(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const batch = this.shuffleRng.shuffle(this.holding);
    this.holding = [];
    // Released together: one due time, so the shuffled order is the delivery order.
    const base = Math.max(...batch.map((m) => m.dueAt));
    for (const m of batch) {
      m.dueAt = Math.max(m.dueAt, base);
      this.schedule(m);
    }
  }

  private pump(): void {
    this.options.onChange?.();
    if (this.closed || this.paused) return;
    while (this.inFlight < this.options.concurrency) {
      const next = this.queue.peek();
      if (!next) break;
      const now = Date.now();
      if (next.dueAt > now) {
        this.wake(next.dueAt);
        break;
      }
      this.queue.pop();
      this.inFlight++;
      this.flying.add(next);
      void this.attempt(next);
    }
    this.checkSettled();
  }

  private wake(at: number): void {
    if (this.wakeTimer && this.wakeAt <= at) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.wakeAt = Infinity;
        this.pump();
      },
      Math.max(0, at - Date.now()),
    );
  }

  private async attempt(message: Message): Promise<void> {
    message.attempts++;
    const started = Date.now();
    const controller = new AbortController();
    this.controllers.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    let status: number | undefined;
    let error: string | undefined;
    try {
      const at = new Date();
      const { event } = message;
      const response = await fetch(message.url, {
        method: 'POST',
        body: event.body,
        redirect: 'manual',
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Svix-Webhooks/1.0 (scimflow-emulator)',
          'webhook-id': event.webhookId,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signatureHeader(this.options.secrets(), event.webhookId, at, event.body),
        },
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      const cause = (reason as { cause?: { code?: string; message?: string } })?.cause;
      error = cause?.code ?? cause?.message ?? (reason as Error)?.message ?? String(reason);
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
    this.flying.delete(message);
    if (this.closed) return;
    this.inFlight--;
    if (message.generation !== this.generation) {
      this.pump();
      return;
    }
    const ok = status !== undefined && SUCCESS.has(status);
    const base = { event: message.event, copy: message.copy, attempt: message.attempts, at: started, status, error };
    if (ok) {
      this.record({ ...base, outcome: 'delivered', durationMs: Date.now() - started });
    } else if (message.attempts < RETRY_SCHEDULE_MS.length) {
      const delay = (RETRY_SCHEDULE_MS[message.attempts] ?? 0) * this.options.timeScale;
      message.dueAt = Date.now() + delay;
      this.record({ ...base, outcome: 'failed', durationMs: Date.now() - started, nextAttemptAt: message.dueAt });
      this.schedule(message);
    } else {
      this.record({ ...base, outcome: 'failed', durationMs: Date.now() - started, exhausted: true });
    }
    this.pump();
  }

  private record(r: {
    event: EmittedEvent;
    copy: number;
    attempt: number;
    outcome: DeliveryLogEntry['outcome'];
    at: number;
    status?: number | undefined;
    error?: string | undefined;
    durationMs?: number;
    nextAttemptAt?: number;
    exhausted?: boolean;
  }): void {
    const entry: DeliveryLogEntry = {
      seq: this.log.length,
      eventId: r.event.id,
      webhookId: r.event.webhookId,
      type: r.event.type,
      organizationId: r.event.organizationId,
      attempt: r.attempt,
      copy: r.copy,
      outcome: r.outcome,
      at: new Date(r.at).toISOString(),
    };
    if (r.status !== undefined) entry.status = r.status;
    if (r.error !== undefined) entry.error = r.error;
    if (r.durationMs !== undefined) entry.durationMs = r.durationMs;
    if (r.nextAttemptAt !== undefined) entry.nextAttemptAt = new Date(r.nextAttemptAt).toISOString();
    if (r.exhausted) entry.exhausted = true;
    this.log.push(entry);
    this.options.onAttempt?.(entry);
  }

  /** Forget everything queued (reset); the log is kept unless cleared separately. */
  cancelAll(): void {
    this.generation++;
    this.lastFirstDue = 0;
    this.queue.clear();
    this.flying.clear();
    this.holding = [];
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    for (const c of this.controllers) c.abort(new Error('emulator reset'));
    this.checkSettled();
  }

  close(): void {
    this.closed = true;
    this.cancelAll();
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.inFlight = 0;
    this.checkSettled();
  }
}
