import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { existsSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { SignJWT } from "jose";
import { join } from "node:path";
import { createSagaflow, memoryStore, service, sqlite } from "../src/index.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { makeDevToken } from "../src/cli/token-command.ts";
import { cli } from "./support/cli.ts";
import { SagaflowProcess, tempDir } from "./support/server-process.ts";

/** Issue 12, point 5: the admin API leaves loopback only with access control, and then requires it. */

const TOKEN = "an-admin-token-long-enough";
const SECRET = "test-secret-for-admin-role-0123456789";

async function adminGet(url: string, authorization?: string): Promise<{ status: number; body: { error?: { code: string } }; headers: Headers }> {
  const response = await fetch(url, authorization === undefined ? {} : { headers: { authorization } });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } }, headers: response.headers };
}

/** The admin URL reached through loopback, whatever address it is bound to. */
const viaLoopback = (adminUrl: string) => adminUrl.replace(/\/\/[^/]+:/, "//127.0.0.1:");

describe("admin API protection (in process)", () => {
  it("refuses to listen on a non-loopback address without a token or role, and nothing is left listening", async () => {
    const app = createSagaflow(service("bank", [wallet]), { store: memoryStore(), log: () => {} });
    try {
      await assert.rejects(app.listen({ port: 0, adminHost: "0.0.0.0" }), /admin API would listen on 0\.0\.0\.0 without access control.*--admin-token/);
      await assert.rejects(app.listen({ port: 0, adminHost: "0.0.0.0", adminToken: "short" }), /at least 16 characters/);
      await assert.rejects(app.listen({ port: 0, adminHost: "0.0.0.0", adminRole: "ops" }), /--admin-role ops needs a JWT issuer/);
      // Loopback without a token stays as it was: open to this machine.
      const open = await app.listen({ port: 0 });
      assert.equal((await adminGet(`${open.adminUrl}/nodes`)).status, 200);
      await open.close();
    } finally {
      await app.stop();
    }
  });

  it("with a token, on any address: no or a wrong token → 401 with WWW-Authenticate, the token → 200", async () => {
    const app = createSagaflow(service("bank", [wallet]), { store: memoryStore(), log: () => {} });
    try {
      const listening = await app.listen({ port: 0, adminHost: "0.0.0.0", adminToken: TOKEN });
      const admin = viaLoopback(listening.adminUrl!);
      for (const authorization of [undefined, "Bearer", "Bearer wrong-token-of-some-length", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
        const answer = await adminGet(`${admin}/workflows`, authorization);
        assert.equal(answer.status, 401, String(authorization));
        assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer/);
        assert.equal(typeof answer.body.error?.code, "string");
      }
      const ok = await adminGet(`${admin}/workflows`, `Bearer ${TOKEN}`);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { workflows: [], next: null });
      assert.equal(ok.headers.get("x-content-type-options"), "nosniff");
      // The service's own API is not affected by the admin token.
      assert.equal((await fetch(`${viaLoopback(listening.url)}/health`)).status, 200);
    } finally {
      await app.stop();
    }
  });

  it("with an admin role: a JWT of the service's issuer with that role → 200, without it → 403, the token still works", async () => {
    const auth = { issuers: [{ issuer: "ops", algorithms: ["HS256" as const], secret: SECRET }] };
    const app = createSagaflow(service("bank", [wallet], { auth }), { store: memoryStore(), log: () => {} });
    try {
      const listening = await app.listen({ port: 0, adminHost: "0.0.0.0", adminRole: "sre", adminToken: TOKEN });
      const admin = viaLoopback(listening.adminUrl!);
      const sre = await makeDevToken({ secret: SECRET, issuer: "ops", subject: "ann", roles: ["sre"] });
      const dev = await makeDevToken({ secret: SECRET, issuer: "ops", subject: "bob", roles: ["dev"] });
      const forged = await makeDevToken({ secret: "not-the-secret", issuer: "ops", subject: "eve", roles: ["sre"] });
      assert.equal((await adminGet(`${admin}/nodes`, `Bearer ${sre}`)).status, 200);
      const forbidden = await adminGet(`${admin}/nodes`, `Bearer ${dev}`);
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error?.code, "forbidden");
      const bad = await adminGet(`${admin}/nodes`, `Bearer ${forged}`);
      assert.equal(bad.status, 401);
      assert.equal(bad.body.error?.code, "invalid_signature");
      // The issuer accepts tokens without exp; the admin API does not: one would open it for ever.
      const forever = await new SignJWT({ roles: ["sre"] }).setProtectedHeader({ alg: "HS256" }).setIssuer("ops").setSubject("ann").sign(new TextEncoder().encode(SECRET));
      const endless = await adminGet(`${admin}/nodes`, `Bearer ${forever}`);
      assert.deepEqual([endless.status, endless.body.error?.code], [401, "missing_claim"]);
      assert.equal((await adminGet(`${admin}/nodes`, `Bearer ${TOKEN}`)).status, 200);
    } finally {
      await app.stop();
    }
  });
});

