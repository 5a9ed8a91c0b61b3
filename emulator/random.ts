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

/** Scalekit-looking numeric ids (`diruser_53891546960887884`): increasing, unique, seeded. */
export class IdFactory {
  private last: bigint;
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed ^ 0x5eed1d5);
    // 17 digits, like Scalekit's; the seed moves the starting point so two emulators differ.
    this.last = 50_000_000_000_000_000n + BigInt(this.rng.int(0, 999_999)) * 1_000_000_000n;
  }

  next(prefix: string): string {
    this.last += BigInt(this.rng.int(1, 4096));
    return `${prefix}${this.last.toString()}`;
  }
}
