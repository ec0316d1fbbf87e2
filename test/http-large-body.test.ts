import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { lingerBounds } from "../src/http/linger.ts";
import { startEdgesApp, type EdgesApp } from "./support/edges-app.ts";
import { answersIn, exchanged, type Exchanged } from "./support/raw-socket.ts";

/**
 * A body far past the limit (60 MB against 1 MiB) is answered 413 at once, and the server goes on
 * reading and dropping what the client sends, within bounds, before it closes. It used to answer
 * and close at once: the client, still sending, got a reset (EPIPE, ECONNRESET) and, unless it
 * happened to read first, never saw the 413.
 */

let edges: EdgesApp;
before(async () => (edges = await startEdgesApp()));
after(async () => edges.app.stop());

const total = 60 * 1024 * 1024;

/**
 * POSTs a `total`-byte body in 64 KiB pieces, reading nothing until `readAfter` bytes of it are
 * sent (as a client busy sending), and stops sending once an answer has come.
 */
async function upload(readAfter: number): Promise<Exchanged & { sent: number }> {
  const socket = connect(edges.port, "127.0.0.1");
  let text = "";
  let error: string | undefined;
  socket.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code));
  // (events.once would reject on the socket's error: a reset is an outcome here, not a failure.)
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await once(socket, "connect");
  socket.write(`POST /note/n1/write HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${total}\r\n\r\n`);
  const piece = Buffer.alloc(64 * 1024, "x");
  let sent = 0;
  let reading = false;
  while (sent < total && !socket.destroyed && answersIn(text).length === 0) {
    if (!reading && sent >= readAfter) {
      reading = true;
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    }
    sent += piece.length;
    if (!socket.write(piece)) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), closed]);
  }
  socket.destroy();
  await closed;
  return { ...exchanged(text, error, false), sent };
}

describe("a body far past the limit", () => {
  it("a client that reads only once it has sent 4 MiB of 60 MB reads the 413", async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const answer = await upload(4 * 1024 * 1024);
      assert.equal(answer.status, 413, `attempt ${attempt}: ${answer.error ?? ""} ${answer.text.slice(0, 200)}`);
      assert.equal(JSON.parse(answer.body).error.code, "payload_too_large");
      assert.equal(answer.headers["connection"], "close");
      assert.ok(answer.sent < total, "it stopped sending once answered");
    }
  });

  it("a client that sends on without reading is cut off past the bound, not read to the end", async () => {
    const answer = await upload(total);
    assert.ok(answer.sent < total, `the server read all ${total} bytes; it drops at most ${lingerBounds.maxBytes} past the limit`);
    assert.ok(answer.error === "ECONNRESET" || answer.error === "EPIPE", String(answer.error));
  });
});
