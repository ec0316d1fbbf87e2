import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { adminToken, startEdgesApp, validToken, type EdgesApp } from "./support/edges-app.ts";
import { exchange } from "./support/raw-socket.ts";

/**
 * A request with two Authorization headers is refused (400 `malformed_request`) before any handler
 * runs, on the service's port and the admin API's, whichever of them is valid. Node keeps the
 * first of them and drops the others without a word, so the request was taken as if the first
 * were the only one: a valid token first let in a request that also carried another.
 */

let edges: EdgesApp;
let token: string;
before(async () => {
  edges = await startEdgesApp();
  token = await validToken();
});
after(async () => edges.app.stop());

function twice(method: string, path: string, first: string, second: string, body = ""): string {
  const framing = method === "POST" ? `content-type: application/json\r\ncontent-length: ${body.length}\r\n` : "";
  return `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${framing}authorization: ${first}\r\nauthorization: ${second}\r\nconnection: close\r\n\r\n${body}`;
}

function assertRefused(answer: { status: number; body: string; text: string }): void {
  assert.equal(answer.status, 400, answer.text);
  const error = (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, "malformed_request");
  assert.match(error.message, /send one Authorization header, not 2/);
}

describe("two Authorization headers", () => {
  it("a route that needs a token: refused whichever comes first", async () => {
    assertRefused(await exchange(edges.port, twice("POST", "/note/n1/lock", `Bearer ${token}`, "Bearer junk", "{}")));
    assertRefused(await exchange(edges.port, twice("POST", "/note/n1/lock", "Bearer junk", `Bearer ${token}`, "{}")));
    assertRefused(await exchange(edges.port, twice("POST", "/note/n1/lock", `Bearer ${token}`, `Bearer ${token}`, "{}")));
    // One is let in as before.
    const one = await exchange(edges.port, `POST /note/n1/lock HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nauthorization: Bearer ${token}\r\nconnection: close\r\n\r\n{}`);
    assert.equal(one.status, 200, one.text);
  });

  it("a public route: refused before its handler runs", async () => {
    assertRefused(await exchange(edges.port, twice("POST", "/note/n-twice/write", "Bearer a", "Bearer b", '{"text":"x"}')));
    const notes = await exchange(edges.port, "GET /views/notes/all HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert.deepEqual(JSON.parse(notes.body), { notes: [] }, "nothing was written");
  });

  it("the admin API: refused even with the admin token first", async () => {
    assertRefused(await exchange(edges.adminPort, twice("GET", "/workflows", `Bearer ${adminToken}`, "Bearer junk")));
    const one = await exchange(edges.adminPort, `GET /workflows HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${adminToken}\r\nconnection: close\r\n\r\n`);
    assert.equal(one.status, 200, one.text);
  });
});
