import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import { JWT_ALGORITHMS, resolveAuthConfig, type AuthConfig, type JwtAlgorithm, type Principal, type ResolvedAuthConfig, type ResolvedIssuerConfig } from "../define/auth.ts";
import { bearerToken } from "./bearer.ts";
import { IssuerKeys } from "./issuer-keys.ts";
import { KeyLookupError } from "./jwks-cache.ts";
import { TokenCache } from "./token-cache.ts";

/** A refusal: always 401, with a stable code (see {@link AUTH_ERROR_CODES}) and a message for humans. */
export interface AuthFailure {
  readonly ok: false;
  readonly status: 401;
  readonly code: string;
  readonly message: string;
}

export type AuthResult = { readonly ok: true; readonly principal: Principal } | AuthFailure;

/**
 * The codes a refusal can carry: `missing_token`, `unsupported_scheme`, `token_too_large`,
 * `malformed_token`, `no_issuer_configured`, `unknown_issuer`, `algorithm_not_allowed`,
 * `unknown_key`, `jwks_unavailable`, `invalid_signature`, `token_expired`, `token_not_yet_valid`,
 * `token_issued_in_future`, `invalid_audience`, `missing_claim`, `invalid_claims`.
 */
export const AUTH_ERROR_CODES = [
  "missing_token", "unsupported_scheme", "token_too_large", "malformed_token", "no_issuer_configured", "unknown_issuer",
  "algorithm_not_allowed", "unknown_key", "jwks_unavailable", "invalid_signature", "token_expired", "token_not_yet_valid",
  "token_issued_in_future", "invalid_audience", "missing_claim", "invalid_claims",
] as const;

export interface AuthenticatorOptions {
  /** Where environment values (`env("…")`) are read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where start-up problems (a missing variable, a JWKS outage) are written (default stderr). */
  readonly log?: (line: string) => void;
  /** The clock, epoch ms (tests). */
  readonly now?: () => number;
  /** How verified tokens are cached by their exact bytes (default 10 000 tokens, at most 5 min each; 0 turns it off). */
  readonly tokenCacheSize?: number;
  readonly tokenCacheMaxAgeMs?: number;
  /** JWKS: least time between refetches caused by unknown kids (default 30 s), and age of a background refresh (default 10 min). */
  readonly jwksRefetchIntervalMs?: number;
  readonly jwksMaxAgeMs?: number;
  readonly fetch?: typeof globalThis.fetch;
}

/** Checks `Authorization` headers against a service's trusted issuers. */
export interface Authenticator {
  /** Verifies the bearer token of an `Authorization` header value; never throws, never reads anything else. */
  authenticate(authorizationHeader: string | undefined): Promise<AuthResult>;
  /** The issuers in use, and those left out with why (for the start-up log). */
  readonly config: ResolvedAuthConfig;
}

const fail = (code: (typeof AUTH_ERROR_CODES)[number], message: string): AuthFailure => ({ ok: false, status: 401, code, message });

