import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import express from "express";
import { createSagaflow, memoryStore, sqlite } from "../src/index.ts";
import { entity } from "../src/define/entity.ts";
import bank from "../examples/bank/index.ts";
import { transfer } from "../examples/bank/transfer.ts";
import { wallet } from "../examples/bank/wallet.ts";
import shop from "../examples/shop/index.ts";
import { tempDataDir } from "./support/feed-child.ts";
import { getJson, postJson } from "./support/http.ts";
import { sagaflowBin } from "./support/server-process.ts";

/**
 * The embedding API (issue 11, point 4): a service inside a program that already has its own HTTP
 * server: `createSagaflow(service, { store })`, its typed client, `handler` and `adminHandler`
 * mounted beside the host's routes, `listen` for ports of its own, and `stop`.
 */

function listenOn(server: Server): Promise<string> {
  return new Promise((ready) => server.listen(0, "127.0.0.1", () => ready(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((done) => server.close(() => done()));
}

describe("embedding API", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("mounted-in-a-node-http-server-beside-the-hosts-own-routes", { timeout: 60_000 }, async () => {
    const dir = tempDataDir("embed-node");
    cleanups.push(() => dir.dispose());
    // The folder of the file does not exist yet: sqlite() creates it.
    const file = join(dir.path, "data", "bank.db");
    const logs: string[] = [];
    const app = createSagaflow(bank, { store: sqlite(file, { synchronous: "FULL" }), log: (line) => logs.push(line) });
    cleanups.push(() => app.stop());
    const host = createServer((req, res) => {
      if (req.url === "/hello") {
        res.writeHead(200, { "content-type": "text/plain" }).end("hello from the host");
        return;
      }
      app.handler(req, res);
    });
    const base = await listenOn(host);
    cleanups.push(() => closeServer(host));
    const adminHost = createServer(app.adminHandler);
    const adminBase = await listenOn(adminHost);
    cleanups.push(() => closeServer(adminHost));

    // Before start: a clear, retryable refusal, over HTTP and in process.
    const early = await postJson(`${base}/wallet/a/create`, { initialBalance: 10 });
    assert.equal(early.status, 503);
    assert.equal(early.body.error.code, "not_started");
    await assert.rejects(app.client.call(wallet, "a").balance({}), (error: { code?: string }) => error.code === "not_started");

    await app.start();
    const hello = await fetch(`${base}/hello`);
    assert.equal(await hello.text(), "hello from the host");
    assert.deepEqual((await postJson(`${base}/wallet/a/create`, { initialBalance: 10 })).body, { balance: 10 });
    // The typed in-process client and HTTP reach the same instance.
    const deposited: { balance: number } = await app.client.call(wallet, "a").deposit({ amount: 5 });
    assert.deepEqual(deposited, { balance: 15 });
    assert.deepEqual((await getJson(`${base}/wallet/a/balance`)).body, { balance: 15 });
    const refused = await postJson(`${base}/wallet/a/withdraw`, { amount: 500 });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, "insufficient_funds");

    await postJson(`${base}/wallet/b/create`, { initialBalance: 0 });
    assert.equal((await postJson(`${base}/transfer/t1/start`, { from: "a", to: "b", amount: 4 })).status, 200);
    const ended = await getJson(`${base}/transfer/t1`, { wait: 5 });
    assert.equal(ended.body.status, "ended");
    assert.equal((await app.client.result(transfer, "t1")).state.status, "completed");
    assert.deepEqual(await app.client.call(wallet, "b").balance({}), { balance: 4 });

    // The admin API, mounted on a server of the host's choosing.
    const listed = await getJson(`${adminBase}/workflows`, { name: "transfer" });
    assert.deepEqual(listed.body.workflows.map((w: { id: string }) => w.id), ["t1"]);
    assert.equal((await getJson(`${adminBase}/entities/wallet/a`)).body.seq, 3);

    const stranger = entity("stranger", { initial: () => ({}), events: {} }, { commands: {}, queries: {} });
    assert.throws(() => app.client.call(stranger, "x"), /not part of this service/);

    await app.stop();
    // The host's server lives on; Sagaflow's routes say it stopped.
    assert.equal(await (await fetch(`${base}/hello`)).text(), "hello from the host");
    const late = await postJson(`${base}/wallet/a/deposit`, { amount: 1 });
    assert.equal(late.status, 503);
    assert.equal(late.body.error.code, "shutting_down");
    await assert.rejects(app.start(), /stopped/);

    // Stopped means closed: another app opens the same file and finds everything.
    const again = createSagaflow(bank, { store: sqlite(file), log: () => {} });
    await again.start();
    assert.deepEqual(await again.client.call(wallet, "a").balance({}), { balance: 11 });
    await again.stop();
    assert.deepEqual(logs.filter((l) => /internal error/.test(l)), []);
  });

  it("mounted-in-express-under-a-path-with-views-and-a-stream-ended-by-stop", { timeout: 60_000 }, async () => {
    const app = createSagaflow(shop, { store: memoryStore(), log: () => {} });
    cleanups.push(() => app.stop());
    const web = express();
    web.get("/hello", (_req, res) => {
      res.json({ hello: "express" });
    });
    web.use("/sagaflow", app.handler);
    web.use("/ops", app.adminHandler);
    const server = createServer(web);
    const base = await listenOn(server);
    cleanups.push(() => closeServer(server));
    await app.start();

    assert.deepEqual((await getJson(`${base}/hello`)).body, { hello: "express" });
    const added = await postJson(`${base}/sagaflow/cart/c1/addItem`, { userId: "u1", productId: "p1", name: "Pen", quantity: 2, price: 1.5 });
    assert.equal(added.status, 200, added.text);
    const position = added.headers.get("sagaflow-position");
    assert.ok(position, "a write answers with its feed position");
    const byUser = await getJson(`${base}/sagaflow/views/carts/byUser`, { userId: '"u1"', waitForPosition: position });
    assert.deepEqual(
      byUser.body.carts.map((c: { cartId: string; itemCount: number }) => [c.cartId, c.itemCount]),
      [["c1", 2]],
    );
    assert.equal((await getJson(`${base}/ops/views`)).body.views.length, 2);
    const missing = await getJson(`${base}/sagaflow/nothing/here/at/all`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "not_found");

    // A streamed view query through Express: its first result arrives, and stop() ends it.
    const streamEnded = new Promise<string>((resolve, reject) => {
      const req = request(`${base}/sagaflow/views/carts/open`, { headers: { accept: "text/event-stream" } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
          if (text.includes("event: result")) void app.stop();
        });
        res.on("end", () => resolve(text));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
    const streamed = await streamEnded;
    assert.match(streamed, /"cartId":"c1"/);
  });

  it("listen-serves-its-own-ports-and-names-the-port-that-is-taken", { timeout: 60_000 }, async () => {
    const first = createSagaflow(bank, { store: memoryStore(), log: () => {} });
    cleanups.push(() => first.stop());
    const listening = await first.listen({ port: 0, adminPort: 0 });
    assert.deepEqual((await getJson(`${listening.url}/health`)).body, { status: "ok" });
    assert.ok(listening.adminUrl);
    assert.deepEqual((await getJson(`${listening.adminUrl}/health`)).body, { status: "ok" });
    const servicePort = Number(new URL(listening.url).port);
    const adminPort = Number(new URL(listening.adminUrl).port);

    const second = createSagaflow(bank, { store: memoryStore(), log: () => {} });
    cleanups.push(() => second.stop());
    await assert.rejects(second.listen({ port: servicePort, adminPort: -1 }), { message: `port ${servicePort} (service) is in use` });
    await assert.rejects(second.listen({ port: 0, adminPort }), { message: `admin port ${adminPort} is in use` });
    // A start refused for its port ran nothing (no timer fired, no schedule caught up): it is not started.
    await assert.rejects(second.client.call(wallet, "w0").create({ initialBalance: 1 }), (error: { code?: string }) => error.code === "not_started");
    // It can listen elsewhere.
    const elsewhere = await second.listen({ port: 0, adminPort: -1 });
    assert.equal(elsewhere.adminUrl, undefined);
    assert.equal((await postJson(`${elsewhere.url}/wallet/w/create`, { initialBalance: 3 })).status, 200);
    await second.stop();
    await assert.rejects(fetch(`${elsewhere.url}/health`), "stop() closes the servers listen() opened");

    // `close()` stops listening only; the first service still answers in process.
    await listening.close();
    assert.deepEqual(await first.client.call(wallet, "w").create({ initialBalance: 1 }), { balance: 1 });
    await first.stop();
  });

  it("sagaflow-serve-names-the-port-that-is-taken", { timeout: 60_000 }, async () => {
    const blocker = createServer((_req, res) => res.end());
    const base = await listenOn(blocker);
    cleanups.push(() => closeServer(blocker));
    const taken = Number(new URL(base).port);
    const dir = tempDataDir("embed-cli");
    cleanups.push(() => dir.dispose());
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [sagaflowBin, "serve", "examples/bank", "--data", dir.path, ...args], { stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        child.on("exit", (code) => {
          clearTimeout(timer);
          resolve({ code, stderr });
        });
      });
    const service = await run(["--port", String(taken)]);
    assert.equal(service.code, 1);
    assert.match(service.stderr, new RegExp(`port ${taken} \\(service\\) is in use`));
    const admin = await run(["--port", "0", "--admin-port", String(taken)]);
    assert.equal(admin.code, 1);
    assert.match(admin.stderr, new RegExp(`admin port ${taken} is in use`));
  });
});

