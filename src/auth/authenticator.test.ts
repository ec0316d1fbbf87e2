import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { SignJWT, type JWTPayload } from "jose";
import { createAuthenticator, type AuthResult } from "./authenticator.ts";
import { env } from "../define/auth.ts";

const SECRET = "a-test-secret-of-enough-length-0123456789";
const ISSUER = "bank-example";
const NOW = Date.UTC(2030, 0, 1); // a fixed clock: tokens are made relative to it
const s = Math.floor(NOW / 1000);
const clock = { at: NOW };
const base = { issuers: [{ issuer: ISSUER, algorithms: ["HS256" as const], secret: SECRET }] };
const auth = (config = base as Parameters<typeof createAuthenticator>[0], extra = {}) =>
  createAuthenticator(config, { now: () => clock.at, log: () => {}, ...extra });

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

async function hs(payload: JWTPayload, { secret = SECRET, alg = "HS256" } = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(new TextEncoder().encode(secret));
}
const claims = (extra: Record<string, unknown> = {}): JWTPayload => ({ iss: ISSUER, sub: "alice", iat: s, exp: s + 3600, ...extra });

function refused(result: AuthResult, code: string): void {
  assert.equal(result.ok, false, `expected a refusal with ${code}, got ${JSON.stringify(result)}`);
  if (!result.ok) {
    assert.equal(result.status, 401);
    assert.equal(result.code, code, result.message);
    assert.ok(result.message.length > 0);
  }
}

describe("createAuthenticator: what it accepts", () => {
  it("an HS256 token of the issuer, with its claims read-only", async () => {
    const result = await auth().authenticate(`Bearer ${await hs(claims({ roles: ["admin"] }))}`);
    assert.ok(result.ok);
    assert.equal(result.principal.subject, "alice");
    assert.equal(result.principal.issuer, ISSUER);
    assert.deepEqual(result.principal.claims["roles"], ["admin"]);
    assert.throws(() => ((result.principal.claims["roles"] as string[]).push("x")), TypeError);
    assert.throws(() => { (result.principal as { subject: string }).subject = "mallory"; }, TypeError);
  });

  it("the scheme in any case, and HS384/HS512 when allowed", async () => {
    const a = auth({ issuers: [{ issuer: ISSUER, algorithms: ["HS384", "HS512"], secret: SECRET }] });
    assert.ok((await a.authenticate(`bearer ${await hs(claims(), { alg: "HS384" })}`)).ok);
    assert.ok((await a.authenticate(`BEARER ${await hs(claims(), { alg: "HS512" })}`)).ok);
    refused(await a.authenticate(`Bearer ${await hs(claims())}`), "algorithm_not_allowed");
  });

  it("RS256, PS256, ES256 and EdDSA with PEM public keys, each key only for its algorithm", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ed = generateKeyPairSync("ed25519");
    const pem = (k: typeof rsa) => k.publicKey.export({ type: "spki", format: "pem" }) as string;
    const a = auth({ issuers: [{ issuer: ISSUER, algorithms: ["RS256", "PS256", "ES256", "EdDSA"], publicKeys: [pem(rsa), pem(ec), pem(ed)] }] });
    for (const [alg, key] of [["RS256", rsa], ["PS256", rsa], ["ES256", ec], ["EdDSA", ed]] as const) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg }).sign(key.privateKey);
      const result = await a.authenticate(`Bearer ${token}`);
      assert.ok(result.ok, `${alg}: ${JSON.stringify(result)}`);
    }
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    refused(await a.authenticate(`Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: "ES256" }).sign(other.privateKey)}`), "invalid_signature");
  });

  it("nbf and exp within the clock skew (30 s by default)", async () => {
    assert.ok((await auth().authenticate(`Bearer ${await hs(claims({ nbf: s + 20 }))}`)).ok);
    assert.ok((await auth().authenticate(`Bearer ${await hs(claims({ exp: s - 20 }))}`)).ok);
    assert.ok((await auth().authenticate(`Bearer ${await hs(claims({ iat: s + 20 }))}`)).ok);
  });

  it("values from the environment, read when the authenticator is made", async () => {
    const a = createAuthenticator({ issuers: [{ issuer: ISSUER, algorithms: ["HS256"], secret: env("TEST_JWT_SECRET") }] }, { env: { TEST_JWT_SECRET: SECRET }, now: () => clock.at });
    assert.ok((await a.authenticate(`Bearer ${await hs(claims())}`)).ok);
  });
});

