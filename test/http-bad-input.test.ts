import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { secret } from "./fixtures/faulty/index.ts";
import { assertErrorBody, getJson, postJson, rawRequest, requestJson, type JsonResponse } from "./support/http.ts";
import { SagaflowProcess } from "./support/server-process.ts";
import { request as httpRequest } from "node:http";
import { defaultMaxBodyBytes } from "../src/http/body.ts";
import { lingerBounds } from "../src/http/linger.ts";
import { maxInputDepth } from "../src/http/input-check.ts";

/**
 * Property 6, over real HTTP against a real `sagaflow serve` process: bad input gets a 4xx with
 * `{"error": {"code", "message"}}`, changes nothing, and never crashes the server. A handler bug is
 * a 500 with a correlation id and no internals in the body. The fixture serves the bank's wallet
 * and customer next to `faulty`, an entity with bugs on purpose.
 */

let server: SagaflowProcess;
let base: string;

before(async () => {
  server = await SagaflowProcess.start({ target: "test/fixtures/faulty" });
  base = server.url;
  const created = await postJson(`${base}/wallet/w1/create`, { initialBalance: 100 });
  assert.equal(created.status, 200, created.text);
});

after(async () => {
  await server?.cleanup();
});

/** The balance of w1 (the wallet every test here tries to damage) must stay 100. */
async function assertW1Untouched(): Promise<void> {
  const res = await getJson(`${base}/wallet/w1/balance`);
  assert.deepEqual(res.body, { balance: 100 }, `w1 changed: ${res.text}`);
}

