/**
 * Counting and timing calls to a store's methods. SqliteStore's methods do all their work
 * synchronously before returning a settled promise, so the time around a call is the time the
 * event loop is blocked by it, fsync included.
 */

/** Calls, items they handled (what counts as one is the caller's choice) and the time spent in them. */
export interface Stat {
  calls: number;
  items: number;
  ms: number;
}

export const newStat = (): Stat => ({ calls: 0, items: 0, ms: 0 });

/**
 * `original`, counted and timed into `stat`; `after` sees each call's arguments and result.
 *
 * @example
 * store.dueTimers = timed(stat, store.dueTimers.bind(store), (_args, due) => (stat.items += due.length));
 */
export function timed<A extends unknown[], R>(
  stat: Stat,
  original: (...args: A) => Promise<R>,
  after?: (args: A, result: R) => void,
): (...args: A) => Promise<R> {
  return (...args: A): Promise<R> => {
    const t0 = performance.now();
    const promise = original(...args);
    stat.ms += performance.now() - t0;
    stat.calls++;
    return after ? promise.then((result) => (after(args, result), result)) : promise;
  };
}
