import { JWT_ALGORITHMS, type AuthConfig, type IssuerConfig, type JwtAlgorithm } from "../define/auth.ts";

/** What `sagaflow serve` flags (or their environment variables) say about JWT issuers. */
export interface AuthOverrides {
  /** `--jwt-issuer` / SAGAFLOW_JWT_ISSUER: the issuer changed, or added when the service has no such one. */
  issuer?: string;
  /** `--jwt-secret` / SAGAFLOW_JWT_SECRET. */
  secret?: string;
  /** `--jwks-url` / SAGAFLOW_JWKS_URL. */
  jwksUrl?: string;
  /** `--jwt-audience` / SAGAFLOW_JWT_AUDIENCE (repeatable). */
  audience?: readonly string[];
  /** `--jwt-algorithm` / SAGAFLOW_JWT_ALGORITHMS (comma-separated; repeatable flag). */
  algorithms?: readonly string[];
}

/**
 * The service's auth configuration with the flags applied: the flags change the issuer they name
 * (or the only one, when `--jwt-issuer` is not given), or add one. A new issuer's algorithms
 * default to HS256 with a secret and RS256/PS256/ES256/EdDSA with a JWKS URL.
 */
export function applyAuthOverrides(config: AuthConfig | undefined, overrides: AuthOverrides): AuthConfig | undefined {
  const given = Object.entries(overrides).filter(([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0));
  if (given.length === 0) return config;
  const issuers = [...(config?.issuers ?? [])];
  const algorithms = overrides.algorithms?.flatMap((a) => a.split(",")).map((a) => a.trim()).filter((a) => a !== "");
  for (const alg of algorithms ?? []) {
    if (!JWT_ALGORITHMS.includes(alg as JwtAlgorithm)) throw new Error(`--jwt-algorithm ${alg} is not one of ${JWT_ALGORITHMS.join(", ")}`);
  }
  let index = overrides.issuer === undefined ? (issuers.length === 1 ? 0 : -1) : issuers.findIndex((i) => i.issuer === overrides.issuer);
  if (index === -1 && overrides.issuer === undefined) {
    throw new Error(
      issuers.length === 0 ? "--jwt-secret, --jwks-url, --jwt-audience and --jwt-algorithm need --jwt-issuer (the service configures none)" : "the service configures several issuers: say which with --jwt-issuer",
    );
  }
  const base: IssuerConfig =
    index === -1
      ? { issuer: overrides.issuer!, algorithms: [...(overrides.secret ? (["HS256"] as const) : []), ...(overrides.jwksUrl ? (["RS256", "PS256", "ES256", "EdDSA"] as const) : [])] }
      : issuers[index]!;
  const changed: IssuerConfig = {
    ...base,
    ...(algorithms && algorithms.length > 0 ? { algorithms: algorithms as JwtAlgorithm[] } : {}),
    ...(overrides.secret === undefined ? {} : { secret: overrides.secret }),
    ...(overrides.jwksUrl === undefined ? {} : { jwksUrl: overrides.jwksUrl }),
    ...(overrides.audience && overrides.audience.length > 0 ? { audience: [...overrides.audience] } : {}),
  };
  if (changed.algorithms.length === 0) throw new Error(`--jwt-issuer ${String(overrides.issuer)} needs --jwt-secret, --jwks-url or --jwt-algorithm`);
  if (index === -1) index = issuers.length;
  issuers[index] = changed;
  return { ...config, issuers };
}
