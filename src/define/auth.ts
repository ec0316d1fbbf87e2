/**
 * Authentication configuration of a service: which JWT issuers it trusts and how to check their
 * tokens. Types and pure helpers only; the authenticator (src/auth/authenticator.ts) does the I/O.
 */

/** Signature algorithms an issuer may be allowed. `none` is not one of them, on purpose. */
export type JwtAlgorithm = "HS256" | "HS384" | "HS512" | "RS256" | "PS256" | "ES256" | "EdDSA";

/** Every algorithm Sagaflow verifies. */
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ["HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"];

/**
 * A value read from the environment when the service starts (not when the module is imported),
 * so a missing variable is reported in the log instead of crashing the import.
 */
export interface EnvValue {
  readonly kind: "env";
  readonly name: string;
}

/** A configuration value given literally, or read from the environment at start-up. */
export type Configurable<T> = T | EnvValue;

/**
 * Takes a configuration value from the environment variable `name` when the service starts.
 *
 * @example
 * auth: { issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: env("BANK_JWT_SECRET") }] }
 */
export function env(name: string): EnvValue {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`env(): "${name}" is not an environment variable name`);
  return { kind: "env", name };
}

/** True when `value` is a reference made by {@link env}. */
export function isEnvValue(value: unknown): value is EnvValue {
  return typeof value === "object" && value !== null && (value as EnvValue).kind === "env" && typeof (value as EnvValue).name === "string";
}

/** One trusted token issuer (the `iss` claim a token must carry) and how its tokens are checked. */
export interface IssuerConfig {
  /** The exact `iss` claim of its tokens. */
  readonly issuer: Configurable<string>;
  /** Algorithms accepted from this issuer; the token's header never widens this list. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** Shared secret for HS256/384/512 (UTF-8 bytes). */
  readonly secret?: Configurable<string>;
  /** PEM public keys (SPKI, `-----BEGIN PUBLIC KEY-----`) for RS256/PS256/ES256/EdDSA. */
  readonly publicKeys?: readonly Configurable<string>[];
  /** A JWKS document URL for RS256/PS256/ES256/EdDSA keys, cached and refetched on an unknown `kid`. */
  readonly jwksUrl?: Configurable<string>;
  /** When set, the token's `aud` must contain (one of) these. */
  readonly audience?: Configurable<string> | readonly Configurable<string>[];
  /** Claims the token must carry besides `iss` (e.g. `["exp", "sub"]`). */
  readonly requiredClaims?: readonly string[];
  /** Tolerance for `exp`, `nbf` and `iat`, in seconds (default 30). */
  readonly clockSkewSeconds?: number;
}

/** The `auth` part of a service definition. */
export interface AuthConfig {
  readonly issuers: readonly IssuerConfig[];
}

/**
 * Who is calling, as proven by a verified token. Read-only: handlers may record it, not change it.
 */
export interface Principal {
  /** The token's `sub` claim, when it has one. */
  readonly subject: string | undefined;
  /** The token's `iss` claim (one of the configured issuers). */
  readonly issuer: string;
  /** Every verified claim of the token, frozen. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** An {@link IssuerConfig} with its environment values read: plain strings throughout. */
export interface ResolvedIssuerConfig {
  readonly issuer: string;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly secret?: string;
  readonly publicKeys?: readonly string[];
  readonly jwksUrl?: string;
  readonly audience?: readonly string[];
  readonly requiredClaims?: readonly string[];
  readonly clockSkewSeconds: number;
}

/** The result of reading an {@link AuthConfig}'s environment values. */
export interface ResolvedAuthConfig {
  /** Issuers whose configuration is complete. */
  readonly issuers: readonly ResolvedIssuerConfig[];
  /** Issuers left out, each with why (a missing environment variable, no key for its algorithms…). */
  readonly disabled: readonly { readonly issuer: string; readonly reason: string }[];
}

/**
 * Reads the environment values of `config` (pure: the environment is passed in). An issuer with a
 * missing variable or without a key for its algorithms is left out with a reason, so the service
 * still starts and its tokens are refused; a configuration error (an unknown algorithm, `none`) throws.
 */
export function resolveAuthConfig(config: AuthConfig | undefined, environment: Readonly<Record<string, string | undefined>>): ResolvedAuthConfig {
  const issuers: ResolvedIssuerConfig[] = [];
  const disabled: { issuer: string; reason: string }[] = [];
  for (const [index, raw] of (config?.issuers ?? []).entries()) {
    const missing: string[] = [];
    const read = (value: Configurable<string> | undefined): string | undefined => {
      if (value === undefined) return undefined;
      if (!isEnvValue(value)) return value;
      const found = environment[value.name];
      if (found === undefined || found === "") missing.push(value.name);
      return found === "" ? undefined : found;
    };
    const issuer = read(raw.issuer);
    const label = issuer ?? (isEnvValue(raw.issuer) ? `$${raw.issuer.name}` : `#${index}`);
    if (!Array.isArray(raw.algorithms) || raw.algorithms.length === 0) {
      throw new TypeError(`auth issuer "${label}": algorithms must list at least one of ${JWT_ALGORITHMS.join(", ")}`);
    }
    for (const alg of raw.algorithms) {
      if (!JWT_ALGORITHMS.includes(alg)) throw new TypeError(`auth issuer "${label}": algorithm "${String(alg)}" is not supported (allowed: ${JWT_ALGORITHMS.join(", ")})`);
    }
    const skew = raw.clockSkewSeconds ?? 30;
    if (!Number.isFinite(skew) || skew < 0) throw new TypeError(`auth issuer "${label}": clockSkewSeconds must be a number >= 0`);
    const secret = read(raw.secret);
    const publicKeys = (raw.publicKeys ?? []).map(read).filter((key): key is string => key !== undefined);
    const jwksUrl = read(raw.jwksUrl);
    const audienceList = raw.audience === undefined ? undefined : (Array.isArray(raw.audience) ? raw.audience : [raw.audience]) as readonly Configurable<string>[];
    const audience = audienceList?.map(read).filter((aud): aud is string => aud !== undefined);
    if (missing.length > 0) {
      disabled.push({ issuer: label, reason: `environment variable${missing.length > 1 ? "s" : ""} ${missing.join(", ")} not set` });
      continue;
    }
    const wantsSecret = raw.algorithms.some((alg) => alg.startsWith("HS"));
    const wantsPublic = raw.algorithms.some((alg) => !alg.startsWith("HS"));
    if (wantsSecret && secret === undefined) {
      disabled.push({ issuer: label, reason: `${raw.algorithms.filter((a) => a.startsWith("HS")).join("/")} need a secret` });
      continue;
    }
    if (wantsPublic && publicKeys.length === 0 && jwksUrl === undefined) {
      disabled.push({ issuer: label, reason: `${raw.algorithms.filter((a) => !a.startsWith("HS")).join("/")} need publicKeys or a jwksUrl` });
      continue;
    }
    issuers.push({
      issuer: issuer!,
      algorithms: [...raw.algorithms],
      ...(secret === undefined ? {} : { secret }),
      ...(publicKeys.length === 0 ? {} : { publicKeys }),
      ...(jwksUrl === undefined ? {} : { jwksUrl }),
      ...(audience === undefined ? {} : { audience }),
      ...(raw.requiredClaims === undefined ? {} : { requiredClaims: [...raw.requiredClaims] }),
      clockSkewSeconds: skew,
    });
  }
  return { issuers, disabled };
}
