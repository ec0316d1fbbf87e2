import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import { SagaflowError as CoreSagaflowError } from "sagaflow";
import { httpClient, SagaflowError } from "sagaflow/client";
import { customer } from "../../examples/bank/customer.ts";
import bank from "../../examples/bank/index.ts";
import { transfer } from "../../examples/bank/transfer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { cart } from "../../examples/shop/cart.ts";
import shop from "../../examples/shop/index.ts";
import { carts } from "../../examples/shop/views.ts";
import { tempDir } from "../../test/support/server-process.ts";
import { serve, type RunningService } from "../cli/serve.ts";
import { localServer } from "./test-support.ts";
import { viewPositionWaitMs } from "./http-client.ts";
import { defaultWaitForPositionMs } from "../runtime/views/view-service.ts";
import { SignJWT } from "jose";

/**
 * The typed HTTP client against real services (the bank and the shop, served in process on
 * SQLite), and against small local servers that answer 503 or garbage, to see the retries and
 * the errors.
 */

const dirs: string[] = [];
let bankService: RunningService;
let shopService: RunningService;
let serial = 0;
const fresh = (prefix: string) => `${prefix}-${++serial}`;
// The bank's customer routes take a bank-example token: these tests call them as an admin.
const secret = "http-client-test-secret-0123456789abcdef";
process.env.BANK_JWT_SECRET = secret;
const adminHeaders = async () => ({
  authorization: `Bearer ${await new SignJWT({ roles: ["admin"] }).setProtectedHeader({ alg: "HS256" }).setIssuer("bank-example").setSubject("root").setExpirationTime("5m").sign(new TextEncoder().encode(secret))}`,
});