function decodePayload(token: string): JWTPayload | undefined {
  const part = token.split(".")[1];
  if (part === undefined) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof payload === "object" && payload !== null && !Array.isArray(payload) ? (payload as JWTPayload) : undefined;
  } catch {
    return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** jose's verification errors, as refusals. */
function refusal(error: unknown): AuthFailure {
  if (error instanceof KeyLookupError) return fail(error.code, error.message);
  if (error instanceof errors.JWTExpired) return fail("token_expired", "the token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return fail("token_not_yet_valid", "the token is not valid yet (nbf)");
    if (error.claim === "aud") return fail("invalid_audience", "the token is not meant for this service (aud)");
    if (error.claim === "iss") return fail("unknown_issuer", "the token's issuer is not trusted");
    if (error.reason === "missing") return fail("missing_claim", `the token has no "${error.claim}" claim`);
    return fail("invalid_claims", `the token's "${error.claim}" claim is not valid`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return fail("invalid_signature", "the token's signature does not verify");
  if (error instanceof errors.JOSEAlgNotAllowed) return fail("algorithm_not_allowed", "the token's algorithm is not allowed");
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return fail("malformed_token", "the token is not a well-formed JWT");
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return fail("unknown_key", "no key of the issuer fits the token");
  if (error instanceof errors.JOSENotSupported) return fail("algorithm_not_allowed", "the token's algorithm or key is not supported");
  // Anything else (a key of the wrong type for the algorithm…) is still the token's fault, never a 500.
  return fail("invalid_signature", "the token could not be verified");
}

/**
 * Makes the authenticator of a service from its `auth` configuration (environment values are read
 * now). With no usable issuer every token is refused with `no_issuer_configured`, and the log says why.
 *
 * @example
 * const auth = createAuthenticator({ issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: env("BANK_JWT_SECRET") }] });
 * const result = await auth.authenticate(req.headers.authorization);
 * if (!result.ok) sendJson(res, 401, { error: { code: result.code, message: result.message } });
 */
/** RFC 7518 §3.2: an HS256 key at least as long as its hash output. */
const MIN_HMAC_SECRET_BYTES = 32;

export function createAuthenticator(config: AuthConfig | undefined, options: AuthenticatorOptions = {}): Authenticator {
  const log = options.log ?? ((line: string) => console.error(line));
  const now = options.now ?? Date.now;
  const resolved = resolveAuthConfig(config, options.env ?? process.env);
  for (const { issuer, reason } of resolved.disabled) log(`sagaflow: auth issuer "${issuer}" is disabled (${reason}); its tokens are refused with 401`);

  const issuers = new Map<string, { config: ResolvedIssuerConfig; keys: IssuerKeys }>();
  for (const issuer of resolved.issuers) {
    if (issuers.has(issuer.issuer)) throw new TypeError(`auth: issuer "${issuer.issuer}" is configured twice`);
    // RFC 7518 §3.2: an HMAC key shorter than the hash is guessable; a development secret often is.
    const secretBytes = issuer.secret === undefined ? undefined : Buffer.byteLength(issuer.secret, "utf8");
    if (secretBytes !== undefined && secretBytes < MIN_HMAC_SECRET_BYTES) {
      log(`sagaflow: WARNING: the secret of auth issuer "${issuer.issuer}" is ${secretBytes} bytes; use at least ${MIN_HMAC_SECRET_BYTES} random ones (e.g. \`openssl rand -base64 32\`), or anyone who guesses it can sign tokens`);
    }
    const keys = new IssuerKeys(issuer, {
      now,
      log,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.jwksRefetchIntervalMs === undefined ? {} : { refetchIntervalMs: options.jwksRefetchIntervalMs }),
      ...(options.jwksMaxAgeMs === undefined ? {} : { maxAgeMs: options.jwksMaxAgeMs }),
    });
    issuers.set(issuer.issuer, { config: issuer, keys });
  }
  const noIssuerReason =
    resolved.disabled.length > 0
      ? `no token issuer is configured (${resolved.disabled.map((d) => `${d.issuer}: ${d.reason}`).join("; ")})`
      : "this service has no token issuer configured";
  const cache = new TokenCache(options.tokenCacheSize ?? 10_000, options.tokenCacheMaxAgeMs ?? 300_000);
  const generationOf = (principal: Principal) => issuers.get(principal.issuer)?.keys.generation ?? -1;

  async function verify(token: string): Promise<AuthResult> {
    const at = now();
    const cached = cache.get(token, at, generationOf);
    if (cached) return { ok: true, principal: cached };
    if (issuers.size === 0) return fail("no_issuer_configured", noIssuerReason);

    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return fail("malformed_token", "the token's header is not valid base64url JSON");
    }
    const claims = decodePayload(token);
    if (!claims || token.split(".").length !== 3) return fail("malformed_token", "the token is not a signed JWT (header.payload.signature)");
    const issuer = typeof claims.iss === "string" ? issuers.get(claims.iss) : undefined;
    if (!issuer) return fail("unknown_issuer", typeof claims.iss === "string" ? `issuer "${claims.iss}" is not trusted` : "the token has no issuer (iss)");
    // The allowed list decides; the header only says which of the allowed algorithms to use.
    if (typeof alg !== "string" || !issuer.config.algorithms.includes(alg as JwtAlgorithm) || !JWT_ALGORITHMS.includes(alg as JwtAlgorithm)) {
      return fail("algorithm_not_allowed", `algorithm ${JSON.stringify(alg ?? null)} is not allowed for issuer "${issuer.config.issuer}" (allowed: ${issuer.config.algorithms.join(", ")})`);
    }
    const skew = issuer.config.clockSkewSeconds;
    let generation = 0;
    let payload: JWTPayload | undefined;
    let lastError: unknown;
    try {
      const header = decodeProtectedHeader(token);
      const [h, p, s] = token.split(".") as [string, string, string];
      const keys = await issuer.keys.candidates(alg as JwtAlgorithm, header as never, { protected: h, payload: p, signature: s });
      generation = issuer.keys.generation; // after a possible fetch: the set these keys came from
      if (keys.length === 0) return fail("unknown_key", `issuer "${issuer.config.issuer}" has no key for ${alg}`);
      for (const key of keys) {
        try {
          const result = await jwtVerify(token, key as never, {
            algorithms: [alg],
            issuer: issuer.config.issuer,
            ...(issuer.config.audience ? { audience: [...issuer.config.audience] } : {}),
            ...(issuer.config.requiredClaims ? { requiredClaims: [...issuer.config.requiredClaims] } : {}),
            clockTolerance: skew,
            currentDate: new Date(at),
          });
          payload = result.payload;
          break;
        } catch (error) {
          lastError = error;
          if (!(error instanceof errors.JWSSignatureVerificationFailed)) break;
        }
      }
    } catch (error) {
      lastError = error;
    }
    if (!payload) return refusal(lastError);
    if (payload.iat !== undefined && payload.iat > at / 1000 + skew) return fail("token_issued_in_future", "the token is issued in the future (iat)");

    const principal: Principal = deepFreeze({
      subject: typeof payload.sub === "string" ? payload.sub : undefined,
      issuer: issuer.config.issuer,
      claims: structuredClone(payload),
    });
    cache.set(token, principal, typeof payload.exp === "number" ? payload.exp * 1000 : undefined, at, generation);
    return { ok: true, principal };
  }

  return {
    config: resolved,
    async authenticate(authorizationHeader) {
      const bearer = bearerToken(authorizationHeader);
      if (!bearer.ok) return fail(bearer.code as (typeof AUTH_ERROR_CODES)[number], bearer.message);
      try {
        return await verify(bearer.token);
      } catch (error) {
        return refusal(error);
      }
    },
  };
}
