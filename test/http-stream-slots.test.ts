import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { maxStreams, maxStreamsPerClient } from "../src/http/views-route.ts";
import { startEdgesApp, type EdgesApp } from "./support/edges-app.ts";
import { exchange } from "./support/raw-socket.ts";

/**
 * Streamed view queries hold a connection each, and the server keeps at most `maxStreams` of them
 * open: one client (one remote address) may hold a tenth of them, so it cannot take them all. Past
 * its share it gets the same 503 `overloaded` as past the server's limit; another client still
 * opens streams, and a slot freed is taken again.
 */

let edges: EdgesApp;
const held: Socket[] = [];
before(async () => (edges = await startEdgesApp()));
after(async () => {
  for (const socket of held) socket.destroy();
  await edges.app.stop();
});

const streamRequest = "GET /views/notes/all HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n";

/** Opens a stream from `localAddress` and resolves once its first result has come. */
function openStream(localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: edges.port, localAddress });
    let text = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("event: result")) resolve(socket);
      else if (/^HTTP\/1\.1 [^2]/.test(text)) reject(new Error(`the stream was refused: ${text}`));
    });
    socket.write(streamRequest);
  });
}

describe("streamed view query slots", () => {
  it(`one client holds at most ${maxStreamsPerClient} of the ${maxStreams} streams; past that it gets 503 overloaded, another client does not`, async () => {
    assert.equal(maxStreamsPerClient, Math.max(1, Math.floor(maxStreams / 10)));
    for (let i = 0; i < maxStreamsPerClient; i++) held.push(await openStream("127.0.0.1"));
    const refused = await exchange(edges.port, streamRequest.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n"), { localAddress: "127.0.0.1" });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.headers["retry-after"], "1");
    const error = (JSON.parse(refused.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, "overloaded");
    assert.match(error.message, new RegExp(`this client already has ${maxStreamsPerClient} streamed queries open`));

    held.push(await openStream("127.0.0.2"));

    // A slot the client frees is its own again (once the server has seen the stream close).
    held.shift()!.destroy();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const again = await openStream("127.0.0.1").catch((e: unknown) => e as Error);
      if (!(again instanceof Error)) {
        held.push(again);
        break;
      }
      assert.ok(Date.now() < deadline, `no slot was freed: ${again.message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
