import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { startEdgesApp, type EdgesApp } from "./support/edges-app.ts";
import { exchange } from "./support/raw-socket.ts";

/**
 * A client that sends its whole request and then half-closes its side (FIN, `socket.end()` after
 * writing) still gets its answer (RFC 9112, 9.6: a half-close does not mean the client lost
 * interest). Node's http.Server ends the connection at the FIN unless told otherwise, and an
 * answer written after that, as any that waits on I/O or a timer, was lost. A client that closes
 * altogether sends the same FIN, so what waits only for its caller does not hold on: a long poll
 * is answered at once, an event stream ends after its first result, an endpoint's signal is
 * aborted.
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

  it("a long poll is answered at once with the workflow as it is, not after its wait", async () => {
    const started = await exchange(edges.port, 'POST /approval/a1/start HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{"what":"x"}', { halfClose: true });
    assert.equal(started.status, 200, started.text);
    const answer = await exchange(edges.port, "GET /approval/a1?wait=60 HTTP/1.1\r\nhost: x\r\n\r\n", { halfClose: true, timeoutMs: 20_000 });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(JSON.parse(answer.body).status, "paused");
  });

  it("an endpoint waiting on its signal sees it aborted, and its answer is sent", async () => {
    const answer = await exchange(edges.port, "GET /hold HTTP/1.1\r\nhost: x\r\n\r\n", { halfClose: true, timeoutMs: 20_000 });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(JSON.parse(answer.body), { aborted: true });
  });

  it("an endpoint that gives up on its aborted signal answers client_closed, not an internal error", async () => {
    const answer = await exchange(edges.port, "GET /give-up HTTP/1.1\r\nhost: x\r\n\r\n", { halfClose: true, timeoutMs: 20_000 });
    assert.equal(answer.status, 400, answer.text);
    assert.equal(JSON.parse(answer.body).error.code, "client_closed");
  });

  it("an endpoint whose caller closed and that gives up on its signal logs no internal error", async () => {
    const socket = connect(edges.port, "127.0.0.1");
    await once(socket, "connect");
    socket.write("GET /give-up HTTP/1.1\r\nhost: x\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    // The handler fails as the server sees the close, a moment after it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(edges.logged.filter((line) => /internal/i.test(line)), []);
  });

  it("an event stream sends its first result, then ends", async () => {
    const answer = await exchange(edges.port, "GET /views/notes/all HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n", { halfClose: true, timeoutMs: 20_000 });
    assert.match(answer.text, /^HTTP\/1\.1 200 [\s\S]*event: result\ndata: \{"notes":/, answer.text);
    assert.equal(answer.timedOut, false, "the stream ended");
  });
});
