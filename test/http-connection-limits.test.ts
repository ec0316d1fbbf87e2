import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { getJson, postJson } from "./support/http.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * One client cannot take the service from the others: a flood of slow-body connections from one
 * address (127.0.0.2) past the per-client limit gets fast 503s, the ones let in are cut when the
 * request timeout passes (408), and a client on another address (127.0.0.1) keeps getting answers
 * throughout. Small limits so the test is quick; everything on loopback; every wait is bounded.
 */

const flood = 300;
const perClient = 200;

interface Held {
  socket: Socket;
  received: string;
  closed: boolean;
}

function slowBody(port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const held: Held = { socket: connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" }), received: "", closed: false };
    held.socket.setEncoding("utf8");
    held.socket.on("data", (chunk: string) => (held.received += chunk));
    held.socket.on("error", () => {});
    held.socket.on("close", () => (held.closed = true));
    held.socket.once("connect", () => {
      // Headers, then one byte of a 1,000-byte body, and nothing more.
      held.socket.write("POST /wallet/w1/deposit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{");
      resolve(held);
    });
    held.socket.once("error", reject);
  });
}

describe("connection limits (real process)", () => {
  let server: SagaflowProcess | undefined;
  const sockets: Held[] = [];
  after(async () => {
    for (const held of sockets) held.socket.destroy();
    await server?.cleanup();
  });

  it("a slow-body flood past the limit gets 503s and is cut by the request timeout, while another client keeps getting answers", { timeout: 60_000 }, async () => {
    server = await SagaflowProcess.start({
      target: "examples/bank",
      env: {
        SAGAFLOW_MAX_CONNECTIONS: "260",
        SAGAFLOW_MAX_CONNECTIONS_PER_CLIENT: String(perClient),
        SAGAFLOW_REQUEST_TIMEOUT_MS: "3000",
      },
    });
    const base = server.url;
    const port = Number(new URL(base).port);
    assert.equal((await postJson(`${base}/wallet/w1/create`, { initialBalance: 0 })).status, 200);

    for (let i = 0; i < flood; i++) sockets.push(await slowBody(port));
    // The other client, from another address, while the flood holds its connections.
    let deposits = 0;
    for (let i = 0; i < 20; i++) {
      const res = await postJson(`${base}/wallet/w1/deposit`, { amount: 1 }, {}, 5_000);
      assert.equal(res.status, 200, res.text);
      deposits++;
      assert.deepEqual((await getJson(`${base}/wallet/w1/balance`)).body, { balance: deposits });
      await sleep(50);
    }
    // Every flood connection ends by itself: a 503 at once, or a 408 after the request timeout.
    const deadline = Date.now() + 20_000;
    while (sockets.some((h) => !h.closed) && Date.now() < deadline) await sleep(100);
    const open = sockets.filter((h) => !h.closed).length;
    assert.equal(open, 0, `${open} slow-body connections were still open 20 s on`);
    const refused = sockets.filter((h) => h.received.startsWith("HTTP/1.1 503")).length;
    const timedOut = sockets.filter((h) => h.received.startsWith("HTTP/1.1 408")).length;
    assert.ok(refused >= flood - perClient - 10 && refused <= flood - perClient, `503s: ${refused}`);
    for (const held of sockets.filter((h) => h.received.startsWith("HTTP/1.1 503"))) {
      assert.match(held.received, /retry-after: 1/i);
      assert.match(held.received, /"code":"overloaded"/);
    }
    assert.ok(refused + timedOut >= flood - 10, `503s ${refused}, 408s ${timedOut} of ${flood}`);
    assert.ok(server.running, server.output());
    assert.deepEqual((await getJson(`${base}/wallet/w1/balance`)).body, { balance: 20 });
  });
});
