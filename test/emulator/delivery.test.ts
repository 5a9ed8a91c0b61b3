import { ScalekitClient } from '@scalekit-sdk/node';
import { afterEach, describe, expect, it } from 'vitest';
import { RETRY_SCHEDULE_MS, startEmulator, type DeliveryLogEntry, type FaultOptions } from '../../emulator';
import { startReceiver } from './receiver';

// Delivery like Scalekit/Svix: 200/201/202 succeed, anything else is retried on the 8-attempt
// schedule (time-scaled here); faults are a function of the seed.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(options: Parameters<typeof startEmulator>[0], respond?: Parameters<typeof startReceiver>[0]) {
  const receiver = await startReceiver(respond);
  const emu = await startEmulator({ webhookUrl: receiver.url, ...options });
  cleanups.push(
    () => receiver.close(),
    () => emu.close(),
  );
  return { emu, receiver };
}

/** Time from the end of each attempt to the start of the next: what the schedule prescribes. */
const gaps = (entries: DeliveryLogEntry[]) =>
  entries.slice(1).map((e, i) => Date.parse(e.at) - (Date.parse(entries[i]!.at) + (entries[i]!.durationMs ?? 0)));

describe('retries', () => {
  it('retries on the scaled schedule until the receiver answers 2xx', async () => {
    const scale = 0.0002; // 5 s → 1 ms, 5 min → 60 ms, 30 min → 360 ms
    const { emu, receiver } = await setup({ seed: 31, timeScale: scale }, (_body, _h, n) => (n < 3 ? 500 : 200));
    emu.createOrganization({ displayName: 'Retry Co' });
    await emu.settled(10_000);

    const log = emu.deliveryLog();
    expect(log.map((e) => [e.attempt, e.outcome, e.status])).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'failed', 500],
      [4, 'delivered', 200],
    ]);
    expect(receiver.received).toHaveLength(4);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    const g = gaps(log);
    const scheduled = RETRY_SCHEDULE_MS.slice(1, 4).map((ms) => ms * scale);
    g.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(scheduled[i]! - 3));
    expect(g[0]!).toBeLessThan(g[1]!);
    expect(g[1]!).toBeLessThan(g[2]!);
    expect(log[0]!.nextAttemptAt).toBeDefined();
  });

  it('gives up after eight attempts, re-stamping webhook-timestamp on each one', async () => {
    const scale = 0.00005; // the whole ~27 h schedule in about 5 s
    const { emu, receiver } = await setup({ seed: 32, timeScale: scale }, () => 503);
    const sdk = new ScalekitClient(emu.url, emu.clientId, emu.clientSecret);
    emu.createOrganization({ displayName: 'Never Co' });
    await emu.settled(30_000);

    const log = emu.deliveryLog();
    expect(log.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(log.every((e) => e.outcome === 'failed' && e.status === 503)).toBe(true);
    expect(log[7]!.exhausted).toBe(true);
    expect(log[7]!.nextAttemptAt).toBeUndefined();
    const g = gaps(log);
    const scheduled = RETRY_SCHEDULE_MS.slice(1).map((ms) => ms * scale);
    g.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(scheduled[i]! - 3));
    // In schedule order (the 0.25 ms first gap is within timer jitter of the 15 ms one, so it is
    // compared with the 90 ms gap instead).
    expect(g[0]!).toBeLessThan(g[2]!);
    for (let i = 1; i < 5; i++) expect(g[i]!).toBeLessThan(g[i + 1]!);

    // Each attempt is signed at its own time (a replayed first timestamp would drift away).
    const stamps = receiver.received.map((r) => Number(r.headers['webhook-timestamp']));
    receiver.received.forEach((r, i) => expect(Math.abs(stamps[i]! - Math.floor(r.receivedAt / 1000))).toBeLessThanOrEqual(1));
    expect(stamps[7]!).toBeGreaterThan(stamps[0]!);
    for (const r of receiver.received) expect(sdk.verifyWebhookPayload(emu.webhookSecrets[0]!, r.headers, r.body)).toBe(true);
    await sleep(50);
    expect(receiver.received).toHaveLength(8);
  });

  it('counts only 200, 201 and 202 as success', async () => {
    const statuses = [204, 301, 201];
    const { emu } = await setup({ seed: 33, timeScale: 0.0001 }, (_b, _h, n) => statuses[n] ?? 200);
    emu.createOrganization({ displayName: 'Status Co' });
    await emu.settled(10_000);
    expect(emu.deliveryLog().map((e) => [e.outcome, e.status])).toEqual([
      ['failed', 204],
      ['failed', 301],
      ['delivered', 201],
    ]);
  });

  it('treats a timeout and a refused connection as failures', async () => {
    const { emu } = await setup({ seed: 34, timeScale: 0.0001, deliveryTimeoutMs: 100 }, async (_b, _h, n) => {
      if (n === 0) await sleep(400);
      return 200;
    });
    emu.createOrganization({ displayName: 'Slow Co' });
    await emu.settled(10_000);
    const log = emu.deliveryLog();
    expect(log[0]).toMatchObject({ attempt: 1, outcome: 'failed' });
    expect(log[0]!.error).toMatch(/timed out/);
    expect(log.at(-1)).toMatchObject({ outcome: 'delivered', status: 200 });

    const closed = await startReceiver();
    const deadUrl = closed.url;
    await closed.close();
    const refused = await startEmulator({ seed: 35, webhookUrl: deadUrl, timeScale: 0.0001 });
    cleanups.push(() => refused.close());
    refused.createOrganization({ displayName: 'Nobody Home' });
    await sleep(100);
    const first = refused.deliveryLog()[0];
    expect(first).toMatchObject({ attempt: 1, outcome: 'failed' });
    expect(first!.error).toMatch(/ECONNREFUSED|fetch failed/);
    expect(first!.status).toBeUndefined();
  });
});

