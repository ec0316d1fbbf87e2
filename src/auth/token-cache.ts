import type { Principal } from "../define/auth.ts";

interface Entry {
  readonly principal: Principal;
  /** Epoch ms after which the entry is no longer used. */
  readonly until: number;
  /** The key-set generation it was verified against (a JWKS change invalidates it). */
  readonly generation: number;
}

/**
 * Verified tokens by their exact bytes, least recently used dropped first, each kept until the
 * token expires (or `maxAgeMs`, whichever comes first). A hit skips the signature check only: the
 * bytes are the ones that were verified, so the claims are the same.
 */
export class TokenCache {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly capacity: number,
    private readonly maxAgeMs: number,
  ) {}

  get(token: string, now: number, generationOf: (principal: Principal) => number): Principal | undefined {
    if (this.capacity <= 0) return undefined;
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    this.#entries.delete(token);
    if (now >= entry.until || generationOf(entry.principal) !== entry.generation) return undefined;
    this.#entries.set(token, entry); // most recently used last
    return entry.principal;
  }

  set(token: string, principal: Principal, expiresAtMs: number | undefined, now: number, generation: number): void {
    if (this.capacity <= 0) return;
    const until = Math.min(expiresAtMs ?? Number.POSITIVE_INFINITY, now + this.maxAgeMs);
    if (until <= now) return;
    this.#entries.delete(token);
    this.#entries.set(token, { principal, until, generation });
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
