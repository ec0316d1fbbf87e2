import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { adminToken, startEdgesApp, type EdgesApp } from "./support/edges-app.ts";
import { exchange, type RawAnswer } from "./support/raw-socket.ts";

/**
 * What Node's HTTP server refuses before any handler sees a request (a request that does not
 * arrive in time, framing it cannot read, headers past its limit) is answered as every other
 * error: `{"error": {"code", "message"}}` as JSON, with `connection: close`, on the service's port
 * and the admin API's. Node's own answers were a bare status line. Raw bytes over `node:net`.
 */

let edges: EdgesApp;
before(async () => {
  // Short timeouts so a request that never ends is refused quickly (read when the server starts).
  process.env["SAGAFLOW_REQUEST_TIMEOUT_MS"] = "1000";
  process.env["SAGAFLOW_HEADERS_TIMEOUT_MS"] = "1000";
  edges = await startEdgesApp();
});
after(async () => edges.app.stop());

function assertJsonError(answer: RawAnswer & { text: string }, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/, answer.text);
  assert.equal(answer.headers["connection"], "close", answer.text);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
  assert.equal(body.error.code, code, answer.text);
  assert.ok(body.error.message.length > 0);
}

const malformed: Record<string, string> = {
  "two different content-lengths": "POST /note/n1/write HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
  "a request line that is not HTTP": "HELLO THERE\r\n\r\n",
};

describe("requests Node refuses itself", () => {
  for (const [what, bytes] of Object.entries(malformed)) {
    it(`${what}: 400 malformed_request as JSON, on both ports, and the connection closes`, async () => {
      for (const port of [edges.port, edges.adminPort]) {
        const answer = await exchange(port, bytes);
        assertJsonError(answer, 400, "malformed_request");
        assert.equal(answer.timedOut, false, "the server closed the connection");
        assert.equal(answer.answers.length, 1, answer.text);
      }
    });
  }

  it("a body whose chunk size is not hex: 400 malformed_request as JSON, in place of the handler's answer", async () => {
    const bytes = "POST /note/n1/write HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    const answer = await exchange(edges.port, bytes);
    assertJsonError(answer, 400, "malformed_request");
    assert.equal(answer.answers.length, 1, answer.text);
  });

  it("headers past the server's limit: 431 headers_too_large as JSON, on both ports", async () => {
    for (const port of [edges.port, edges.adminPort]) {
      const answer = await exchange(port, `GET /health HTTP/1.1\r\nhost: x\r\nx-padding: ${"a".repeat(40 * 1024)}\r\n\r\n`);
      assertJsonError(answer, 431, "headers_too_large");
    }
  });

  it("headers that do not arrive in time: 408 request_timeout as JSON, on both ports", async () => {
    for (const port of [edges.port, edges.adminPort]) {
      const answer = await exchange(port, "GET /health HTTP/1.1\r\nhost: x\r\n");
      assertJsonError(answer, 408, "request_timeout");
    }
  });

  it("a head past Node's default 16 KiB but within the limit reaches the admin API's access check, as it does the service's", async () => {
    const answer = await exchange(edges.adminPort, `GET /workflows HTTP/1.1\r\nhost: x\r\nx-padding: ${"a".repeat(20 * 1024)}\r\n\r\n`, { halfClose: true });
    assert.equal(answer.status, 401, answer.text);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, "missing_token");
  });

  it("a body that does not arrive in time: 408 request_timeout as JSON, in place of the handler's answer", async () => {
    const answer = await exchange(edges.port, "POST /note/n1/write HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{");
    assertJsonError(answer, 408, "request_timeout");
    assert.equal(answer.answers.length, 1, answer.text);
  });

  it("an HTTP/1.1 request without Host: 400 malformed_request as JSON, on both ports; HTTP/1.0 needs none", async () => {
    for (const port of [edges.port, edges.adminPort]) {
      const answer = await exchange(port, "GET /health HTTP/1.1\r\n\r\n");
      assertJsonError(answer, 400, "malformed_request");
      assert.match(answer.body, /must carry a Host header/);
    }
    const old = await exchange(edges.port, "GET /health HTTP/1.0\r\n\r\n");
    assert.equal(old.status, 200, old.text);
  });

  it("an Expect other than 100-continue: 417 expectation_failed as JSON, on both ports, before the handler", async () => {
    for (const port of [edges.port, edges.adminPort]) {
      const body = '{"text":"never"}';
      const answer = await exchange(port, `POST /note/n9/write HTTP/1.1\r\nhost: x\r\nexpect: 200-ok\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      assertJsonError(answer, 417, "expectation_failed");
      assert.match(answer.body, /Expect: 200-ok/);
    }
    const note = await exchange(edges.adminPort, `GET /entities/note/n9/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${adminToken}\r\n\r\n`, { halfClose: true });
    assert.equal(note.status, 200, note.text);
    assert.deepEqual(JSON.parse(note.body).events, [], "the note was never written");
  });

  it("a malformed request pipelined after a good one: the good one's answer first, then the 400", async () => {
    const answer = await exchange(edges.port, "GET /slow HTTP/1.1\r\nhost: x\r\n\r\nHELLO THERE\r\n\r\n");
    assert.deepEqual(answer.answers.map((a) => a.status), [200, 400], answer.text);
    assert.deepEqual(JSON.parse(answer.answers[0]!.body), { slow: true });
    assertJsonError({ ...answer.answers[1]!, text: answer.text }, 400, "malformed_request");
  });
});
