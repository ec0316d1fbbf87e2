/**
 * One log line per key per interval, however often the thing it reports happens: a storm (a store
 * outage, a hot wallet timing out its steps) says itself every interval, with how many lines it
 * held back, instead of flooding the log.
 */
export class LogThrottle {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    /** Keys remembered at most; past it the memory starts afresh (a key then logs once more). */
    private readonly maxKeys = 10_000,
  ) {}

  /**
   * Whether a line of `key` goes out now: undefined holds it back (and counts it); else how many
   * were held back since the key's last line, and how long ago that line was.
   */
  pass(key: string, now = Date.now()): { suppressed: number; sinceMs: number } | undefined {
    const seen = this.seen.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return undefined;
    }
    if (!seen && this.seen.size >= this.maxKeys) this.seen.clear();
    this.seen.set(key, { at: now, suppressed: 0 });
    return { suppressed: seen?.suppressed ?? 0, sinceMs: seen ? now - seen.at : 0 };
  }
}
