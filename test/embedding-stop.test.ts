import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createSagaflow, sqlite } from "../src/index.ts";
import { runtimeOf } from "../src/host/create-sagaflow.ts";
import shutdown, { marks } from "./fixtures/shutdown/index.ts";
import { postJson, requestJson } from "./support/http.ts";
import { tempDir } from "./support/server-process.ts";

/**
 * `app.stop()` of a service mounted in the host's own server: the answers in flight through it
 * end before the runtime and its store close — a long poll is answered (it got 500 "The database
 * connection is not open" when stop() did not wait), an endpoint's command still goes through,
 * event streams end — and requests from then on get 503 `shutting_down`.
 */

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("embedded stop with answers in flight", () => {
  const dir = tempDir("sagaflow-embedded-stop-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("answers a long poll and an endpoint's command before the store closes, and refuses new requests", { timeout: 60_000 }, async () => {
    const app = createSagaflow(shutdown, { store: sqlite(join(dir, "db.sqlite")), log: () => {} });
    await app.start();
    const server = createServer((req, res) => app.handler(req, res));
    await new Promise<void>((ready) => server.listen(0, "127.0.0.1", () => ready()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.equal((await postJson(`${url}/approval/e1/start`, { what: "laptop" })).status, 200);
      const poll = requestJson(`${url}/approval/e1?wait=3`);
      const late = postJson(`${url}/late/e1`, { ms: 1_000 });
      const stream = await fetch(`${url}/quiet`);
      const streamEnded = stream.text().then(() => "ended", (error: Error) => `failed: ${error.message}`);
      await until("poll waiting", () => runtimeOf(app)!.workflows.endWaiters === 1);
      await until("late endpoint sleeping", () => marks.has("late: sleeping"));
      await until("quiet stream open", () => marks.has("quiet: open"));

      const stopped = app.stop();
      const refused = await requestJson(`${url}/tally/x/count`);
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.body.error.code, "shutting_down");

      // Answered from the store, not 500 "The database connection is not open": before it closed.
      const polled = await poll;
      assert.equal(polled.status, 200, polled.text);
      assert.deepEqual(polled.body, { id: "e1", status: "paused", step: "ask", state: { what: "laptop", approved: false } });
      const added = await late;
      assert.deepEqual([added.status, added.body], [200, { count: 1 }], added.text);
      assert.equal(await streamEnded, "ended");
      await stopped;
      assert.ok(marks.has("quiet: ended"), "the event stream's generator did not end");
    } finally {
      await app.stop();
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
