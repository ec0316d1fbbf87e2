/**
 * Time as the engine sees it: real in production, virtual in the testkit.
 *
 * Two clocks are involved. Due times are wall-clock instants (ms since the epoch) and live only in
 * the store; waiting in process happens on a monotonic clock, which no one can set back or forth.
 * `schedule` is given a delay computed from the wall clock at arming time (`dueAt - now()`) and
 * waits that long on the monotonic clock; whoever is woken compares the due time with `now()`
 * again and arms anew if it is not due yet. A periodic sweep of due records in the store catches
 * a wall clock set forward.
 */
export interface Clock {
  /**
   * Wall-clock time in ms, what is stored. It never goes back within a process: a wall clock set
   * back is absorbed (see SteadyWallTime), so what was due stays due.
   */
  now(): number;
  /**
   * Calls `fn` once at least `ms` have passed on the monotonic clock, never before (however early
   * the underlying timer fires); the handle cancels it. Never keeps the process alive by itself,
   * unless `keepAlive` (what `fn` does may be all the program waits for).
   */
  schedule(ms: number, fn: () => void, options?: { keepAlive?: boolean }): { cancel(): void };
}

/**
 * The wall clock as the process uses it: Date.now() while it moves forward; when the system
 * clock is set back, time carries on from where it was at the monotonic rate until the wall
 * clock catches up again. A backward step of 30 s therefore delays no due time by 30 s, and
 * nothing stamped after the step sorts before what was stamped just before it.
 */
export class SteadyWallTime {
  private baseWall = -Infinity;
  private baseMonotonic = 0;

  constructor(
    private readonly wall: () => number,
    private readonly monotonic: () => number,
  ) {}

  now(): number {
    const wall = this.wall();
    const at = this.monotonic();
    // Whole ms carried: an integer wall time stays an integer (workflow due times are INTEGER columns).
    const carried = this.baseWall + Math.floor(at - this.baseMonotonic);
    if (wall >= carried) {
      this.baseWall = wall;
      this.baseMonotonic = at;
      return wall;
    }
    return carried;
  }
}

/** The longest setTimeout waits (2^31 - 1 ms, 24.8 days); asked for more, it fires at once. */
const maxTimeoutMs = 2 ** 31 - 1;

/** The real clock: Date.now() made steady, and waits on performance.now(). */
export class SystemClock implements Clock {
  private readonly wall = new SteadyWallTime(() => Date.now(), () => performance.now());

  now(): number {
    return this.wall.now();
  }

  schedule(ms: number, fn: () => void, options?: { keepAlive?: boolean }): { cancel(): void } {
    const until = performance.now() + Math.max(0, ms);
    const unref = options?.keepAlive !== true;
    let timer: NodeJS.Timeout | undefined;
    // setTimeout counts from the event loop's cached time, which lags behind after a long
    // synchronous turn (an fsync), so it can fire early: wait again for what is left. A wait
    // longer than setTimeout allows is made of several.
    const wait = () => {
      const left = until - performance.now();
      if (left <= 0) {
        timer = undefined;
        fn();
        return;
      }
      timer = setTimeout(wait, Math.min(maxTimeoutMs, Math.ceil(left)));
      if (unref) timer.unref();
    };
    timer = setTimeout(wait, Math.min(maxTimeoutMs, Math.ceil(Math.max(0, ms))));
    if (unref) timer.unref();
    return { cancel: () => timer && clearTimeout(timer) };
  }
}

export const systemClock: Clock = new SystemClock();

/**
 * A clock that moves only when told: `advance` fires everything due, in due order. Its wall
 * clock can be stepped (`stepWall`) without moving its monotonic time, as an operator or NTP
 * setting the system clock would.
 */
export class VirtualClock implements Clock {
  /** Monotonic time: what `schedule` and `advance` count in. */
  private monotonic = 0;
  /** The raw wall clock minus monotonic time; `stepWall` changes it. */
  private wallOffset: number;
  private readonly wall = new SteadyWallTime(() => this.monotonic + this.wallOffset, () => this.monotonic);
  private nextId = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.wallOffset = start;
  }

  now(): number {
    return this.wall.now();
  }

  /** The raw wall clock, steps included (what Date.now() would say). */
  rawWall(): number {
    return this.monotonic + this.wallOffset;
  }

  /** Sets the raw wall clock forward (ms > 0) or back (ms < 0); monotonic time does not move. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
  }

  schedule(ms: number, fn: () => void): { cancel(): void } {
    const id = this.nextId++;
    this.pending.set(id, { at: this.monotonic + Math.max(0, ms), fn });
    return { cancel: () => this.pending.delete(id) };
  }

  /** Moves time on by `ms`, firing due callbacks one at a time and letting each one's work settle. */
  async advance(ms: number): Promise<void> {
    const target = this.monotonic + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.pending.delete(next[0]);
      this.monotonic = Math.max(this.monotonic, next[1].at);
      next[1].fn();
    }
    this.monotonic = target;
    await settle();
  }
}

/** Lets promises and immediates run until the process has nothing left to do right now. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
