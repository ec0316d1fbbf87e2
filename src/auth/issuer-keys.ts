import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { errors, importSPKI, type FlattenedJWSInput, type JWTHeaderParameters } from "jose";
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
  readonly #pems: readonly string[];
  /** WebCrypto keys made once per algorithm: jose would otherwise import a KeyObject on every verification (≈100x slower). */
  readonly #imported = new Map<JwtAlgorithm, Promise<unknown[]>>();
  readonly jwks: JwksCache | undefined;

  constructor(config: ResolvedIssuerConfig, jwksOptions: JwksCacheOptions) {
    this.#secret = config.secret === undefined ? undefined : createSecretKey(Buffer.from(config.secret, "utf8"));
    this.#pems = config.publicKeys ?? [];
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
    if (alg.startsWith("HS")) return this.#secret ? this.#importedFor(alg) : [];
    const local = this.#publicKeys.some((key) => fits(key, alg)) ? await this.#importedFor(alg) : [];
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

  #importedFor(alg: JwtAlgorithm): Promise<unknown[]> {
    let keys = this.#imported.get(alg);
    if (!keys) {
      keys = alg.startsWith("HS")
        ? crypto.subtle
            .importKey("raw", this.#secret!.export(), { name: "HMAC", hash: `SHA-${alg.slice(2)}` }, false, ["verify"])
            .then((key) => [key])
        : Promise.all(this.#publicKeys.flatMap((key, i) => (fits(key, alg) ? [importSPKI(this.#pems[i]!, alg)] : [])));
      this.#imported.set(alg, keys);
    }
    return keys;
  }

  get generation(): number {
    return this.jwks?.generation ?? 0;
  }
}
