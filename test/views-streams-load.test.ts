import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { postJson } from "./support/http.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * Streamed view queries under writes: with 100 streams of a large result (the shop's carts/open,
 * ≈73 KB) open and never read, writes go on, the server's memory stays bounded, and a stream that
 * reads gets the latest result. A real `sagaflow serve`. What the streams cost the writes per
 * second is a figure for `BENCH_MODES=streamed npm run bench:views`, not a test; that they share
 * one query run per interval and hold one frame each is src/http/view-streams.test.ts.
 */

const carts = 850;
const writers = 8;
const phaseMs = 3_000;

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

function openStream(base: URL, onData?: (text: string) => void, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: base.hostname, port: Number(base.port), ...(localAddress === undefined ? {} : { localAddress }) });
    socket.on("error", () => {});
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.write("GET /views/carts/open HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n");
      if (onData) {
        socket.setEncoding("utf8");
        socket.on("data", onData);
      }
      resolve(socket);
    });
  });
}

describe("streamed view queries under write load (real process)", () => {
  let server: SagaflowProcess | undefined;
  const sockets: Socket[] = [];
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.cleanup();
  });

  it("100 unread streams of a large result leave writes going and memory bounded", { timeout: 120_000 }, async () => {
    server = await SagaflowProcess.start({ target: "examples/shop", args: ["--sync", "OFF"] });
    const base = new URL(server.url);
    const pid = server.pid!;
    let n = 0;
    const add = (i: number) =>
      postJson(`${server!.url}/cart/cart-${i % carts}/addItem`, { userId: `u${i % 97}`, productId: `p${i % 13}`, name: "Pen", quantity: 1, price: 1.5 });
    const writeFor = async (ms: number) => {
      let writes = 0;
      const end = Date.now() + ms;
      await Promise.all(Array.from({ length: writers }, async () => {
        while (Date.now() < end) {
          const res = await add(n++);
          assert.equal(res.status, 200, res.text);
          writes++;
        }
      }));
      return writes;
    };
    // The carts, all open: a large streamed result.
    for (let i = 0; i < carts; i += 17) await Promise.all(Array.from({ length: Math.min(17, carts - i) }, () => add(n++)));
    await writeFor(1_000); // warm up

    const rssBefore = rssMb(pid);
    for (let i = 0; i < 100; i++) sockets.push(await openStream(base));
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(pid))), 100);
    let withUnread: number;
    try {
      await sleep(300);
      withUnread = await writeFor(phaseMs);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(withUnread > 0, `no write answered in ${phaseMs} ms with 100 unread streams`);
    assert.ok(rssPeak - rssBefore < 150, `RSS grew by ${Math.round(rssPeak - rssBefore)} MB with 100 unread streams (from ${Math.round(rssBefore)} MB)`);

    // A stream that reads gets the latest result, whatever it skipped. From another address: the
    // 100 unread ones are all one client may hold.
    let text = "";
    sockets.push(await openStream(base, (chunk) => (text += chunk), "127.0.0.2"));
    const marker = await postJson(`${server.url}/cart/cart-marker/addItem`, { userId: "u-marker", productId: "p", name: "Pen", quantity: 3, price: 1 });
    assert.equal(marker.status, 200, marker.text);
    const end = Date.now() + 10_000;
    while (!text.includes('"cartId":"cart-marker"') && Date.now() < end) await sleep(50);
    assert.ok(text.includes('"cartId":"cart-marker"'), "the reading stream got the result with the last write");
    for (const socket of sockets.splice(0)) socket.destroy();
    assert.equal((await postJson(`${server.url}/cart/cart-1/addItem`, { userId: "u1", productId: "p", name: "Pen", quantity: 1, price: 1 })).status, 200);
  });
});