before(async () => {
  const [bankDir, shopDir] = [tempDir("sagaflow-client-bank-"), tempDir("sagaflow-client-shop-")];
  dirs.push(bankDir, shopDir);
  bankService = await serve({ service: bank, port: 0, adminPort: -1, dataDir: bankDir, log: () => {} });
  shopService = await serve({ service: shop, port: 0, adminPort: -1, dataDir: shopDir, log: () => {} });
});
after(async () => {
  await bankService?.close();
  await shopService?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  method: string;
  url: string;
  key: string | null;
  body: string | undefined;
}

/** The global fetch, writing down every request it sends. */
function recordingFetch(sent: Sent[]): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    sent.push({ method: init?.method ?? "GET", url: String(input), key: headers.get("idempotency-key"), body: init?.body as string | undefined });
    return fetch(input, init);
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

describe("httpClient against the bank", () => {
  it("commands go by POST with a JSON body, queries by GET with JSON values, and replies are the handlers'", async () => {
    const sent: Sent[] = [];
    const api = httpClient(bankService.url, { fetch: recordingFetch(sent) });
    const id = fresh("w");
    const w = api.call(wallet, id);
    assert.deepEqual(await w.create({ initialBalance: 10 }), { balance: 10 });
    assert.deepEqual(await w.deposit({ amount: 5 }), { balance: 15 });
    assert.deepEqual(await w.balance(), { balance: 15 });
    assert.deepEqual(
      sent.map((s) => `${s.method} ${new URL(s.url).pathname}`),
      [`POST /wallet/${id}/create`, `POST /wallet/${id}/deposit`, `GET /wallet/${id}/balance`],
    );
    assert.equal(sent[1]!.body, JSON.stringify({ amount: 5 }));
    // A command without a key got one of its own; a query carries none.
    assert.match(sent[1]!.key ?? "", /^[0-9a-f-]{36}$/);
    assert.notEqual(sent[0]!.key, sent[1]!.key);
    assert.equal(sent[2]!.key, null);
  });

  it("ids are URL-encoded: an id with + @ : = ~ reaches the instance of that exact id", async () => {
    const api = httpClient(bankService.url);
    const id = `ada+${++serial}@example.com:=~`;
    await api.call(wallet, id).create({ initialBalance: 7 });
    assert.deepEqual(await api.call(wallet, id).balance(), { balance: 7 });
    // The other way round: the plain HTTP path, encoded by hand, sees the same wallet.
    const res = await fetch(`${bankService.url}/wallet/${encodeURIComponent(id)}/balance`);
    assert.deepEqual(await res.json(), { balance: 7 });
  });

  it("a key-value entity's commands and queries (input checked with zod on the server)", async () => {
    const api = httpClient(bankService.url, { headers: adminHeaders });
    const c = api.call(customer, fresh("c"));
    assert.deepEqual(await c.register({ name: "Grace", email: "grace@example.com" }), { name: "Grace", email: "grace@example.com", wallets: [] });
    assert.deepEqual((await c.addWallet({ walletId: "w-1" }))?.wallets, ["w-1"]);
    assert.equal((await c.get())?.name, "Grace");
  });

  it("the same idempotency key twice returns the first reply and applies the command once", async () => {
    const api = httpClient(bankService.url);
    const w = api.call(wallet, fresh("w"));
    await w.create({ initialBalance: 0 });
    assert.deepEqual(await w.deposit({ amount: 5 }, { idempotencyKey: "dep-1" }), { balance: 5 });
    await w.deposit({ amount: 100 });
    assert.deepEqual(await w.deposit({ amount: 5 }, { idempotencyKey: "dep-1" }), { balance: 5 });
    assert.deepEqual(await w.balance(), { balance: 105 });
  });

  it("a refusal rejects with a SagaflowError carrying the handler's code, message and status, and changes nothing", async () => {
    const api = httpClient(bankService.url);
    const w = api.call(wallet, fresh("w"));
    await w.create({ initialBalance: 3 });
    const error = await w.withdraw({ amount: 10 }).then(
      () => assert.fail("the withdrawal should be refused"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof SagaflowError);
    // One class: `sagaflow` and `sagaflow/client` export the same SagaflowError.
    assert.ok(error instanceof CoreSagaflowError);
    assert.equal(error.code, "insufficient_funds");
    assert.equal(error.status, 400);
    assert.equal(error.retryable, false);
    assert.match(error.message, /balance 3 is less than 10/);
    assert.deepEqual(await w.balance(), { balance: 3 });
  });

  it("409 for a key reused with other input, and the details of an invalid input come through", async () => {
    const api = httpClient(bankService.url);
    const w = api.call(wallet, fresh("w"));
    await w.create({ initialBalance: 0 });
    await w.deposit({ amount: 1 }, { idempotencyKey: "k" });
    await assert.rejects(w.deposit({ amount: 2 }, { idempotencyKey: "k" }), { name: "SagaflowError", code: "idempotency_key_reused", status: 409 });
    const invalid = await httpClient(bankService.url, { headers: adminHeaders }).call(customer, fresh("c")).register({ name: "Bob", email: "not-an-email" }).catch((e: unknown) => e);
    assert.ok(invalid instanceof SagaflowError);
    assert.equal(invalid.code, "invalid_input");
    assert.deepEqual((invalid.details as { issues: Array<{ path: string[] }> }).issues.map((i) => i.path), [["email"]]);
  });

  it("404s: a component the service does not have, and a handler it does not have, by name", async () => {
    const api = httpClient(bankService.url);
    await assert.rejects(api.call<typeof wallet>("walet", "w1").balance(), { code: "unknown_component", status: 404 });
    await assert.rejects(api.call<typeof wallet>("wallet", "w1")["balanse" as "balance"](), { code: "unknown_command", status: 404 });
  });

  it("by name with the definition's type only: commands and queries both work (sent as POST)", async () => {
    const sent: Sent[] = [];
    const api = httpClient(bankService.url, { fetch: recordingFetch(sent) });
    const id = fresh("w");
    const w = api.call<typeof wallet>("wallet", id);
    await w.create({ initialBalance: 4 });
    assert.deepEqual(await w.balance(), { balance: 4 });
    assert.deepEqual(sent.map((s) => s.method), ["POST", "POST"]);
  });

  it("a workflow: start, a repeated start answers the same, and result waits until it is over", async () => {
    const api = httpClient(bankService.url);
    const [from, to] = [fresh("w"), fresh("w")];
    await api.call(wallet, from).create({ initialBalance: 50 });
    await api.call(wallet, to).create({ initialBalance: 0 });
    const t = api.workflow(transfer, fresh("t"));
    assert.deepEqual(await t.start({ from, to, amount: 20 }), { status: "started" });
    assert.deepEqual(await t.start({ from, to, amount: 20 }), { status: "started" });
    const result = await t.result({ wait: 10 });
    assert.equal(result.status, "ended");
    assert.equal(result.state.status, "completed");
    assert.deepEqual(result.state.completed, ["withdraw", "deposit"]);
    assert.deepEqual(await api.call(wallet, from).balance(), { balance: 30 });
    assert.deepEqual(await api.call(wallet, to).balance(), { balance: 20 });
    // Without `wait` the answer is immediate, and the same once it is over.
    assert.equal((await t.result()).status, "ended");
  });

  it("a workflow's refusals and the result of an instance never started are SagaflowErrors", async () => {
    const api = httpClient(bankService.url);
    const t = api.workflow(transfer, fresh("t"));
    await t.start({ from: "a", to: "b", amount: 1 });
    await assert.rejects(t.start({ from: "a", to: "b", amount: 2 }), { name: "SagaflowError", code: "already_started" });
    const missing = await api.workflow(transfer, fresh("never")).result().catch((e: unknown) => e);
    assert.ok(missing instanceof SagaflowError);
    assert.equal(missing.code, "not_found");
    assert.equal(missing.status, 404);
  });
});

describe("httpClient against the shop's views", () => {
  it("a view query, reading its own write with waitForPosition: lastPosition", async () => {
    const api = httpClient(shopService.url);
    assert.equal(api.lastPosition, undefined);
    // A user id of digits: sent as JSON ("123" with quotes), it stays a string on the server.
    const userId = String(100_000 + ++serial);
    const cartId = fresh("cart");
    await api.call(cart, cartId).addItem({ userId, productId: "p1", name: "Pen", quantity: 2, price: 3 });
    const position = api.lastPosition;
    assert.ok(position !== undefined && position > 0, `position ${String(position)}`);
    const result = await api.view(carts).query<{ carts: Array<{ cartId: string; userId: string; itemCount: number }> }>(
      "byUser",
      { userId },
      { waitForPosition: position },
    );
    assert.deepEqual(
      result.carts.map((c) => [c.cartId, c.userId, c.itemCount]),
      [[cartId, userId, 2]],
    );
    assert.equal(result.nextPageToken, undefined);
  });

  it("page tokens go through, and a view's errors are SagaflowErrors", async () => {
    const api = httpClient(shopService.url);
    await assert.rejects(api.view(carts).query("byUser", { userId: "u" }, { pageToken: "not-a-token" }), { code: "invalid_page_token", status: 400 });
    await assert.rejects(api.view<typeof carts>("nope").query("byUser", { userId: "u" }), { code: "unknown_view", status: 404 });
    await assert.rejects(api.view(carts).query("byUser", { userId: "u", pageToken: "x" }), /reserved/);
  });
});

describe("httpClient retries", () => {
  it("a 503 with Retry-After is retried with the same Idempotency-Key, and the command applies once", async () => {
    // In front of the bank: every request reaches it, but the first two answers are lost and
    // replaced by 503s, as when a proxy times out after the service did the work.
    const keys: Array<string | undefined> = [];
    const proxy = await localServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        keys.push(req.headers["idempotency-key"] as string | undefined);
        const upstream = await fetch(`${bankService.url}${req.url}`, {
          method: req.method!,
          headers: { "content-type": "application/json", ...(req.headers["idempotency-key"] ? { "idempotency-key": req.headers["idempotency-key"] as string } : {}) },
          ...(req.method === "POST" ? { body } : {}),
        });
        const text = await upstream.text();
        if (keys.length <= 2) {
          res.writeHead(503, { "retry-after": "0", "content-type": "application/json" }).end('{"error":{"code":"overloaded","message":"try again"}}');
        } else {
          res.writeHead(upstream.status, { "content-type": "application/json" }).end(text);
        }
      })();
    });
    try {
      const id = fresh("w");
      await httpClient(bankService.url).call(wallet, id).create({ initialBalance: 10 });
      const reply = await httpClient(proxy.url).call(wallet, id).deposit({ amount: 5 });
      assert.deepEqual(reply, { balance: 15 });
      assert.equal(keys.length, 3);
      assert.ok(keys[0] !== undefined);
      assert.deepEqual(keys, [keys[0], keys[0], keys[0]]);
      assert.deepEqual(await httpClient(bankService.url).call(wallet, id).balance(), { balance: 15 });
    } finally {
      await proxy.close();
    }
  });

  it("the caller's own key is the one sent on every attempt", async () => {
    const keys: Array<string | undefined> = [];
    const server = await localServer((req, res) => {
      keys.push(req.headers["idempotency-key"] as string | undefined);
      if (keys.length === 1) res.writeHead(503, { "retry-after": "0" }).end();
      else res.writeHead(200, { "content-type": "application/json" }).end('{"balance":1}');
    });
    try {
      assert.deepEqual(await httpClient(server.url).call(wallet, "w").deposit({ amount: 1 }, { idempotencyKey: "mine" }), { balance: 1 });
      assert.deepEqual(keys, ["mine", "mine"]);
    } finally {
      await server.close();
    }
  });

  it("after the last retry the 503 itself rejects, as a retryable SagaflowError", async () => {
    let attempts = 0;
    const server = await localServer((_req, res) => {
      attempts++;
      res.writeHead(503, { "retry-after": "0", "content-type": "application/json" }).end('{"error":{"code":"store_unavailable","message":"the database cannot be reached"}}');
    });
    try {
      const api = httpClient(server.url, { retries: 2 });
      await assert.rejects(api.call(wallet, "w").balance(), { name: "SagaflowError", code: "store_unavailable", status: 503, retryable: true });
      assert.equal(attempts, 3);
      // A command's final 503 carries the key it was sent with (generated here): to send it again safely.
      const error = await api.call(wallet, "w").deposit({ amount: 1 }).catch((e: unknown) => e);
      assert.ok(error instanceof SagaflowError);
      assert.equal(error.code, "store_unavailable");
      assert.match(String((error.details as { idempotencyKey?: string } | undefined)?.idempotencyKey), /^[0-9a-f-]{36}$/);
    } finally {
      await server.close();
    }
  });

  it("a Retry-After longer than the cap waits only the cap", { timeout: 20_000 }, async () => {
    let attempts = 0;
    const server = await localServer((_req, res) => {
      attempts++;
      if (attempts === 1) res.writeHead(503, { "retry-after": "3600" }).end();
      else res.writeHead(200, { "content-type": "application/json" }).end('{"balance":2}');
    });
    try {
      const api = httpClient(server.url, { retryTiming: { maxDelayMs: 20 } });
      assert.deepEqual(await api.call(wallet, "w").balance(), { balance: 2 });
      assert.equal(attempts, 2);
    } finally {
      await server.close();
    }
  });

  it("a command without a key is sent once when automatic keys are off", async () => {
    const keys: Array<string | undefined> = [];
    const server = await localServer((req, res) => {
      keys.push(req.headers["idempotency-key"] as string | undefined);
      res.writeHead(503, { "retry-after": "0" }).end();
    });
    try {
      const api = httpClient(server.url, { autoIdempotencyKeys: false });
      await assert.rejects(api.call(wallet, "w").deposit({ amount: 1 }), { code: "http_error", status: 503 });
      assert.deepEqual(keys, [undefined]);
    } finally {
      await server.close();
    }
  });

  it("no answer at all: GETs and keyed commands are retried, then network_error; unkeyed commands are not retried", async () => {
    // A port that was just free: nothing listens, so each attempt is refused.
    const gone = await localServer(() => {});
    await gone.close();
    const sent: Sent[] = [];
    const api = httpClient(gone.url, { retries: 2, retryTiming: { initialDelayMs: 1 }, fetch: recordingFetch(sent) });
    const error = await api.call(wallet, "w").balance().catch((e: unknown) => e);
    assert.ok(error instanceof SagaflowError);
    assert.equal(error.code, "network_error");
    assert.equal(error.status, 0);
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(sent.length, 3);

    sent.length = 0;
    await assert.rejects(api.call(wallet, "w").deposit({ amount: 1 }), { code: "network_error" });
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent.map((s) => s.key)).size, 1, "one generated key for all attempts");

    sent.length = 0;
    const unkeyed = httpClient(gone.url, { retries: 2, autoIdempotencyKeys: false, fetch: recordingFetch(sent) });
    await assert.rejects(unkeyed.call(wallet, "w").deposit({ amount: 1 }), { code: "network_error", retryable: false });
    assert.equal(sent.length, 1);
    await assert.rejects(api.call(wallet, "w").deposit({ amount: 1 }), { code: "network_error", retryable: true });
  });

  it("a view query that waits for a position outlasts a client timeout shorter than the server's hold", async () => {
    const holdMs = 300;
    const server = await localServer((req, res) => {
      const waits = new URL(req.url!, "http://x").searchParams.has("waitForPosition");
      setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"carts":[]}'), waits ? holdMs : 0);
    });
    try {
      const api = httpClient(server.url, { timeoutMs: holdMs / 3, retries: 0 });
      assert.deepEqual(await api.view(carts).query("byUser", { userId: "u1" }, { waitForPosition: 7 }), { carts: [] });
    } finally {
      await server.close();
    }
  });

  it("the client's bound on a position wait is the server's", () => {
    assert.equal(viewPositionWaitMs, defaultWaitForPositionMs);
  });

  it("an error answer that is not Sagaflow's JSON is an http_error with the status; a 2xx that is not JSON, invalid_response", async () => {
    const server = await localServer((req, res) => {
      if (req.url?.includes("html")) res.writeHead(502, { "content-type": "text/html" }).end("<html><body>Bad gateway</body></html>");
      else res.writeHead(200, { "content-type": "text/plain" }).end("hello");
    });
    try {
      const api = httpClient(server.url);
      await assert.rejects(api.call<typeof wallet>("html", "w").balance(), (error: unknown) => {
        assert.ok(error instanceof SagaflowError);
        assert.equal(error.code, "http_error");
        assert.equal(error.status, 502);
        assert.match(error.message, /Bad gateway/);
        return true;
      });
      await assert.rejects(api.call(wallet, "w").balance(), { code: "invalid_response", status: 200 });
    } finally {
      await server.close();
    }
  });

  it("headers from the options (a function too) and per call reach the server; a bad base URL fails at once", async () => {
    const seen: Array<[string | undefined, string | undefined]> = [];
    const server = await localServer((req, res) => {
      seen.push([req.headers.authorization, req.headers["x-trace"] as string | undefined]);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    try {
      let token = 0;
      const api = httpClient(`${server.url}/`, { headers: () => ({ authorization: `Bearer ${++token}` }) });
      await api.call(wallet, "w").balance(undefined, { headers: { "x-trace": "t1" } });
      await api.call(wallet, "w").balance();
      assert.deepEqual(seen, [["Bearer 1", "t1"], ["Bearer 2", undefined]]);
    } finally {
      await server.close();
    }
    assert.throws(() => httpClient("localhost:3000"), /http/);
  });
});
