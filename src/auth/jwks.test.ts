import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { createAuthenticator } from "./authenticator.ts";

/** A JWKS server whose keys and availability the test changes. */
class JwksServer {
  keys: JWK[] = [];
  down = false;
  hits = 0;
  server: Server = createServer((req, res) => {
    this.hits++;
    if (this.down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.keys }));
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }
}

interface Pair { kid: string; privateKey: CryptoKey; jwk: JWK }
async function pair(kid: string, alg: "ES256" | "RS256" = "ES256"): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const ISSUER = "https://issuer.test";
const sign = (key: Pair, claims: Record<string, unknown> = {}, alg = "ES256") =>
  new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg, kid: key.kid }).setIssuer(ISSUER).setIssuedAt().setExpirationTime("1h").sign(key.privateKey);

describe("JWKS: cached keys, rotation, refetch limits and outages", () => {
  const jwks = new JwksServer();
  before(() => new Promise<void>((ready) => jwks.server.listen(0, "127.0.0.1", ready)));
  after(() => new Promise<void>((done) => jwks.server.close(() => done())));

  const make = (clock: { at: number }) =>
    createAuthenticator({ issuers: [{ issuer: ISSUER, algorithms: ["ES256", "RS256"], jwksUrl: jwks.url }] }, {
      now: () => clock.at,
      jwksRefetchIntervalMs: 10_000,
      log: () => {},
    });

  it("rotation: a new key is fetched on its unknown kid; the removed old key is refused after that", async () => {
    const clock = { at: Date.now() };
    const old = await pair("old");
    const next = await pair("new", "RS256");
    jwks.keys = [old.jwk];
    const auth = make(clock);
    const oldToken = await sign(old);
    assert.ok((await auth.authenticate(`Bearer ${oldToken}`)).ok);
    jwks.keys = [next.jwk]; // the issuer rotates
    clock.at += 11_000;
    const fresh = await auth.authenticate(`Bearer ${await sign(next, {}, "RS256")}`);
    assert.ok(fresh.ok, JSON.stringify(fresh));
    // The very same old token, verified (and cached) before: refused now its key is gone.
    const again = await auth.authenticate(`Bearer ${oldToken}`);
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.code, "unknown_key");
    const another = await auth.authenticate(`Bearer ${await sign(old, { n: 2 })}`);
    assert.equal(!another.ok && another.code, "unknown_key");
  });

  it("unknown kids cause at most one fetch per interval", async () => {
    const clock = { at: Date.now() };
    const known = await pair("known");
    jwks.keys = [known.jwk];
    const auth = make(clock);
    assert.ok((await auth.authenticate(`Bearer ${await sign(known)}`)).ok);
    const before = jwks.hits;
    const stranger = await pair("stranger");
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(stranger, { i })));
    const results = await Promise.all(tokens.map((t) => auth.authenticate(`Bearer ${t}`)));
    for (const result of results) assert.equal(!result.ok && result.code, "unknown_key");
    for (const token of tokens) await auth.authenticate(`Bearer ${token}`);
    assert.ok(jwks.hits - before <= 1, `${jwks.hits - before} fetches within one interval`);
    // Once the interval has passed, the next unknown kid may fetch again, and finds the key if it is there now.
    jwks.keys = [known.jwk, stranger.jwk];
    clock.at += 10_001;
    assert.ok((await auth.authenticate(`Bearer ${tokens[0]}`)).ok);
    assert.ok(jwks.hits - before <= 2);
  });

  it("an outage of the JWKS server does not refuse tokens whose key is cached", async () => {
    const clock = { at: Date.now() };
    const key = await pair("steady");
    jwks.keys = [key.jwk];
    const auth = make(clock);
    assert.ok((await auth.authenticate(`Bearer ${await sign(key)}`)).ok);
    jwks.down = true;
    try {
      clock.at += 3_600_000; // past the age of a background refresh, which fails
      for (let i = 0; i < 3; i++) {
        const result = await auth.authenticate(`Bearer ${await sign(key, { i })}`);
        assert.ok(result.ok, JSON.stringify(result));
      }
      // An unknown kid during the outage: 401 naming the outage (the key may well be in the set), not an error.
      const result = await auth.authenticate(`Bearer ${await sign(await pair("other"))}`);
      assert.equal(!result.ok && result.code, "jwks_unavailable");
      assert.match(!result.ok ? result.message : "", /no key with kid "other" for ES256 among the cached keys, and the key set of .* could not be fetched \(HTTP 503\)/);
    } finally {
      jwks.down = false;
    }
  });

  it("a key removed from the set stops being accepted once the set is older than its maximum age (10 min), with no new kid needed", async () => {
    const clock = { at: Date.now() };
    const kept = await pair("kept");
    const revoked = await pair("revoked");
    jwks.keys = [kept.jwk, revoked.jwk];
    const auth = make(clock);
    const token = await sign(revoked);
    assert.ok((await auth.authenticate(`Bearer ${token}`)).ok);
    jwks.keys = [kept.jwk]; // the issuer revokes a key
    clock.at += 9 * 60_000;
    assert.ok((await auth.authenticate(`Bearer ${token}`)).ok, "within the maximum age the cached set is used");
    clock.at += 2 * 60_000;
    await auth.authenticate(`Bearer ${await sign(kept)}`); // any use of an old set refreshes it in the background
    await new Promise((done) => setTimeout(done, 200));
    const refused = await auth.authenticate(`Bearer ${token}`);
    assert.equal(!refused.ok && refused.code, "unknown_key");
  });

  it("no keys fetched yet and the server down: 401 jwks_unavailable", async () => {
    jwks.down = true;
    try {
      const auth = make({ at: Date.now() });
      const result = await auth.authenticate(`Bearer ${await sign(await pair("k"))}`);
      assert.equal(!result.ok && result.code, "jwks_unavailable");
    } finally {
      jwks.down = false;
    }
  });
});
