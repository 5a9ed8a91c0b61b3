import { describe, expect, it } from 'vitest';
import { Lock } from '../../workflows/lock';

/** Settles every pending promise callback. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Lock', () => {
  it('a free lock is taken at once, synchronously; a held one is not', () => {
    const lock = new Lock();
    const release = lock.tryAcquire();
    expect(release).not.toBeNull();
    expect([lock.held, lock.tryAcquire()]).toEqual([true, null]);
    release!();
    expect(lock.held).toBe(false);
    expect(lock.tryAcquire()).not.toBeNull();
  });

  it('a section that finds the lock free starts before run() returns (no tick in between)', () => {
    const lock = new Lock();
    const steps: string[] = [];
    void lock.run(async () => {
      steps.push('section');
    });
    steps.push('after run()');
    expect(steps).toEqual(['section', 'after run()']);
  });

  it('sections run one at a time, in the order they asked, never overlapping', async () => {
    const lock = new Lock();
    const steps: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    let inside = 0;
    let most = 0;
    const runs = gates.map((gate, i) =>
      lock.run(async () => {
        inside += 1;
        most = Math.max(most, inside);
        steps.push(`start ${i}`);
        await gate.promise;
        steps.push(`end ${i}`);
        inside -= 1;
        return i;
      }),
    );
    await settle();
    expect([steps, lock.queued]).toEqual([['start 0'], 2]);
    // Finishing out of order changes nothing: the second waits for the first.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(steps).toEqual(['start 0']);
    gates[0]!.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(steps).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect([most, lock.held, lock.queued]).toEqual([1, false, 0]);
  });

  it('a failing section releases the lock to the next one', async () => {
    const lock = new Lock();
    const failed = lock.run(async () => {
      throw new Error('refused');
    });
    const next = lock.run(async () => 'ran');
    await expect(failed).rejects.toThrow('refused');
    await expect(next).resolves.toBe('ran');
    expect(lock.held).toBe(false);
  });

  it('a lock handed over is not taken in between, and a release twice releases once', async () => {
    const lock = new Lock();
    const first = lock.tryAcquire()!;
    const second = lock.acquire();
    first();
    first();
    // Handed to the waiting section: still held, and a newcomer does not take it.
    expect([lock.held, lock.tryAcquire()]).toEqual([true, null]);
    const release = await second;
    expect(lock.held).toBe(true);
    release();
    expect(lock.held).toBe(false);
  });
});
