import type { StoreUnavailableError, StoreUnavailableReason } from "../define/errors.ts";

/** Whether the store is taking work, as `/health` and the admin API show it. */
export type StoreStatus =
  | { status: "ok" }
  | { status: "unavailable"; reason: StoreUnavailableReason; message: string; /** epoch ms of the first failure of this outage */ since: number; /** epoch ms of the latest */ lastAt: number };

/**
 * What an adapter remembers of its latest outage, for `Store.status()`: set by a failure, cleared
 * by the next success. An outage not seen again for `forgetAfterMs` is taken to be over (nothing
 * may have tried to write since), so a quiet service does not report an old outage forever.
 */
export class OutageTracker {
  #current: { reason: StoreUnavailableReason; message: string; since: number; lastAt: number } | undefined;

  constructor(private readonly forgetAfterMs = 30_000) {}

  failed(error: StoreUnavailableError, now = Date.now()): void {
    const since = this.#current?.reason === error.reason ? this.#current.since : now;
    this.#current = { reason: error.reason, message: error.message, since, lastAt: now };
  }

  succeeded(): void {
    this.#current = undefined;
  }

  status(now = Date.now()): StoreStatus {
    const c = this.#current;
    if (c === undefined || now - c.lastAt > this.forgetAfterMs) return { status: "ok" };
    return { status: "unavailable", ...c };
  }
}