/** A request with the Host and Origin headers a browser would send (fetch may not set Host). */
function browserRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c)).on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error?: { code: string; message: string } } }));
    });
    req.on("error", reject).end(body);
  });
}

describe("admin API and browsers: another site's page can neither act through it nor read it", () => {
  it("without a token (loopback): a cross-site form post is 403 and does nothing, a rebound Host name is 403, the console's own origin works", async () => {
    const dir = tempDir();
    const app = createSagaflow(service("bank", [wallet]), { store: sqlite(join(dir, "data.db")), log: () => {} });
    try {
      const { adminUrl } = await app.listen({ port: 0 });
      const port = new URL(adminUrl!).port;
      await app.client.call(wallet, "w1").create({ initialBalance: 5 });
      // A page on evil.example posting a form to the admin API (a "simple" request: no preflight).
      const backup = join(dir, "stolen.db");
      const forged = await browserRequest(`${adminUrl}/backup`, "POST", { host: `127.0.0.1:${port}`, origin: "https://evil.example", "content-type": "text/plain" }, JSON.stringify({ path: backup }));
      assert.equal(forged.status, 403);
      assert.match(forged.body.error!.message, /another site's page/);
      assert.equal(existsSync(backup), false);
      // DNS rebinding: evil.example resolved to 127.0.0.1, so the page's requests say Host: evil.example.
      const rebound = await browserRequest(`${adminUrl}/entities/wallet/w1`, "GET", { host: `evil.example:${port}` });
      assert.equal(rebound.status, 403);
      assert.match(rebound.body.error!.message, /only requests addressed to 127\.0\.0\.1 or localhost/);
      // The console's own calls (same origin), under either loopback name, and the CLI (no Origin).
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
        const own = await browserRequest(`${adminUrl}/entities/wallet/w1`, "GET", { host, origin: `http://${host}` });
        assert.equal(own.status, 200, host);
      }
      assert.equal((await adminGet(`${adminUrl}/entities/wallet/w1`)).status, 200);
    } finally {
      await app.stop();
    }
  });

  it("with a token: the token is what counts, under any name and behind a proxy that forwards another Host than the page's origin", async () => {
    const app = createSagaflow(service("bank", [wallet]), { store: memoryStore(), log: () => {} });
    try {
      const listening = await app.listen({ port: 0, adminToken: TOKEN });
      const admin = listening.adminUrl!;
      const authorization = `Bearer ${TOKEN}`;
      assert.equal((await browserRequest(`${admin}/nodes`, "GET", { host: "ops.example.com", authorization })).status, 200);
      assert.equal((await browserRequest(`${admin}/nodes`, "GET", { host: "127.0.0.1:3001", origin: "https://ops.example.com", authorization })).status, 200);
      // Without the token, nothing: a page cannot add it.
      assert.equal((await browserRequest(`${admin}/nodes`, "GET", { host: "ops.example.com", origin: "https://ops.example.com" })).status, 401);
    } finally {
      await app.stop();
    }
  });
});

describe("admin API protection (sagaflow serve and the admin commands)", () => {
  it("serve refuses a non-loopback admin host without a token, naming the flags", async () => {
    const run = await cli(["serve", "examples/bank", "--port", "0", "--admin-host", "0.0.0.0", "--data", tempDir()]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /without access control.*--admin-token or SAGAFLOW_ADMIN_TOKEN/);
  });

  it("with SAGAFLOW_ADMIN_TOKEN the admin commands need --admin-token (or the variable) and send it", async () => {
    const server = await SagaflowProcess.start({ target: "examples/bank", args: ["--admin-host", "0.0.0.0"], env: { SAGAFLOW_ADMIN_TOKEN: TOKEN } });
    try {
      const admin = viaLoopback(await server.admin());
      const refused = await cli(["workflows", "list", "--admin", admin], { SAGAFLOW_ADMIN_TOKEN: "" });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /needs a token: --admin-token/);
      const withFlag = await cli(["nodes", "--admin", admin, "--admin-token", TOKEN], { SAGAFLOW_ADMIN_TOKEN: "" });
      assert.equal(withFlag.code, 0, withFlag.stderr);
      // Each node's admin address is listed: lease holders' actions go there.
      assert.match(withFlag.stdout, /node\s+alive\s+url\s+admin\s+leases/);
      assert.ok(withFlag.stdout.includes(`:${new URL(await server.admin()).port}`), withFlag.stdout);
      const withEnv = await cli(["workflows", "list", "--admin", admin], { SAGAFLOW_ADMIN_TOKEN: TOKEN });
      assert.equal(withEnv.code, 0, withEnv.stderr);
      const wrong = await cli(["nodes", "--admin", admin, "--admin-token", "wrong-token-wrong-token"]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /invalid_token/);
    } finally {
      await server.cleanup();
    }
  });
});
