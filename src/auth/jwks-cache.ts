import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTHeaderParameters, type FlattenedJWSInput } from "jose";

/** Why a key could not be found; the authenticator turns it into a 401. */
export class KeyLookupError extends Error {
  constructor(
    readonly code: "unknown_key" | "jwks_unavailable",
    message: string,
  ) {
    super(message);
  }
}

export interface JwksCacheOptions {
  /** Smallest time between two fetches caused by unknown `kid`s (default 30 s). */
  readonly refetchIntervalMs?: number;
  /** After this long the set is refreshed in the background; the old keys serve meanwhile (default 10 min). */
  readonly maxAgeMs?: number;
  /** Time limit of one fetch (default 5 s). */
  readonly fetchTimeoutMs?: number;
  readonly now?: () => number;
  readonly fetch?: typeof globalThis.fetch;
  readonly log?: (line: string) => void;
}

type KeyGetter = ReturnType<typeof createLocalJWKSet>;
type Key = Awaited<ReturnType<KeyGetter>>;

/**
 * The keys of one JWKS URL. Fetched on first use; refetched when a token names a `kid` the set
 * does not hold, at most once per `refetchIntervalMs` (so a flood of made-up kids costs one fetch
 * per interval); refreshed in the background when older than `maxAgeMs`. A failed fetch keeps the
 * keys already held, so an outage of the JWKS server only refuses tokens whose key is not cached.
 */
export class JwksCache {
  #keys: KeyGetter | undefined;
  #fetchedAt = 0;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  #generation = 0;
  #lastJson = "";
  /** Why the latest fetch failed; undefined once one succeeds. */
  #lastFailure: string | undefined;
  readonly #refetchIntervalMs: number;
  readonly #maxAgeMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #log: (line: string) => void;
  /** How many fetches were started (for tests and the admin view). */
  fetches = 0;

  constructor(
    readonly url: string,
    options: JwksCacheOptions = {},
  ) {
    this.#refetchIntervalMs = options.refetchIntervalMs ?? 30_000;
    this.#maxAgeMs = options.maxAgeMs ?? 600_000;
    this.#timeoutMs = options.fetchTimeoutMs ?? 5_000;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#log = options.log ?? ((line) => console.error(line));
  }

  /** Changes each time a fetch brings a different key set (cached verifications of older sets are dropped). */
  get generation(): number {
    return this.#generation;
  }

  /** The key for a token's header, fetching the set when needed (see the class comment). */
  async key(header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<Key> {
    const now = this.#now();
    if (!this.#keys) {
      await this.#refresh(now, true);
      if (!this.#keys) throw new KeyLookupError("jwks_unavailable", `the key set of ${this.url} could not be fetched`);
    } else if (now - this.#fetchedAt > this.#maxAgeMs) {
      void this.#refresh(now, false); // in the background; failures keep the old keys
    }
    try {
      return await this.#keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
    }
    // An unknown kid: maybe the issuer rotated its keys. Refetch, but not more often than the interval.
    if (now - this.#lastAttempt >= this.#refetchIntervalMs || this.#inflight) {
      await this.#refresh(now, true);
      try {
        return await this.#keys(header, token);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      }
    }
    const which = `no key${header.kid === undefined ? "" : ` with kid "${header.kid}"`} for ${header.alg}`;
    // The set may hold it by now: while it cannot be fetched, say so rather than blame the token.
    if (this.#lastFailure !== undefined) throw new KeyLookupError("jwks_unavailable", `${which} among the cached keys, and the key set of ${this.url} could not be fetched (${this.#lastFailure})`);
    throw new KeyLookupError("unknown_key", `${which} in the issuer's key set`);
  }

  /** Starts (or joins) a fetch; `rateLimited` fetches respect the refetch interval. */
  #refresh(now: number, rateLimited: boolean): Promise<void> {
    if (this.#inflight) return this.#inflight;
    if (rateLimited && this.#keys && now - this.#lastAttempt < this.#refetchIntervalMs) return Promise.resolve();
    if (!this.#keys && now - this.#lastAttempt < Math.min(this.#refetchIntervalMs, 1_000)) return Promise.resolve();
    this.#lastAttempt = now;
    this.fetches++;
    this.#inflight = this.#load().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #load(): Promise<void> {
    try {
      const response = await this.#fetch(this.url, { signal: AbortSignal.timeout(this.#timeoutMs), headers: { accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as JSONWebKeySet;
      if (!body || !Array.isArray(body.keys)) throw new Error("the document has no `keys` array");
      const keys = createLocalJWKSet(body);
      const json = JSON.stringify(body.keys);
      if (json !== this.#lastJson) {
        this.#lastJson = json;
        this.#generation++;
      }
      this.#keys = keys;
      this.#fetchedAt = this.#now();
      this.#lastFailure = undefined;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#lastFailure = reason;
      this.#log(`sagaflow: JWKS ${this.url} could not be fetched (${reason})${this.#keys ? "; the cached keys stay in use" : ""}`);
    }
  }
}
