import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, it } from "node:test";
import { httpClient, SagaflowError } from "sagaflow/client";
import { transfer } from "../../examples/bank/transfer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { localServer } from "./test-support.ts";

/**
 * The typed HTTP client when no whole answer comes: a server that never answers, one that sends
 * its headers and then drops the connection. Each is "no answer": a `network_error`, retried only
 * when a retry cannot apply a command twice. Small timeouts keep these fast; each test's own
 * timeout fails it (rather than hanging for minutes) if the client waits on.
 */

/** A local server counting requests and their idempotency keys; `answer` decides what each gets. */
async function countingServer(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const keys: Array<string | undefined> = [];
  const server = await localServer((req, res) => {
    req.resume();
    keys.push(req.headers["idempotency-key"] as string | undefined);
    answer(keys.length, req, res);
  });
  return { ...server, keys };
}

const never = () => {};

/** Headers that promise 100 bytes, part of the body, then the connection dropped. */
function cutShort(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
  res.write('{"balance":');
  setTimeout(() => res.socket?.destroy(), 10);
}

const fast = { retryTiming: { initialDelayMs: 1 } };

describe("httpClient: a server that never answers", () => {
  it("each attempt ends after timeoutMs; a GET is retried, then rejects with network_error", { timeout: 10_000 }, async () => {
    const server = await countingServer(never);
    try {
      const started = Date.now();
      // 400 ms, not less: on a loaded machine a request must reach the server before its attempt ends, or it is not counted.
      const error = await httpClient(server.url, { ...fast, timeoutMs: 400, retries: 2 }).call(wallet, "w").balance().catch((e: unknown) => e);
      assert.ok(error instanceof SagaflowError, String(error));
      assert.equal(error.code, "network_error");
      assert.equal(error.status, 0);
      assert.match(error.message, /timed out after 400 ms/);
      assert.equal(server.keys.length, 3);
      assert.ok(Date.now() - started < 5_000);
    } finally {
      await server.close();
    }
  });

  it("a keyed command is retried with its key; one without a key is sent once", { timeout: 10_000 }, async () => {
    const server = await countingServer(never);
    try {
      await assert.rejects(httpClient(server.url, { ...fast, timeoutMs: 100, retries: 1 }).call(wallet, "w").deposit({ amount: 1 }), { code: "network_error" });
      assert.equal(server.keys.length, 2);
      assert.equal(server.keys[0], server.keys[1]);

      server.keys.length = 0;
      const unkeyed = httpClient(server.url, { ...fast, timeoutMs: 100, retries: 1, autoIdempotencyKeys: false });
      await assert.rejects(unkeyed.call(wallet, "w").deposit({ amount: 1 }), { code: "network_error" });
      assert.deepEqual(server.keys, [undefined]);
    } finally {
      await server.close();
    }
  });

  it("the timeout covers the body too: headers, then silence, is no answer either", { timeout: 10_000 }, async () => {
    const server = await countingServer((_n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" }).write('{"balance":');
    });
    try {
      await assert.rejects(httpClient(server.url, { timeoutMs: 100, retries: 0 }).call(wallet, "w").balance(), {
        code: "network_error",
        message: /timed out after 100 ms/,
      });
    } finally {
      await server.close();
    }
  });

  it("result({ wait }) gets wait seconds beyond timeoutMs, for the server holds the answer that long", { timeout: 10_000 }, async () => {
    const view = { id: "t", status: "running", step: null, state: {} };
    const server = await countingServer((_n, _req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(view)), 300);
    });
    try {
      const api = httpClient(server.url, { timeoutMs: 100, retries: 0 });
      assert.deepEqual(await api.workflow(transfer, "t").result({ wait: 1 }), view);
      // Without a wait, the same slow answer is too late.
      await assert.rejects(api.workflow(transfer, "t").result(), { code: "network_error" });
    } finally {
      await server.close();
    }
  });

  it("the caller's own signal still ends the call with its reason, not a network_error", { timeout: 10_000 }, async () => {
    const server = await countingServer(never);
    try {
      const reason = new Error("caller gave up");
      const controller = new AbortController();
      const mine = httpClient(server.url, { timeoutMs: 5_000 }).call(wallet, "w").balance(undefined, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      await assert.rejects(mine, (error: unknown) => error === reason);
      assert.equal(server.keys.length, 1);
    } finally {
      await server.close();
    }
  });

  it("timeoutMs must be a whole number of milliseconds ≥ 1", () => {
    assert.throws(() => httpClient("http://127.0.0.1:1", { timeoutMs: 0 }), /timeoutMs/);
    assert.throws(() => httpClient("http://127.0.0.1:1", { timeoutMs: 1.5 }), /timeoutMs/);
  });
});

