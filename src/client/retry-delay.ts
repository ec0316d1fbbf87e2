/**
 * How long the HTTP client waits before trying a request again. Pure (time and randomness come
 * in as arguments), so the rule can be read and tested on its own.
 */

/**
 * The bounds of the client's retries.
 *
 * @example
 * httpClient(url, { retryTiming: { initialDelayMs: 100, maxDelayMs: 1_000 } });
 */
export interface RetryTiming {
  /** Wait before the first retry when the server gives no `Retry-After`; doubles each time. */
  initialDelayMs: number;
  /** Longest wait, whatever `Retry-After` asks for: a client should not hang for minutes. */
  maxDelayMs: number;
}

/** 200 ms, doubling, at most 5 s: e.g. `{ ...defaultRetryTiming, maxDelayMs: 1_000 }`. */
export const defaultRetryTiming: RetryTiming = { initialDelayMs: 200, maxDelayMs: 5_000 };

/**
 * A `Retry-After` header in milliseconds: whole seconds (`"2"`) or an HTTP date; `undefined`
 * when absent or unreadable.
 *
 * @example
 * retryAfterMs("2", Date.now()); // 2000
 */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date has a day's name (`Wed, 21 Oct 2015 07:28:00 GMT`); `Date.parse` alone would
  // also take "-1" or "2" as years.
  if (!/^[A-Za-z]{3},/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before retry number `retry` (1 for the first): the server's `Retry-After` when it
 * gave one, else an exponential back-off; capped at `maxDelayMs`. Jitter only adds (up to half
 * the wait, plus up to 100 ms, within the cap), since `Retry-After` is the earliest the server
 * wants to hear again; it spreads out the retries of many clients that were refused together.
 *
 * @example
 * retryDelayMs(1, "0", defaultRetryTiming); // between 0 and 100
 */
export function retryDelayMs(
  retry: number,
  retryAfter: string | null,
  timing: RetryTiming,
  now = Date.now(),
  random: () => number = Math.random,
): number {
  const asked = retryAfterMs(retryAfter, now) ?? timing.initialDelayMs * 2 ** (retry - 1);
  const base = Math.min(asked, timing.maxDelayMs);
  return Math.min(timing.maxDelayMs, base + random() * (base / 2 + 100));
}