describe("createAuthenticator: every kind of bad token is a 401 with its code", () => {
  it("no header, another scheme, Bearer with nothing", async () => {
    refused(await auth().authenticate(undefined), "missing_token");
    refused(await auth().authenticate(""), "missing_token");
    refused(await auth().authenticate("Bearer"), "missing_token");
    refused(await auth().authenticate("Bearer   "), "missing_token");
    refused(await auth().authenticate(`Basic ${b64("alice:pw")}`), "unsupported_scheme");
  });

  it("garbage, 3 segments of garbage base64, JSON that is not an object", async () => {
    refused(await auth().authenticate("Bearer not-a-jwt"), "malformed_token");
    refused(await auth().authenticate("Bearer %%%"), "malformed_token");
    refused(await auth().authenticate(`Bearer ${b64("garbage")}.${b64("more garbage")}.${b64("sig")}`), "malformed_token");
    refused(await auth().authenticate(`Bearer ${b64({ alg: "HS256" })}.${b64([1, 2])}.${b64("sig")}`), "malformed_token");
    refused(await auth().authenticate(`Bearer a.b.c.d.e`), "malformed_token");
  });

  it("alg none, unsigned and 'signed'", async () => {
    const payload = b64(claims());
    refused(await auth().authenticate(`Bearer ${b64({ alg: "none", typ: "JWT" })}.${payload}.`), "algorithm_not_allowed");
    refused(await auth().authenticate(`Bearer ${b64({ alg: "none" })}.${payload}.${b64("signature")}`), "algorithm_not_allowed");
    refused(await auth().authenticate(`Bearer ${b64({ alg: "None" })}.${payload}.${b64("signature")}`), "algorithm_not_allowed");
    refused(await auth().authenticate(`Bearer ${b64({ typ: "JWT" })}.${payload}.${b64("signature")}`), "algorithm_not_allowed");
  });

  it("the wrong secret, a tampered payload, a stripped signature", async () => {
    refused(await auth().authenticate(`Bearer ${await hs(claims(), { secret: "another-secret" })}`), "invalid_signature");
    const [h, , sig] = (await hs(claims())).split(".");
    refused(await auth().authenticate(`Bearer ${h}.${b64(claims({ sub: "bob", roles: ["admin"] }))}.${sig}`), "invalid_signature");
    const [h2, p2] = (await hs(claims())).split(".");
    refused(await auth().authenticate(`Bearer ${h2}.${p2}.`), "invalid_signature");
    refused(await auth().authenticate(`Bearer ${h2}.${p2}`), "malformed_token");
  });

  it("algorithm confusion: an HS256 token whose secret is the issuer's RSA public key", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const publicPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
    // An issuer with RSA keys only: HS256 is not among its algorithms.
    const rsaOnly = auth({ issuers: [{ issuer: ISSUER, algorithms: ["RS256"], publicKeys: [publicPem] }] });
    refused(await rsaOnly.authenticate(`Bearer ${await hs(claims(), { secret: publicPem })}`), "algorithm_not_allowed");
    // An issuer with both: HS256 only ever uses the secret, never a public key.
    const both = auth({ issuers: [{ issuer: ISSUER, algorithms: ["HS256", "RS256"], secret: SECRET, publicKeys: [publicPem] }] });
    refused(await both.authenticate(`Bearer ${await hs(claims(), { secret: publicPem })}`), "invalid_signature");
    // And an RS256 token is refused by an HS256-only issuer.
    const rs = await new SignJWT(claims()).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
    refused(await auth().authenticate(`Bearer ${rs}`), "algorithm_not_allowed");
  });

  it("expired, not yet valid, issued in the future (each beyond the skew)", async () => {
    refused(await auth().authenticate(`Bearer ${await hs(claims({ exp: s - 31 }))}`), "token_expired");
    refused(await auth().authenticate(`Bearer ${await hs(claims({ nbf: s + 60 }))}`), "token_not_yet_valid");
    refused(await auth().authenticate(`Bearer ${await hs(claims({ iat: s + 60 }))}`), "token_issued_in_future");
    const strict = auth({ issuers: [{ ...base.issuers[0]!, clockSkewSeconds: 0 }] });
    refused(await strict.authenticate(`Bearer ${await hs(claims({ exp: s - 1 }))}`), "token_expired");
    refused(await strict.authenticate(`Bearer ${await hs(claims({ exp: "soon" }))}`), "invalid_claims");
  });

  it("another issuer, no issuer, the wrong audience, a missing required claim", async () => {
    refused(await auth().authenticate(`Bearer ${await hs(claims({ iss: "evil" }))}`), "unknown_issuer");
    refused(await auth().authenticate(`Bearer ${await hs(claims({ iss: undefined }))}`), "unknown_issuer");
    const withAudience = auth({ issuers: [{ ...base.issuers[0]!, audience: "bank-api", requiredClaims: ["sub"] }] });
    assert.ok((await withAudience.authenticate(`Bearer ${await hs(claims({ aud: ["x", "bank-api"] }))}`)).ok);
    refused(await withAudience.authenticate(`Bearer ${await hs(claims({ aud: "other-api" }))}`), "invalid_audience");
    refused(await withAudience.authenticate(`Bearer ${await hs(claims())}`), "invalid_audience");
    refused(await withAudience.authenticate(`Bearer ${await hs(claims({ aud: "bank-api", sub: undefined }))}`), "missing_claim");
  });

  it("a token over 8 KiB (16 KiB here) is refused before it is decoded", async () => {
    const big = await hs(claims({ padding: "x".repeat(16 * 1024) }));
    refused(await auth().authenticate(`Bearer ${big}`), "token_too_large");
    refused(await auth().authenticate(`Bearer ${"a".repeat(1024 * 1024)}`), "token_too_large");
  });

  it("no issuer configured, or one whose environment variable is missing: every token refused, and the log says why", async () => {
    refused(await createAuthenticator(undefined, { log: () => {} }).authenticate(`Bearer ${await hs(claims())}`), "no_issuer_configured");
    const lines: string[] = [];
    const a = createAuthenticator({ issuers: [{ issuer: ISSUER, algorithms: ["HS256"], secret: env("TEST_MISSING_SECRET") }] }, { env: {}, log: (l) => lines.push(l) });
    const result = await a.authenticate(`Bearer ${await hs(claims())}`);
    refused(result, "no_issuer_configured");
    assert.match(lines.join("\n"), /bank-example.*TEST_MISSING_SECRET not set/);
    assert.match(!result.ok ? result.message : "", /TEST_MISSING_SECRET/);
  });

  it("a short HMAC secret works but is warned about once, naming the issuer; a long one is not", () => {
    const lines: string[] = [];
    createAuthenticator({ issuers: [{ issuer: ISSUER, algorithms: ["HS256"], secret: "dev-secret" }] }, { log: (l) => lines.push(l) });
    assert.deepEqual(lines.map((l) => /WARNING: the secret of auth issuer "bank-example" is 10 bytes; use at least 32/.test(l)), [true]);
    lines.length = 0;
    createAuthenticator({ issuers: [{ issuer: ISSUER, algorithms: ["HS256"], secret: SECRET }] }, { log: (l) => lines.push(l) });
    assert.deepEqual(lines, []);
  });

  it("a configuration mistake (alg none, no algorithms) fails at once", () => {
    assert.throws(() => auth({ issuers: [{ issuer: ISSUER, algorithms: ["none" as never], secret: SECRET }] }), /algorithm "none" is not supported/);
    assert.throws(() => auth({ issuers: [{ issuer: ISSUER, algorithms: [], secret: SECRET }] }), /at least one/);
    assert.throws(() => auth({ issuers: [{ issuer: ISSUER, algorithms: ["RS256"], publicKeys: ["not a pem"] }] }), /not a PEM public key/);
  });
});

describe("createAuthenticator: the verified-token cache", () => {
  it("serves a token again by its exact bytes, and not after it expires", async () => {
    const a = auth();
    const token = await hs(claims({ exp: s + 60 }));
    const first = await a.authenticate(`Bearer ${token}`);
    const again = await a.authenticate(`Bearer ${token}`);
    assert.ok(first.ok && again.ok);
    assert.equal(first.principal, again.principal, "the second answer comes from the cache");
    clock.at = NOW + 61_000;
    try {
      // Expired for the cache, still within the skew for verification: verified again (a new principal).
      const later = await a.authenticate(`Bearer ${token}`);
      assert.ok(later.ok && later.principal !== first.principal);
      clock.at = NOW + 120_000;
      refused(await a.authenticate(`Bearer ${token}`), "token_expired");
    } finally {
      clock.at = NOW;
    }
  });
});
