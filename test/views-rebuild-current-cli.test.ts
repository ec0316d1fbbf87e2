import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createSagaflow, keyValue, service, sqlite, table, view } from "../src/index.ts";
import { runtimeOf } from "../src/host/create-sagaflow.ts";
import { VirtualClock } from "../src/runtime/clock.ts";
import { cli } from "./support/cli.ts";

/**
 * Issue 17 item 1, with the real CLI over the admin API: once retention removed the key-value
 * states a view is fed by, `sagaflow views rebuild <view>` fails saying so and what to run
 * instead, and rebuilds nothing; `--from current` rebuilds it with the rows it had; a `--from`
 * that is neither is refused.
 */

const day = 24 * 60 * 60 * 1000;

const box = keyValue("box", {
  initial: () => ({ v: 0 }),
  commands: { set: (_s, c: { v: number }, fx) => fx.update(c).reply((s) => s) },
});
const boxes = view("boxes", {
  version: 1,
  tables: { boxes: table<typeof box, { id: string; v: number }>(box, { state: (_row, state, { id }) => (state === null ? null : { id, v: state.v }) }) },
  queries: { all: "SELECT * FROM boxes ORDER BY id" },
});

interface ViewLine {
  name: string;
  active: { generation: number; offset: number } | null;
  rebuilding: unknown;
}

describe("sagaflow views rebuild --from current", () => {
  it("after-retention-a-rebuild-from-the-feed-is-refused-and-one-from-current-state-keeps-the-rows", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-views-current-"));
    const clock = new VirtualClock(Date.now());
    const app = createSagaflow(service("boxes", [box, boxes]), {
      store: sqlite(join(dir, "sagaflow.db")),
      clock,
      log: () => {},
      retention: { intervalMs: 60 * 60 * 1000 },
    });
    await app.start();
    const server = createServer(app.adminHandler);
    await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
    const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const runtime = runtimeOf(app)!;
    const views = async () => ((await (await fetch(`${admin}/views`)).json()) as { views: ViewLine[] }).views[0]!;
    const rows = async () => ((await runtime.views.query("boxes", "all", {})) as { rows: unknown[] }).rows;
    try {
      for (let round = 0; round < 2; round++) for (let i = 0; i < 20; i++) await runtime.call("box", `b${i}`, "set", { v: round * 100 + i });
      const head = await runtime.store.feedHead();
      for (let i = 0; i < 1_000 && ((await views()).active?.offset ?? 0) < head; i++) await new Promise((r) => setTimeout(r, 10));
      clock.stepWall(7 * day + 60_000);
      const run = await runtime.retention.runOnce();
      assert.ok(run.removed.feed >= 39, `removed ${run.removed.feed}`);
      const before = await rows();
      assert.equal(before.length, 20);
      const generation = (await views()).active!.generation;

      const refused = await cli(["views", "rebuild", "boxes", "--admin", admin]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /feed_entries_removed/);
      assert.match(refused.stderr, /retention removed key-value and workflow states up to position \d+/);
      assert.match(refused.stderr, /sagaflow views rebuild boxes --from current/);
      assert.deepEqual([(await views()).active!.generation, (await views()).rebuilding], [generation, null], "nothing was rebuilt");

      const wrong = await cli(["views", "rebuild", "boxes", "--from", "yesterday", "--admin", admin]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /--from is "feed" or "current", got "yesterday"/);
      assert.equal((await views()).active!.generation, generation);

      const rebuilt = await cli(["views", "rebuild", "boxes", "--from", "current", "--admin", admin]);
      assert.equal(rebuilt.code, 0, rebuilt.stderr);
      assert.match(rebuilt.stdout, new RegExp(`view boxes rebuilt \\(generation ${generation + 1}\\)`));
      assert.deepEqual(await rows(), before);
    } finally {
      server.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
