import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serve, type RunningService } from "../src/cli/serve.ts";
import shutdown from "./fixtures/shutdown/index.ts";
import { requestJson } from "./support/http.ts";
import { tempDir } from "./support/server-process.ts";

/**
 * A `GET /{workflow}/{id}?wait=60` whose client leaves drops its waiter at once: abandoned polls
 * held theirs (memory, and a store read each) until their wait ran out.
 */

/** Resolves once `check()` holds, polling; rejects after `timeoutMs` with `what` and the last value. */
async function until(what: string, check: () => number, wanted: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (check() !== wanted) {
    if (Date.now() > deadline) throw new Error(`${what}: ${check()}, not ${wanted}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("abandoned long polls", () => {
  const dir = tempDir("sagaflow-long-poll-");
  let running: RunningService;
  before(async () => {
    running = await serve({ service: shutdown, port: 0, adminPort: -1, dataDir: join(dir, "data"), log: () => {} });
  });
  after(async () => {
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a poll whose client leaves drops its waiter at once, long before its wait would run out", { timeout: 60_000 }, async () => {
    assert.equal((await requestJson(`${running.url}/approval/p1/start`, { body: { what: "x" } })).status, 200);
    const { port } = new URL(running.url);
    const polls = 20;
    const sockets: Socket[] = [];
    for (let i = 0; i < polls; i++) {
      const socket = connect(Number(port), "127.0.0.1");
      socket.on("error", () => {});
      socket.write("GET /approval/p1?wait=60 HTTP/1.1\r\nhost: x\r\n\r\n");
      sockets.push(socket);
    }
    const waiters = () => running.runtime.workflows.endWaiters;
    await until("callers waiting", waiters, polls, 20_000);
    for (const socket of sockets) socket.destroy();
    // Their wait is 60 s: gone well within a third of it means they went with their clients.
    await until("callers waiting after their clients left", waiters, 0, 20_000);

    // The workflow and a poll that stays are unaffected.
    const staying = requestJson(`${running.url}/approval/p1?wait=30`, { timeoutMs: 40_000 });
    await until("callers waiting", waiters, 1, 20_000);
    assert.equal((await requestJson(`${running.url}/approval/p1/approve`, { body: {} })).status, 200);
    const answer = await staying;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.status, "ended");
  });
});
