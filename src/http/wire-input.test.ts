import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { access } from "../define/access.ts";
import { keyValue } from "../define/key-value.ts";
import { service } from "../define/service.ts";
import { workflow } from "../define/workflow.ts";
import { createSagaflow, type Sagaflow } from "../host/create-sagaflow.ts";
import { sqlite } from "../host/stores.ts";
import { until } from "../runtime/test-support.ts";
import { assertErrorBody, requestJson } from "../../test/support/http.ts";
import { tempDir } from "../../test/support/server-process.ts";

/**
 * What arrives on the wire as a client sends it: a number JSON cannot hold, bytes that are not
 * UTF-8, requests pipelined on one connection, a body cut off by a client that left, HEAD. Each
 * used to be taken in some other shape than sent (Infinity in memory and null on disk; U+FFFD in
 * place of the bytes; a query answered before the command sent ahead of it), or logged as an
 * internal error of ours.
 */

type Box = { value: unknown; n: number };
const box = keyValue("box", {
  initial: (): Box => ({ value: null, n: 0 }),
  expose: access.anyone,
  commands: {
    put: (s, c: { value: unknown }, fx) => fx.update({ value: c.value, n: s.n + 1 }).reply((after) => after),
  },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});
const job = workflow("job", {
  expose: access.anyone,
  start: (input: { n: number }) => input,
  steps: { only: async (_s, _in, ctx) => ctx.end() },
});

let app: Sagaflow;
let base: string;
const lines: string[] = [];
const dataDir = tempDir("sagaflow-wire-");
before(async () => {
  app = createSagaflow(service("wire", [box, job]), { store: sqlite(join(dataDir, "db.sqlite")), log: (line) => lines.push(line) });
  base = (await app.listen({ port: 0 })).url;
});
after(async () => {
  await app.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** HTTP answers one after another in `text` (each with a content-length), as far as they are whole. */
function answersIn(text: string): Array<{ head: string; body: string }> {
  const answers: Array<{ head: string; body: string }> = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd < 0) return answers;
    const head = text.slice(at, headEnd);
    // (A HEAD answer names a length it does not send: those are read until the server closes.)
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (text.length < headEnd + 4 + length) return answers;
    answers.push({ head, body: text.slice(headEnd + 4, headEnd + 4 + length) });
    at = headEnd + 4 + length;
  }
}

/** Writes `bytes` on one connection and reads until `count` HTTP answers have come back (or the server closes). */
function onOneConnection(bytes: Buffer | string, count: number): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (answersIn(text).length >= count) {
        socket.end();
        resolve(text);
      }
    });
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
    socket.write(bytes);
  });
}

describe("input on the wire", () => {
  it("a-number-too-large-for-json-is-400-invalid-input-in-a-body-or-a-query-and-changes-nothing", async () => {
    const headers = { "content-type": "application/json" };
    const refused = assertErrorBody(await requestJson(`${base}/box/b1/put`, { method: "POST", rawBody: '{"value": {"big": [1, 1e400]}}', headers }), 400, "invalid_input");
    assert.match(refused.message, /the number at value\.big\.1 is too large for JSON/);
    assertErrorBody(await requestJson(`${base}/box/b1/put`, { method: "POST", rawBody: '{"value": -1e999}', headers }), 400, "invalid_input");
    assertErrorBody(await requestJson(`${base}/box/b1/get?x=1e400`), 400, "invalid_input");
    assert.deepEqual((await requestJson(`${base}/box/b1/get`)).body, { value: null, n: 0 });
    assert.deepEqual((await requestJson(`${base}/box/b1/put`, { method: "POST", body: { value: 1.7e308 } })).body, { value: 1.7e308, n: 1 });
  });

  it("a-body-that-is-not-utf-8-is-400-malformed-json-and-changes-nothing", async () => {
    const body = Buffer.concat([Buffer.from('{"value": "caf'), Buffer.from([0xe9, 0xff]), Buffer.from('"}')]);
    const request = `POST /box/b2/put HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    const answer = await onOneConnection(Buffer.concat([Buffer.from(request), body]), 1);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"code":"malformed_json".*not valid UTF-8/);
    assert.deepEqual((await requestJson(`${base}/box/b2/get`)).body, { value: null, n: 0 });
    const fine = await requestJson(`${base}/box/b2/put`, { method: "POST", body: { value: "café \u{1F600}" } });
    assert.deepEqual(fine.body, { value: "café \u{1F600}", n: 1 });
  });

  it("requests-pipelined-on-one-connection-are-handled-in-order-a-query-sees-the-command-before-it", async () => {
    const put = (n: number) => {
      const body = JSON.stringify({ value: n });
      return `POST /box/b3/put HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    };
    const get = "GET /box/b3/get HTTP/1.1\r\nhost: x\r\n\r\n";
    for (let round = 1; round <= 5; round++) {
      const answers = await onOneConnection(put(round) + get + put(round * 100) + get, 4);
      const bodies = answersIn(answers).map((answer) => JSON.parse(answer.body));
      assert.deepEqual(bodies.map((b) => b.value), [round, round, round * 100, round * 100], `round ${round}: ${JSON.stringify(bodies)}`);
    }
  });

  it("a-client-leaving-in-the-middle-of-its-body-is-not-an-internal-error-and-the-command-is-not-run", async () => {
    const { port } = new URL(base);
    const before = lines.length;
    await Promise.all(Array.from({ length: 20 }, () => new Promise<void>((resolve) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write('POST /box/b4/put HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"value": ');
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on("close", () => resolve());
      socket.on("error", () => {});
    })));
    // The server has seen every connection go when a request after them is answered.
    await until("the server answers again", async () => (await requestJson(`${base}/box/b4/get`)).status === 200, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(lines.slice(before).filter((line) => /internal|ERROR/.test(line)), []);
    assert.deepEqual((await requestJson(`${base}/box/b4/get`)).body, { value: null, n: 0 });
  });

  it("head-is-answered-as-get-without-a-body-on-health-queries-and-workflow-results", async () => {
    await requestJson(`${base}/job/j1/start`, { method: "POST", body: { n: 1 } });
    for (const path of ["/health", "/box/b1/get", "/job/j1"]) {
      const answer = await onOneConnection(`HEAD ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`, 1);
      assert.match(answer, /^HTTP\/1\.1 200 /, `HEAD ${path}: ${answer}`);
      assert.match(answer, /content-type: application\/json/i, path);
      assert.equal(answer.slice(answer.indexOf("\r\n\r\n") + 4), "", `HEAD ${path} has no body`);
    }
    const wrong = await requestJson(`${base}/box/b1/get`, { method: "PUT", body: {} });
    assert.equal(wrong.headers.get("allow"), "GET, HEAD, POST");
  });
});