function assertNoServerError(res: JsonResponse | { status: number; text: string }, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected a 4xx, got ${res.status}: ${res.text}`);
}

describe("HTTP bad input (real process)", () => {
  it("malformed JSON is 400 malformed_json", async () => {
    for (const rawBody of ['{"amount": 5', "{amount: 5}", "'x'", "[1,]", "5 6", '{"amount": 5}}', "\u0000"]) {
      const res = await requestJson(`${base}/wallet/w1/deposit`, {
        method: "POST",
        rawBody,
        headers: { "content-type": "application/json" },
      });
      assertErrorBody(res, 400, "malformed_json");
    }
    await assertW1Untouched();
  });

  it("JSON of the wrong shape or types is a 4xx naming what is wrong, and changes nothing", async () => {
    // The wallet checks its own input; the customer's input is checked by a zod schema.
    const wallet: Array<[string, string]> = [
      ["[]", "invalid_amount"],
      ['"5"', "invalid_amount"],
      ["5", "invalid_amount"],
      ["null", "invalid_amount"],
      ["true", "invalid_amount"],
      ['{"amount": {"$gt": 0}}', "invalid_amount"],
      ['{"amount": [5]}', "invalid_amount"],
      ['{"amount": 1e400}', "invalid_input"],
      ['{"__proto__": {"amount": 5}}', "invalid_amount"],
    ];
    for (const [rawBody, code] of wallet) {
      const res = await requestJson(`${base}/wallet/w1/deposit`, {
        method: "POST",
        rawBody,
        headers: { "content-type": "application/json" },
      });
      assertErrorBody(res, 400, code);
    }
    await assertW1Untouched();

    for (const body of [[], "x", 7, { name: ["Ann"], email: "ann@example.com" }, { name: "Ann", email: 5 }]) {
      assertErrorBody(await postJson(`${base}/customer/c-bad/register`, body), 400, "invalid_input");
    }
    assertErrorBody(await getJson(`${base}/customer/c-bad/get`), 400, "not_found");
  });

  /**
   * An oversized upload is answered 413 at once. The server then reads and drops a bounded
   * overflow (`lingerBounds`) before it closes, so a client that sends the whole body always reads
   * the answer; past that bound it closes the connection, and a client still sending may see a
   * reset (one that reads while it sends has its answer by then: http-large-body.test.ts).
   */
  const bodyOf = (bytes: number) => JSON.stringify({ amount: 1, pad: "x".repeat(bytes) });
  type Upload = () => Promise<{ status: number; body: any; text: string }>;
  const uploadsOf = (huge: string): Record<string, Upload> => ({
    "declared length (node:http)": () =>
      rawRequest(base, { path: "/wallet/w1/deposit", headers: { "content-type": "application/json" }, body: huge, timeoutMs: 5_000 }),
    "chunked (node:http)": () =>
      rawRequest(base, {
        path: "/wallet/w1/deposit",
        headers: { "content-type": "application/json" },
        body: huge,
        chunkSize: 64 * 1024,
        timeoutMs: 5_000,
      }),
    "declared length (fetch)": () =>
      requestJson(`${base}/wallet/w1/deposit`, { method: "POST", rawBody: huge, headers: { "content-type": "application/json" }, timeoutMs: 5_000 }),
    "streamed (fetch)": async () => {
      const bytes = new TextEncoder().encode(huge);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
          controller.close();
        },
      });
      const res = await fetch(`${base}/wallet/w1/deposit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        duplex: "half",
        signal: AbortSignal.timeout(5_000),
      });
      const text = await res.text();
      return { status: res.status, body: JSON.parse(text), text };
    },
  });
  const uploads = uploadsOf(bodyOf(2 * 1024 * 1024));

  /** "413" or "reset"; anything else (a timeout above all) fails the test. */
  async function refused(upload: Upload, what: string): Promise<"413" | "reset"> {
    try {
      assertErrorBody(await upload(), 413, "payload_too_large");
      return "413";
    } catch (error) {
      const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
      if (code === "ECONNRESET" || code === "EPIPE") return "reset";
      throw new Error(`${what}: neither a 413 nor a closed connection: ${String(error)}`, { cause: error });
    }
  }

  it("a body over 1 MiB is refused with 413 payload_too_large however it is sent", async () => {
    for (const [what, upload] of Object.entries(uploads)) {
      for (let attempt = 0; attempt < 6; attempt++) assert.equal(await refused(upload, what), "413", `${what} #${attempt}`);
    }
    await assertW1Untouched();
  });

  it("a body past what the server drains is refused or cut off, and never hangs", async () => {
    const beyond = uploadsOf(bodyOf(defaultMaxBodyBytes + lingerBounds.maxBytes + 1024 * 1024));
    for (const [what, upload] of Object.entries(beyond)) await refused(upload, what);
    await assertW1Untouched();
    assert.equal((await requestJson(`${base}/health`, { timeoutMs: 3_000 })).status, 200);
  });

  it("after a refused streamed body, the next request on the same client is answered at once", async () => {
    // fetch pools keep-alive connections: a connection left open with the rest of a refused body
    // unread would take the next request and never answer it.
    for (let i = 0; i < 5; i++) {
      await refused(uploads["streamed (fetch)"]!, `streamed (fetch) #${i}`);
      const health = await requestJson(`${base}/health`, { timeoutMs: 3_000 });
      assert.equal(health.status, 200);
      assert.deepEqual((await getJson(`${base}/wallet/w1/balance`)).body, { balance: 100 });
    }
  });

  it("a body that is not JSON by content-type is 415 unsupported_media_type", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
      const res = await requestJson(`${base}/wallet/w1/deposit`, {
        method: "POST",
        rawBody: '{"amount": 5}',
        headers: { "content-type": type },
      });
      assertErrorBody(res, 415, "unsupported_media_type");
    }
    await assertW1Untouched();
  });

  it("a body without a content-type, or an empty POST from a web page without one, is 415: a page on another site can send either without asking first", async () => {
    const noType = await rawRequest(base, { method: "POST", path: "/wallet/w1/deposit", body: '{"amount": 5}' });
    assertErrorBody(noType, 415, "unsupported_media_type");
    assert.match(noType.body.error.message, /no content-type was sent/);
    const fromPage = await rawRequest(base, { method: "POST", path: "/wallet/w1/deposit", headers: { origin: "https://elsewhere.example" } });
    assertErrorBody(fromPage, 415, "unsupported_media_type");
    assert.match(fromPage.body.error.message, /a web page must declare it/);
    await assertW1Untouched();
    // An empty POST from curl or a server (no Origin) is read as {} as before: refused by the command, not by its type.
    const fromCurl = await rawRequest(base, { method: "POST", path: "/wallet/w1/deposit" });
    assert.equal(fromCurl.status, 400, fromCurl.text);
    assert.notEqual(fromCurl.body.error.code, "unsupported_media_type");
  });

  it("a query parameter given twice is 400, not its last value", async () => {
    const twice = await requestJson(`${base}/wallet/w1/balance?at=1&at=2`);
    assertErrorBody(twice, 400, "invalid_input");
    assert.match(twice.body.error.message, /the query parameter "at" is given more than once/);
  });

  it("JSON content-types with parameters or a +json suffix are accepted", async () => {
    for (const type of ["application/json; charset=utf-8", "application/merge-patch+json"]) {
      const res = await requestJson(`${base}/customer/c-types/addWallet`, {
        method: "POST",
        rawBody: '{"walletId": "w1"}',
        headers: { "content-type": type },
      });
      // Accepted as JSON: the customer is simply not registered.
      assertErrorBody(res, 400, "not_found");
    }
  });

  it("an unknown component is 404 unknown_component, an unknown command 404 unknown_command", async () => {
    assertErrorBody(await postJson(`${base}/nope/w1/deposit`, { amount: 1 }), 404, "unknown_component");
    assertErrorBody(await getJson(`${base}/nope/w1/balance`), 404, "unknown_component");
    assertErrorBody(await postJson(`${base}/wallet/w1/steal`, { amount: 1 }), 404, "unknown_command");
    assertErrorBody(await getJson(`${base}/wallet/w1/steal`), 404, "unknown_command");
    // Names that exist on every JavaScript object are not commands.
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      assertErrorBody(await postJson(`${base}/wallet/w1/${name}`, {}), 404, "unknown_command");
    }
    await assertW1Untouched();
  });

  it("invalid ids are 400 invalid_id: an encoded slash, NUL, newline, space, non-ASCII, empty, 1,000 characters", async () => {
    for (const id of ["a%2Fb", "%00", "a%20b", "%C3%A9t%C3%A9", "x".repeat(1000), "a%3Fb", "%0A"]) {
      assertErrorBody(await postJson(`${base}/wallet/${id}/create`, { initialBalance: 1 }), 400, "invalid_id");
      assertErrorBody(await getJson(`${base}/wallet/${id}/balance`), 400, "invalid_id");
    }
    // An empty id (two slashes) is invalid too.
    assertErrorBody(await rawRequest(base, { method: "POST", path: "/wallet//create", headers: { "content-type": "application/json" }, body: "{}" }), 400, "invalid_id");
    await assertW1Untouched();
    // 256 characters is the longest id accepted.
    const longest = "y".repeat(256);
    assert.equal((await postJson(`${base}/wallet/${longest}/create`, { initialBalance: 1 })).status, 200);
  });

  it('"." and ".." as ids never reach an instance: a 4xx whichever way they are written', async () => {
    // fetch resolves dot segments before sending; a raw request sends them as they are. The
    // server either refuses the id (400 invalid_id) or resolves the path to an unknown route (404).
    for (const path of ["/wallet/../create", "/wallet/./create", "/wallet/%2E%2E/create", "/wallet/.%2E/create"]) {
      const res = await rawRequest(base, {
        method: "POST",
        path,
        headers: { "content-type": "application/json" },
        body: '{"initialBalance": 1}',
      });
      assertNoServerError(res, path);
      assert.ok(["invalid_id", "not_found"].includes(res.body?.error?.code), `${path}: ${res.text}`);
    }
  });

  it("bad percent-encoding in the path is 400 invalid_path", async () => {
    for (const path of ["/wallet/%ZZ/create", "/wallet/w1%/create", "/wallet/%E0%A4%A/create", "/wal%let/w1/create"]) {
      const res = await rawRequest(base, {
        method: "POST",
        path,
        headers: { "content-type": "application/json" },
        body: '{"initialBalance": 1}',
      });
      assertErrorBody(res, 400, "invalid_path");
    }
  });

  it("GET on a command is 405 method_not_allowed and runs nothing", async () => {
    assertErrorBody(await getJson(`${base}/wallet/w1/deposit`, { amount: 5 }), 405, "method_not_allowed");
    assertErrorBody(await getJson(`${base}/wallet/w1/withdraw`, { amount: 5 }), 405, "method_not_allowed");
    await assertW1Untouched();
  });

  it("methods other than GET and POST are 405 method_not_allowed", async () => {
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const res = await requestJson(`${base}/wallet/w1/deposit`, { method, body: { amount: 5 } });
      assertErrorBody(res, 405, "method_not_allowed");
    }
    await assertW1Untouched();
  });

  it("paths of other shapes are 404", async () => {
    const paths: Array<[string, string]> = [
      ["GET", "/"],
      ["POST", "/"],
      ["POST", "/wallet"],
      ["POST", "/wallet/w1"],
      ["POST", "/wallet/w1/deposit/extra"],
      ["POST", "/wallet/w1/deposit/"],
      ["POST", "//w1/deposit"],
      ["GET", "/health/x/y/z"],
      ["GET", "/favicon.ico"],
    ];
    for (const [method, path] of paths) {
      const res = await rawRequest(base, { method, path, headers: { "content-type": "application/json" }, body: "{}" });
      assertNoServerError(res, `${method} ${path}`);
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      assert.equal(typeof res.body?.error?.code, "string", `${method} ${path}: ${res.text}`);
      assert.equal(typeof res.body?.error?.message, "string", `${method} ${path}: ${res.text}`);
    }
    await assertW1Untouched();
  });

  it("a handler that throws is a 500 with a correlation id, no stack and no error text in the body", async () => {
    const before = await getJson(`${base}/faulty/f1/count`);
    assert.deepEqual(before.body, { count: 0 });
    const calls: Array<() => Promise<JsonResponse>> = [
      () => postJson(`${base}/faulty/f1/explode`, {}),
      () => postJson(`${base}/faulty/f1/notAnEffect`, {}),
      () => postJson(`${base}/faulty/f1/poison`, {}),
      () => getJson(`${base}/faulty/f1/explodeQuery`),
    ];
    const seen = new Set<string>();
    for (const call of calls) {
      const res = await call();
      const error = assertErrorBody(res, 500, "internal");
      const correlationId = error.details?.correlationId as string;
      assert.match(correlationId, /^[0-9a-f-]{36}$/, res.text);
      assert.ok(error.message.includes(correlationId), "the message names the correlation id");
      assert.ok(!seen.has(correlationId), "each failure has its own correlation id");
      seen.add(correlationId);
      assert.ok(!res.text.includes(secret), `the thrown error's text leaked: ${res.text}`);
      assert.doesNotMatch(res.text, /\bat .+:\d+:\d+|\.ts\b|Error:/, `a stack trace leaked: ${res.text}`);
      // Operators find the error and its stack in the server's log, under the same id.
      await server.waitForOutput(new RegExp(`\\[${correlationId}\\][^\\n]*Error: .*\\n\\s+at `), 5_000);
    }
    // Nothing of the failed commands was kept (poison's first event included), and the
    // instance still works.
    assert.deepEqual((await getJson(`${base}/faulty/f1/count`)).body, { count: 0 });
    assert.deepEqual((await postJson(`${base}/faulty/f1/bump`, {})).body, { count: 1 });
  });

  it("input nested deeper than the limit is 400 nesting_too_deep (with an Idempotency-Key, and as a workflow's start input)", async () => {
    const deep = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    const headers = { "content-type": "application/json" };
    assertErrorBody(await requestJson(`${base}/wallet/w1/deposit`, { method: "POST", rawBody: deep, headers: { ...headers, "idempotency-key": "deep-1" } }), 400, "nesting_too_deep");
    assertErrorBody(await requestJson(`${base}/transfer/t-deep/start`, { method: "POST", rawBody: deep, headers }), 400, "nesting_too_deep");
    const justOver = `${"[".repeat(maxInputDepth + 1)}${"]".repeat(maxInputDepth + 1)}`;
    assertErrorBody(await requestJson(`${base}/wallet/w1/deposit`, { method: "POST", rawBody: justOver, headers }), 400, "nesting_too_deep");
    // Within the limit, nesting is the handler's business: the wallet ignores the extra field.
    assert.equal((await postJson(`${base}/wallet/w-nest/create`, { initialBalance: 0 })).status, 200);
    const within = `{"amount": 1, "pad": ${"[".repeat(maxInputDepth - 1)}${"]".repeat(maxInputDepth - 1)}}`;
    const accepted = await requestJson(`${base}/wallet/w-nest/deposit`, { method: "POST", rawBody: within, headers: { ...headers, "idempotency-key": "nest-1" } });
    assert.deepEqual(accepted.body, { balance: 1 }, accepted.text);
    assert.equal((await getJson(`${base}/transfer/t-deep`)).status, 404);
    await assertW1Untouched();
    assert.ok(server.running, `the server exited:\n${server.output()}`);
  });

  it("two Idempotency-Key headers are 400 invalid_idempotency_key, not one key \"k8, k9\"", async () => {
    const raw = (keys: string[]) => {
      // node:http sends a header given as an array once per value.
      const body = '{"amount": 5}';
      return new Promise<{ status: number; body: any; text: string }>((resolve, reject) => {
        const req = httpRequest(`${base}/wallet/w1/deposit`, {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": String(body.length), "idempotency-key": keys },
          agent: false,
          timeout: 5_000,
        }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (c: string) => (text += c)).on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), text }));
        });
        req.on("error", reject).end(body);
      });
    };
    assertErrorBody(await raw(["k8", "k9"]), 400, "invalid_idempotency_key");
    assertErrorBody(await raw(["k8", "k8"]), 400, "invalid_idempotency_key");
    await assertW1Untouched();
  });

  it("an Idempotency-Key shaped like the runtime's own keys is 400 invalid_idempotency_key: it could answer a workflow step", async () => {
    // wf:{workflow}:{id}:{execution}:{n} is what the second call of t-keys's first execution would send.
    for (const key of ["wf:transfer:t-keys:1:1", "consumer:audit:7:0", "topic:orders:k:0", "timer:remind:1:1:0", "schedule:nightly:1"]) {
      const res = await requestJson(`${base}/wallet/w1/deposit`, { method: "POST", body: { amount: 5 }, headers: { "idempotency-key": key } });
      assert.match(assertErrorBody(res, 400, "invalid_idempotency_key").message, /keeps for the calls of its workflow steps/);
    }
    await assertW1Untouched();
    // A key that merely contains such a word is the caller's own.
    assert.equal((await postJson(`${base}/wallet/w-keys/create`, { initialBalance: 0 })).status, 200);
    const own = await requestJson(`${base}/wallet/w-keys/deposit`, { method: "POST", body: { amount: 5 }, headers: { "idempotency-key": "order-wf:1" } });
    assert.deepEqual(own.body, { balance: 5 }, own.text);
  });

  it("a body in a charset other than UTF-8 is 415 unsupported_media_type", async () => {
    const utf16 = Buffer.from('{"amount": 5}', "utf16le");
    for (const type of ["application/json; charset=utf-16", "application/json; charset=UTF-16LE", 'application/json; charset="latin1"', "application/json;charset=iso-8859-1"]) {
      const res = await requestJson(`${base}/wallet/w1/deposit`, { method: "POST", rawBody: type.includes("16") ? utf16 : '{"amount": 5}', headers: { "content-type": type } });
      assertErrorBody(res, 415, "unsupported_media_type");
    }
    await assertW1Untouched();
    for (const type of ["application/json; charset=utf-8", "application/json; charset=UTF8", 'application/json; charset="utf-8"']) {
      const res = await requestJson(`${base}/customer/c-utf8/addWallet`, { method: "POST", rawBody: '{"walletId": "w1"}', headers: { "content-type": type } });
      assertErrorBody(res, 400, "not_found");
    }
  });

  it("U+0000 or an unpaired surrogate in any string or key is 400 invalid_input naming the field", async () => {
    const headers = { "content-type": "application/json" };
    const cases: Array<[string, string, string]> = [
      ["/wallet/w1/deposit", '{"amount": 5, "note": "a\\u0000b"}', "note"],
      ["/wallet/w1/deposit", '{"amount": 5, "meta": {"tags": ["x", "\\ud800"]}}', "meta.tags.1"],
      ["/wallet/w1/deposit", '{"amount": 5, "meta": {"k\\u0000": 1}}', "meta"],
      ["/wallet/w1/deposit", '{"amount": 5, "lone": "\\udc00 after"}', "lone"],
      ["/customer/c-nul/register", '{"name": "A\\u0000", "email": "a@example.com"}', "name"],
      ["/transfer/t-nul/start", '{"from": "w1", "to": "w\\u00002", "amount": 5}', "to"],
    ];
    for (const [path, rawBody, field] of cases) {
      const error = assertErrorBody(await requestJson(`${base}${path}`, { method: "POST", rawBody, headers }), 400, "invalid_input");
      assert.ok(error.message.includes(field), `${rawBody}: the message names ${field}: ${error.message}`);
      assert.equal(error.details?.path?.join("."), field === "meta" ? "meta.k\u0000" : field, rawBody);
    }
    // Query input too.
    assertErrorBody(await requestJson(`${base}/wallet/w1/balance?x=%00`), 400, "invalid_input");
    // Surrogate pairs (an emoji) are fine.
    assert.equal((await postJson(`${base}/customer/c-emoji/register`, { name: "Ann \u{1F600}", email: "ann@example.com" })).status, 200);
    assertErrorBody(await getJson(`${base}/customer/c-nul/get`), 400, "not_found");
    assert.equal((await getJson(`${base}/transfer/t-nul`)).status, 404);
    await assertW1Untouched();
  });

  it("the bank keeps amounts and balances within Number.MAX_SAFE_INTEGER", async () => {
    const max = Number.MAX_SAFE_INTEGER;
    assert.equal((await postJson(`${base}/wallet/w-big/create`, { initialBalance: max - 10 })).status, 200);
    assertErrorBody(await postJson(`${base}/wallet/w-big/deposit`, { amount: 11 }), 400, "balance_limit");
    assertErrorBody(await postJson(`${base}/wallet/w-big/deposit`, { amount: 2 ** 53 }), 400, "invalid_amount");
    assertErrorBody(await postJson(`${base}/wallet/w-bigger/create`, { initialBalance: 2 ** 53 }), 400, "invalid_amount");
    assert.deepEqual((await postJson(`${base}/wallet/w-big/deposit`, { amount: 10 })).body, { balance: max });
    assert.deepEqual((await getJson(`${base}/wallet/w-big/balance`)).body, { balance: max });
  });

  it("after all of the above the server still runs and answers /health", async () => {
    assert.ok(server.running, `the server exited:\n${server.output()}`);
    const health = await getJson(`${base}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: "ok" });
    await assertW1Untouched();
    // The log shows no crash or unhandled error.
    assert.doesNotMatch(server.output(), /unhandled|uncaught/i);
  });
});
