import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { access } from "../src/define/access.ts";
import { createAuthenticator } from "../src/auth/authenticator.ts";
import { entity } from "../src/define/entity.ts";
import { service } from "../src/define/service.ts";
import { createSagaflow, type Sagaflow } from "../src/host/create-sagaflow.ts";
import { memoryStore } from "../src/host/stores.ts";
import { requestJson, type JsonResponse } from "./support/http.ts";
import { SagaflowProcess } from "./support/server-process.ts";

/**
 * The attack suite: a real `sagaflow serve examples/bank` process with BANK_JWT_SECRET set, and
 * forged, broken or misplaced tokens on the customer routes. Each answers 401 or 403 with a JSON
 * error, never a 5xx, and reaches no handler: the victim's profile is unchanged afterwards (a
 * `register` of a new id registers nothing; a `close` of an existing one closes nothing).
 */

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

const secret = "attack-suite-secret-0123456789abcdef";
const key = new TextEncoder().encode(secret);
const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

const sign = (claims: Record<string, unknown>, options: { alg?: string; kid?: string; secretKey?: Uint8Array } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "HS256", ...(options.kid ? { kid: options.kid } : {}) })
    .sign(options.secretKey ?? key);
const valid = (sub: string, extra: Record<string, unknown> = {}) => sign({ iss: "bank-example", sub, iat: now(), exp: now() + 600, ...extra });

let server: SagaflowProcess;
let base = "";
before(async () => {
  server = await SagaflowProcess.start({ target: "examples/bank", args: ["--admin-port", "-1"], env: { BANK_JWT_SECRET: secret } });
  base = server.url;
});
after(async () => {
  await server?.stop();
  await server?.cleanup();
});

const victim = "victim";
const admin = async () => ({ authorization: `Bearer ${await valid("root", { roles: ["admin"] })}` });
const profile = async (id: string) => requestJson(`${base}/customer/${id}/get`, { headers: await admin() });

function refused(res: JsonResponse, status: 401 | 403, label: string): void {
  assert.equal(res.status, status, `${label}: ${res.status} ${res.text}`);
  assert.equal(typeof res.body?.error?.code, "string", `${label}: not a JSON error: ${res.text}`);
  assert.equal(typeof res.body.error.message, "string", label);
  if (status === 401) assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/, label);
}

