import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { adminToken, startEdgesApp, validToken, type EdgesApp } from "./support/edges-app.ts";
import { answersIn, type RawAnswer } from "./support/raw-socket.ts";

/**
 * `Expect: 100-continue`: the server says `100 Continue` only once the request has passed every
 * check and its body is about to be read. A request refused first (no token, a bad one, no such
 * route, a body declared too large) gets its answer without a 100, so its client does not upload
 * the body. Node sent the 100 before any handler ran, on both ports.
 */

let edges: EdgesApp;
let token: string;
before(async () => {
  edges = await startEdgesApp();
  token = await validToken();
});
after(async () => edges.app.stop());

/**
 * Sends a request's head with `expect: 100-continue` and its body only once `100 Continue` comes,
 * as a client that waits for it: whether the 100 came, and the first final answer.
 */
function withContinue(port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<{ continued: boolean; answer: RawAnswer | undefined; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let continued = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ continued, answer: answersIn(text)[0], text });
    };
    const timer = setTimeout(done, 5_000);
    socket.on("error", () => {});
    socket.on("close", done);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (!continued && text.startsWith("HTTP/1.1 100 ")) {
        continued = true;
        socket.write(body);
      }
      if (answersIn(text).length > 0) done();
    });
    const extra = Object.entries({ "content-length": String(Buffer.byteLength(body)), ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nexpect: 100-continue\r\n${extra.join("")}\r\n`);
  });
}

function assertRefusedFirst(got: { continued: boolean; answer: RawAnswer | undefined; text: string }, status: number, code: string): void {
  assert.equal(got.continued, false, `a 100 came before the refusal: ${got.text}`);
  assert.equal(got.answer?.status, status, got.text);
  assert.equal((JSON.parse(got.answer.body) as { error: { code: string } }).error.code, code);
  assert.equal(got.answer.headers["connection"], "close", got.text);
}

describe("Expect: 100-continue", () => {
  it("the service: a request refused before its body is read gets no 100", async () => {
    assertRefusedFirst(await withContinue(edges.port, "/note/n1/lock", "{}"), 401, "missing_token");
    assertRefusedFirst(await withContinue(edges.port, "/note/n1/lock", "{}", { authorization: "Bearer x.y.z" }), 401, "malformed_token");
    assertRefusedFirst(await withContinue(edges.port, "/nothing/n1/lock", "{}"), 404, "unknown_component");
    assertRefusedFirst(await withContinue(edges.port, "/note/n1/write", "{}", { "content-length": String(2 * 1024 * 1024) }), 413, "payload_too_large");
  });

  it("the service: an accepted request gets its 100, sends its body and is answered", async () => {
    const locked = await withContinue(edges.port, "/note/n1/lock", "{}", { authorization: `Bearer ${token}` });
    assert.equal(locked.continued, true, locked.text);
    assert.equal(locked.answer?.status, 200, locked.text);
    assert.deepEqual(JSON.parse(locked.answer.body), { locked: true });
    const written = await withContinue(edges.port, "/note/n2/write", '{"text":"hi"}');
    assert.equal(written.continued, true, written.text);
    assert.deepEqual(JSON.parse(written.answer?.body ?? "null"), { text: "hi" });
  });

  it("the admin API: no token, no 100; the token, a 100 and the body read", async () => {
    assertRefusedFirst(await withContinue(edges.adminPort, "/backup", '{"path":""}'), 401, "missing_token");
    const read = await withContinue(edges.adminPort, "/backup", '{"path":""}', { authorization: `Bearer ${adminToken}` });
    assert.equal(read.continued, true, read.text);
    assert.equal(read.answer?.status, 400, read.text);
    assert.equal((JSON.parse(read.answer.body) as { error: { code: string } }).error.code, "invalid_backup_path");
  });
});
