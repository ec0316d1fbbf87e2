import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startEdgesApp, type EdgesApp } from "./support/edges-app.ts";
import { exchange } from "./support/raw-socket.ts";

/**
 * A client that sends its whole request and then half-closes its side (FIN, `socket.end()` after
 * writing) still gets its answer (RFC 9112, 9.6: a half-close does not mean the client lost
 * interest). Node's http.Server ends the connection at the FIN unless told otherwise, and an
 * answer written after that, as any that waits on I/O or a timer, was lost.
 */

let edges: EdgesApp;
before(async () => (edges = await startEdgesApp()));
after(async () => edges.app.stop());

describe("a request followed by a half-close", () => {
  it("gets its answer when the answer comes after the FIN, then the connection closes", async () => {
    const answer = await exchange(edges.port, "GET /slow HTTP/1.1\r\nhost: x\r\n\r\n", { halfClose: true });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(JSON.parse(answer.body), { slow: true });
    assert.equal(answer.timedOut, false, "the server closed the connection after the answer");
  });

  it("gets its answer for a command with a body", async () => {
    const body = '{"text":"hello"}';
    const request = `POST /note/n1/write HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    const answer = await exchange(edges.port, request, { halfClose: true });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(JSON.parse(answer.body), { text: "hello" });
  });
});
