import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { errors, type FlattenedJWSInput, type JWTHeaderParameters } from "jose";
import type { JwtAlgorithm, ResolvedIssuerConfig } from "../define/auth.ts";
import { JwksCache, KeyLookupError, type JwksCacheOptions } from "./jwks-cache.ts";

/** The key type and curve each asymmetric algorithm needs. */
function fits(key: KeyObject, alg: JwtAlgorithm): boolean {
  const type = key.asymmetricKeyType;
  if (alg === "RS256" || alg === "PS256") return type === "rsa" || (alg === "PS256" && type === "rsa-pss");
  if (alg === "ES256") return type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
  if (alg === "EdDSA") return type === "ed25519" || type === "ed448";
  return false;
}

/**
 * The keys that may verify one issuer's tokens, chosen by the ALLOWED algorithm (already checked
 * against the token's header): HS* only ever use the secret, the others only the public keys or
 * the JWKS, so a public key can never serve as an HMAC secret.
 */
export class IssuerKeys {
  readonly #secret: KeyObject | undefined;
  readonly #publicKeys: KeyObject[];
  readonly jwks: JwksCache | undefined;

  constructor(config: ResolvedIssuerConfig, jwksOptions: JwksCacheOptions) {
    this.#secret = config.secret === undefined ? undefined : createSecretKey(Buffer.from(config.secret, "utf8"));
    this.#publicKeys = (config.publicKeys ?? []).map((pem, index) => {
      try {
        const key = createPublicKey(pem);
        if (key.type !== "public") throw new Error("not a public key");
        return key;
      } catch (error) {
        throw new TypeError(`auth issuer "${config.issuer}": publicKeys[${index}] is not a PEM public key (${(error as Error).message})`);
      }
    });
    this.jwks = config.jwksUrl === undefined ? undefined : new JwksCache(config.jwksUrl, jwksOptions);
  }

  /** The candidate keys for a token signed with `alg` (an allowed one). */
  async candidates(alg: JwtAlgorithm, header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<unknown[]> {
    if (alg.startsWith("HS")) return this.#secret ? [this.#secret] : [];
    const local = this.#publicKeys.filter((key) => fits(key, alg));
    // A kid names a JWKS key; static PEM keys have none, so they are tried first only without one.
    if (this.jwks && (header.kid !== undefined || local.length === 0)) {
      try {
        return [await this.jwks.key(header, token)];
      } catch (error) {
        if (error instanceof errors.JWKSMultipleMatchingKeys) {
          // No kid and several keys fit: each is tried (jose makes the error iterable over them).
          const keys: unknown[] = [];
          for await (const key of error as unknown as AsyncIterable<unknown>) keys.push(key);
          return keys;
        }
        if (local.length === 0 || !(error instanceof KeyLookupError)) throw error;
      }
    }
    return local;
  }

  get generation(): number {
    return this.jwks?.generation ?? 0;
  }
}