describe("httpClient: an answer cut short after its headers", () => {
  it("is a network_error, and a GET is retried and gets the next, whole answer", { timeout: 10_000 }, async () => {
    const server = await countingServer((n, _req, res) => {
      if (n === 1) cutShort(res);
      else res.writeHead(200, { "content-type": "application/json" }).end('{"balance":7}');
    });
    try {
      assert.deepEqual(await httpClient(server.url, fast).call(wallet, "w").balance(), { balance: 7 });
      assert.equal(server.keys.length, 2);

      server.keys.length = 0;
      const error = await httpClient(server.url, { ...fast, retries: 0 }).call(wallet, "w").balance().catch((e: unknown) => e);
      assert.ok(error instanceof SagaflowError, String(error));
      assert.equal(error.code, "network_error");
      assert.match(error.message, /cut short/);
    } finally {
      await server.close();
    }
  });

  it("a cut 503 is retried the same way; a command without a key is not retried", { timeout: 10_000 }, async () => {
    const server = await countingServer((n, _req, res) => {
      if (n === 1) {
        res.writeHead(503, { "content-type": "application/json", "content-length": "100" }).write('{"error":');
        setTimeout(() => res.socket?.destroy(), 10);
      } else if (n === 2) res.writeHead(200, { "content-type": "application/json" }).end('{"balance":7}');
      else cutShort(res);
    });
    try {
      assert.deepEqual(await httpClient(server.url, fast).call(wallet, "w").balance(), { balance: 7 });
      assert.equal(server.keys.length, 2);

      server.keys.length = 0;
      const unkeyed = httpClient(server.url, { ...fast, autoIdempotencyKeys: false });
      await assert.rejects(unkeyed.call(wallet, "w").deposit({ amount: 1 }), { name: "SagaflowError", code: "network_error" });
      assert.deepEqual(server.keys, [undefined]);
    } finally {
      await server.close();
    }
  });
});

describe("httpClient: the last network_error names the key the command was sent with", () => {
  it("a generated key, and the caller's own, are in details.idempotencyKey; a GET has none", async () => {
    // A port that was just free: every attempt is refused. The fetch writes down the keys sent.
    const gone = await localServer(never);
    await gone.close();
    const keys: Array<string | null> = [];
    const recording: typeof fetch = (input, init) => {
      keys.push(new Headers(init?.headers).get("idempotency-key"));
      return fetch(input, init);
    };
    const api = httpClient(gone.url, { ...fast, retries: 1, fetch: recording });
    const error = await api.call(wallet, "w").deposit({ amount: 1 }).catch((e: unknown) => e);
    assert.ok(error instanceof SagaflowError, String(error));
    assert.equal(error.code, "network_error");
    assert.equal(keys.length, 2);
    assert.match(keys[0] ?? "", /^[0-9a-f-]{36}$/);
    assert.deepEqual(error.details, { idempotencyKey: keys[0] });

    await assert.rejects(api.call(wallet, "w").deposit({ amount: 1 }, { idempotencyKey: "mine" }), { details: { idempotencyKey: "mine" } });
    await assert.rejects(api.call(wallet, "w").balance(), { code: "network_error", details: undefined });
  });
});