describe('faults', () => {
  const FAULTS: FaultOptions = {
    dropRate: 0.2,
    duplicateRate: 0.2,
    reorderWindow: 4,
    delayRate: 0.3,
    delayMinMs: 1,
    delayMaxMs: 15,
  };

  async function scenario(faultSeed: number) {
    const { emu, receiver } = await setup({ seed: 41, faults: { ...FAULTS, seed: faultSeed } });
    const org = emu.createOrganization({ displayName: 'Chaos Co' });
    for (let i = 0; i < 30; i++) emu.createUser(org.id, { email: `user${i}@chaos.example` });
    await emu.settled(10_000);
    const project = (e: DeliveryLogEntry) => `${e.eventId}#${e.copy}:${e.attempt}:${e.outcome}`;
    return {
      emitted: emu.events().map((e) => e.id),
      log: emu.deliveryLog().map(project),
      entries: emu.deliveryLog(),
      receivedIds: receiver.received.map((r) => (JSON.parse(r.body) as { id: string }).id),
      receivedWebhookIds: receiver.received.map((r) => r.headers['webhook-id']),
    };
  }

  it('reproduces the same delivery log from the same seed', async () => {
    const a = await scenario(7);
    const b = await scenario(7);
    expect(b.emitted).toEqual(a.emitted);
    expect(b.log).toEqual(a.log);
    expect(b.receivedIds).toEqual(a.receivedIds);
    const c = await scenario(8);
    expect(c.emitted).toEqual(a.emitted);
    expect(c.log).not.toEqual(a.log);
  });

  it('drops, duplicates and reorders deliveries as configured', async () => {
    const run = await scenario(7);
    const dropped = run.entries.filter((e) => e.outcome === 'dropped').map((e) => e.eventId);
    const duplicated = run.entries.filter((e) => e.copy === 1).map((e) => e.eventId);
    expect(dropped.length).toBeGreaterThan(0);
    expect(duplicated.length).toBeGreaterThan(0);
    // Dropped: logged, never delivered.
    for (const id of dropped) expect(run.receivedIds).not.toContain(id);
    // Duplicated: delivered twice with one webhook-id.
    for (const id of duplicated) expect(run.receivedIds.filter((r) => r === id)).toHaveLength(2);
    // Everything not dropped arrives; the order differs from emission order.
    const expected = run.emitted.filter((id) => !dropped.includes(id));
    expect(new Set(run.receivedIds)).toEqual(new Set(expected));
    const firstArrivals = run.receivedIds.filter((id, i) => run.receivedIds.indexOf(id) === i);
    expect(firstArrivals).not.toEqual(expected);
    expect(run.receivedWebhookIds.length).toBe(run.receivedIds.length);
  });

  it('delivers in emission order without faults and settles through the control endpoint', async () => {
    const { emu, receiver } = await setup({ seed: 42 });
    const org = emu.createOrganization({ displayName: 'Calm Co' });
    for (let i = 0; i < 10; i++) emu.createUser(org.id, { email: `calm${i}@calm.example` });
    const res = await fetch(`${emu.url}/_emulator/deliveries/settle?timeoutMs=5000`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ settled: true });
    expect(receiver.received.map((r) => (JSON.parse(r.body) as { id: string }).id)).toEqual(emu.events().map((e) => e.id));
    const log = (await (await fetch(`${emu.url}/_emulator/deliveries`)).json()) as { deliveries: DeliveryLogEntry[]; settled: boolean };
    expect(log.settled).toBe(true);
    expect(log.deliveries).toHaveLength(11);
    expect(log.deliveries.every((d) => d.outcome === 'delivered' && d.attempt === 1)).toBe(true);
  });

  it('answers 408 from the settle endpoint while deliveries are still pending', async () => {
    const { emu } = await setup({ seed: 43, timeScale: 1 }, () => 500);
    emu.createOrganization({ displayName: 'Pending Co' });
    const res = await fetch(`${emu.url}/_emulator/deliveries/settle?timeoutMs=200`, { method: 'POST' });
    expect(res.status).toBe(408);
    await expect(emu.settled(100)).rejects.toThrow(/not settled/);
    expect(emu.deliveryLog()[0]).toMatchObject({ attempt: 1, outcome: 'failed', status: 500 });
  });
});
