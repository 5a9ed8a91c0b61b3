/**
 * Seeded randomness. Everything the emulator invents (ids, generated people, fault decisions)
 * comes from a seeded generator, so one seed replays one scenario exactly.
 */

/** mulberry32: a tiny 32-bit PRNG; plenty for test data and fault injection, not for secrets. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Fisher–Yates in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** A derived generator, so independent streams (ids, faults, people) do not disturb each other. */
  fork(salt: number): Rng {
    return new Rng((Math.floor(this.next() * 4294967296) ^ Math.imul(salt, 0x9e3779b1)) >>> 0);
  }
}

/** Where Scalekit-looking ids start: 17 digits, like Scalekit's. */
const ID_BASE = 50_000_000_000_000_000n;

/**
 * Scalekit-looking numeric ids (`diruser_53891546960887884`): increasing, unique, seeded.
 *
 * By default the sequence is a function of the seed alone, so a fresh emulator with one seed
 * hands out the same ids (reproducible tests). With `timeBased`, every id is also at least the
 * current time (in 100 ns steps above the base), so an emulator started again (its saved state
 * lost or not) never hands out an id it handed out before; `restore` continues a saved sequence.
 */
export class IdFactory {
  private last: bigint;
  private readonly rng: Rng;
  private readonly timeBased: boolean;

  constructor(seed: number, options: { timeBased?: boolean } = {}) {
    this.rng = new Rng(seed ^ 0x5eed1d5);
    this.timeBased = options.timeBased === true;
    // The seed moves the starting point so two emulators differ.
    this.last = ID_BASE + BigInt(this.rng.int(0, 999_999)) * 1_000_000_000n;
    if (this.timeBased) this.last = 0n;
  }

  next(prefix: string): string {
    // Time-based ids step by less, so that even a burst (a 100,000-user directory) stays
    // within a second or so of the clock.
    this.last += BigInt(this.timeBased ? this.rng.int(1, 64) : this.rng.int(1, 4096));
    if (this.timeBased) {
      const now = ID_BASE + BigInt(Date.now()) * 10_000n;
      if (this.last < now) this.last = now + BigInt(this.rng.int(0, 9_999));
    }
    return `${prefix}${this.last.toString()}`;
  }

  /** The last number handed out (to save). */
  get position(): string {
    return this.last.toString();
  }

  /** Continues after a saved position (never goes back). */
  restore(position: string): void {
    const saved = BigInt(position);
    if (saved > this.last) this.last = saved;
  }
}