describe("attack suite against sagaflow serve examples/bank", () => {
  before(async () => {
    const res = await requestJson(`${base}/customer/${victim}/register`, { body: { name: "Vic", email: "vic@example.com" }, headers: await admin() });
    assert.equal(res.status, 200, res.text);
  });

  const header = (value: string) => ({ authorization: value });
  const attacks: Array<[string, 401 | 403, () => Promise<{ headers?: Record<string, string>; query?: string }>]> = [
    ["missing token", 401, async () => ({})],
    ["Bearer with nothing", 401, async () => ({ headers: header("Bearer ") })],
    ["garbage", 401, async () => ({ headers: header("Bearer %%%garbage!!!") })],
    ["three segments of garbage base64", 401, async () => ({ headers: header(`Bearer ${b64("x~y")}.${b64("{{{")}.${b64("zzz")}`) })],
    ["alg none, unsigned", 401, async () => ({ headers: header(`Bearer ${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: "bank-example", sub: victim, exp: now() + 600 })}.`) })],
    ["alg none, with a signature", 401, async () => {
      const good = (await valid(victim)).split(".");
      return { headers: header(`Bearer ${b64({ alg: "none" })}.${good[1]}.${good[2]}`) };
    }],
    ["HS256 with the wrong secret", 401, async () => ({ headers: header(`Bearer ${await sign({ iss: "bank-example", sub: victim, exp: now() + 600 }, { secretKey: new TextEncoder().encode("not-the-secret-0123456789abcdef!!") })}`) })],
    ["RS256 public key used as the HMAC secret (algorithm confusion)", 401, async () => {
      const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
      const forged = await sign({ iss: "bank-example", sub: victim, exp: now() + 600 }, { secretKey: new TextEncoder().encode(pem) });
      // Re-labelled RS256: a verifier that took the algorithm from the token would check an HMAC with the PEM.
      const [, payload, signature] = forged.split(".");
      return { headers: header(`Bearer ${b64({ alg: "RS256", typ: "JWT" })}.${payload}.${signature}`) };
    }],
    ["HS384 (another algorithm than HS256)", 401, async () => ({ headers: header(`Bearer ${await sign({ iss: "bank-example", sub: victim, exp: now() + 600 }, { alg: "HS384" })}`) })],
    ["unknown kid", 401, async () => {
      const { privateKey } = await generateKeyPair("ES256");
      const token = await new SignJWT({ iss: "bank-example", sub: victim, exp: now() + 600 }).setProtectedHeader({ alg: "ES256", kid: "who-knows" }).sign(privateKey);
      return { headers: header(`Bearer ${token}`) };
    }],
    ["expired", 401, async () => ({ headers: header(`Bearer ${await valid(victim, { iat: now() - 7200, exp: now() - 3600 })}`) })],
    ["nbf in the future beyond the skew", 401, async () => ({ headers: header(`Bearer ${await valid(victim, { nbf: now() + 600 })}`) })],
    ["iat in the future", 401, async () => ({ headers: header(`Bearer ${await valid(victim, { iat: now() + 600 })}`) })],
    ["wrong issuer", 401, async () => ({ headers: header(`Bearer ${await valid(victim, { iss: "evil-bank" })}`) })],
    ["payload tampered after signing", 401, async () => {
      const [h, , s] = (await valid("mallory")).split(".");
      return { headers: header(`Bearer ${h}.${b64({ iss: "bank-example", sub: victim, exp: now() + 600 })}.${s}`) };
    }],
    ["signature stripped", 401, async () => {
      const [h, p] = (await valid(victim)).split(".");
      return { headers: header(`Bearer ${h}.${p}.`) };
    }],
    ["16 KiB token", 401, async () => ({ headers: header(`Bearer ${await valid(victim, { padding: "x".repeat(16 * 1024) })}`) })],
    ["token in the query string instead of the header", 401, async () => ({ query: `?access_token=${await valid(victim)}` })],
    ["sub of another customer", 403, async () => ({ headers: header(`Bearer ${await valid("mallory")}`) })],
    ["role claim as a string instead of an array", 403, async () => ({ headers: header(`Bearer ${await valid("mallory", { roles: "admin" })}`) })],
    ["another scheme (Basic)", 401, async () => ({ headers: header(`Basic ${b64(`${victim}:pw`)}`) })],
  ];

  for (const [label, status, make] of attacks) {
    it(`${label}: ${status}, and no handler ran`, async () => {
      const { headers = {}, query = "" } = await make();
      const fresh = `new-${label.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}`;
      refused(await requestJson(`${base}/customer/${fresh}/register${query}`, { body: { name: "M", email: "m@example.com" }, headers }), status, `${label} (register)`);
      refused(await requestJson(`${base}/customer/${victim}/close${query}`, { body: {}, headers }), status, `${label} (close)`);
      refused(await requestJson(`${base}/customer/${victim}/get${query}`, { headers }), status, `${label} (get)`);
      refused(await requestJson(`${base}/customers/${victim}/overview${query}`, { headers }), status, `${label} (overview)`);
      // Nothing changed: the new id is not registered, the victim is not closed.
      assert.equal((await profile(fresh)).body?.error?.code, "not_found", label);
      assert.equal((await profile(victim)).body?.name, "Vic", label);
    });
  }

  it("a valid token of the customer itself passes (the suite is not refusing everything)", async () => {
    const res = await requestJson(`${base}/customer/${victim}/get`, { headers: header(`Bearer ${await valid(victim)}`) });
    assert.equal(res.status, 200, res.text);
  });
});

