/** Time as the engine sees it: real in production, virtual in the testkit. */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; the handle cancels it. Never keeps the process alive by itself. */
  schedule(ms: number, fn: () => void): { cancel(): void };
}

/** The longest setTimeout waits (2^31 - 1 ms, 24.8 days); asked for more, it fires at once. */
const maxTimeoutMs = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  // A callback due later than setTimeout can wait is called after 24.8 days instead of at once:
  // durable timers and workflow due times check the time when called and schedule again.
  schedule(ms, fn) {
    const timer = setTimeout(fn, Math.min(maxTimeoutMs, Math.max(0, ms)));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** A clock that moves only when told: `advance` fires everything due, in due order. */
export class VirtualClock implements Clock {
  private current: number;
  private nextId = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  schedule(ms: number, fn: () => void): { cancel(): void } {
    const id = this.nextId++;
    this.pending.set(id, { at: this.current + Math.max(0, ms), fn });
    return { cancel: () => this.pending.delete(id) };
  }

  /** Moves time on by `ms`, firing due callbacks one at a time and letting each one's work settle. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.pending.delete(next[0]);
      this.current = Math.max(this.current, next[1].at);
      next[1].fn();
    }
    this.current = target;
    await settle();
  }
}

/** Lets promises and immediates run until the process has nothing left to do right now. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
