/**
 * Lets async sections of a workflow run one at a time, in the order they asked. Taking a free
 * lock is synchronous (`tryAcquire`), so a section that finds it free starts exactly when it is
 * called: its commands keep the order they have without a lock. Plain promises, no timers:
 * deterministic in workflow code.
 *
 *   const release = lock.tryAcquire() ?? (await lock.acquire());
 *   try { ... } finally { release(); }
 */
export class Lock {
  private locked = false;
  private readonly waiting: (() => void)[] = [];

  /** A section holds the lock. */
  get held(): boolean {
    return this.locked;
  }

  /** Sections waiting for the lock. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Takes the lock if it is free: its release, else null. */
  tryAcquire(): (() => void) | null {
    if (this.locked) return null;
    this.locked = true;
    return this.releaser();
  }

  /** Takes the lock once the sections that asked before have released it. */
  acquire(): Promise<() => void> {
    const release = this.tryAcquire();
    if (release) return Promise.resolve(release);
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  /** Runs `section` holding the lock. */
  async run<T>(section: () => Promise<T>): Promise<T> {
    const release = this.tryAcquire() ?? (await this.acquire());
    try {
      return await section();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Handed straight to the next section: nothing can take it in between.
      const next = this.waiting.shift();
      if (next) next();
      else this.locked = false;
    };
  }
}