describe("attack suite: wrong audience and JWKS rotation (a service configured with an audience and a JWKS URL)", () => {
  let jwks: { keys: JWK[] } = { keys: [] };
  let jwksServer: Server;
  let app: Sagaflow;
  let url = "";
  let runs = 0;
  const keys: Array<{ kid: string; privateKey: PrivateKey }> = [];

  before(async () => {
    jwksServer = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks)));
    await new Promise<void>((done) => jwksServer.listen(0, "127.0.0.1", done));
    for (const kid of ["old", "new"]) {
      const pair = await generateKeyPair("RS256", { extractable: true });
      keys.push({ kid, privateKey: pair.privateKey });
      if (kid === "old") jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" }] };
      else (keys as Array<{ kid: string; privateKey: PrivateKey; jwk?: JWK }>)[1]!.jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" };
    }
    const vault = entity("vault", { initial: () => ({}), events: {} }, {
      expose: access.authenticated,
      commands: { open: (s, _c: {}, fx) => { runs++; return fx.reply(s); } },
    });
    const auth = {
      issuers: [{ issuer: "jwks-test", algorithms: ["RS256" as const], jwksUrl: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`, audience: "vault-api" }],
    };
    // Refetching on an unknown kid at most every 0 ms: the rotation is seen at once.
    const authenticator = createAuthenticator(auth, { jwksRefetchIntervalMs: 0, tokenCacheSize: 0, log: () => {} });
    app = createSagaflow(service("vault", [vault], { auth }), { store: memoryStore(), log: () => {}, authenticate: (h) => authenticator.authenticate(h) });
    url = (await app.listen({ port: 0, adminPort: -1 })).url;
  });
  after(async () => {
    await app?.stop();
    jwksServer?.close();
  });

  const tokenOf = (index: number, audience = "vault-api") =>
    new SignJWT({ iss: "jwks-test", sub: "u", aud: audience, exp: now() + 600 }).setProtectedHeader({ alg: "RS256", kid: keys[index]!.kid }).sign(keys[index]!.privateKey);
  const open = async (token: string) => requestJson(`${url}/vault/v1/open`, { body: {}, headers: { authorization: `Bearer ${token}` } });

  it("wrong audience: 401", async () => {
    refused(await open(await tokenOf(0, "another-api")), 401, "wrong audience");
    assert.equal(runs, 0);
  });

  it("rotation: the old key works until it is removed; then 401, and the new key 200", async () => {
    assert.equal((await open(await tokenOf(0))).status, 200);
    assert.equal(runs, 1);
    jwks = { keys: [(keys as Array<{ jwk?: JWK }>)[1]!.jwk!] };
    assert.equal((await open(await tokenOf(1))).status, 200);
    refused(await open(await tokenOf(0)), 401, "old key after rotation");
    assert.equal(runs, 2);
  });
});

describe("the bank without BANK_JWT_SECRET", () => {
  it("starts, says why in its log, and answers 401 on every customer route (wallets stay public)", async () => {
    const bare = await SagaflowProcess.start({ target: "examples/bank", args: ["--admin-port", "-1"], env: { BANK_JWT_SECRET: "" } });
    try {
      const token = await valid("c1");
      for (const [path, body] of [["/customer/c1/register", { name: "A", email: "a@example.com" }], ["/customer/c1/get", undefined], ["/customers/c1/overview", undefined]] as const) {
        refused(await requestJson(`${bare.url}${path}`, { ...(body ? { body } : {}), headers: { authorization: `Bearer ${token}` } }), 401, path);
      }
      assert.equal((await requestJson(`${bare.url}/wallet/w1/create`, { body: { initialBalance: 1 } })).status, 200);
      assert.match(bare.output(), /BANK_JWT_SECRET/);
    } finally {
      await bare.stop();
      await bare.cleanup();
    }
  });
});
