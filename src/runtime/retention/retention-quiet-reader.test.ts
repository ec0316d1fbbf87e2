import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { consumer } from "../../define/consumer.ts";
import { keyValue } from "../../define/key-value.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/**
 * A consumer of a component that rarely changes has passed every other component's states in the
 * feed, up to the next entry of its own: retention removes them. Before, its offset (its last
 * entry) held the whole feed, so one quiet consumer kept every key-value and workflow state for ever.
 */

const day = 24 * 60 * 60 * 1000;

const settings = keyValue("settings", {
  initial: () => ({ v: 0 }),
  commands: { set: (_s, c: { v: number }, fx) => fx.update(c).reply(c.v) },
});

const counter = keyValue("counter", {
  initial: () => ({ n: 0 }),
  commands: { bump: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply(s.n + 1) },
});

describe("retention and a quiet consumer", () => {
  it("removes-the-states-a-consumer-of-another-component-has-passed-and-keeps-its-next-unread-entry", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-quiet-reader-"));
    const seen: number[] = [];
    const watcher = consumer("settings-watcher", {
      source: settings,
      state: async (message: { state: unknown }) => {
        seen.push((message.state as { v: number }).v);
      },
    });
    const clock = new VirtualClock(Date.now());
    const store = new SqliteStore({ path: join(dir, "sagaflow.db") });
    const runtime = new Runtime({ store, components: [settings, counter, watcher], clock, log: () => {}, retention: { intervalMs: 24 * 60 * 60_000 } });
    await runtime.start();
    try {
      await runtime.call("settings", "s", "set", { v: 1 });
      await until("the consumer to read the setting", () => seen.length === 1);
      for (let i = 0; i < 20; i++) await runtime.call("counter", `c${i}`, "bump", {});
      const head = await store.feedHead();
      await until("the consumer's offset stored", async () => (await store.loadOffset("settings-watcher")) > 0);

      clock.stepWall(7 * day + 60_000);
      let run = await runtime.retention.runOnce();
      assert.equal(run.error, null);
      assert.equal(run.feedFloor, head, "nothing of the consumer's source follows its offset: it has passed the whole feed");
      assert.equal(run.removed.feed, 20, "the setting and the counters' states, but the feed's newest entry, which stays");

      // A new setting, not yet read (the consumer is stopped): the floor stops just below it.
      await runtime.consumers.get("settings-watcher")!.stop();
      await runtime.call("counter", "c0", "bump", {});
      const unread = await runtime.call("settings", "s", "set", { v: 2 });
      assert.equal(unread, 2);
      const [entry] = await store.readFeed(await store.loadOffset("settings-watcher"), 1, ["settings"]);
      run = await runtime.retention.runOnce();
      assert.equal(run.feedFloor, entry!.position - 1);
      assert.equal(run.feedHeldBy, "consumer:settings-watcher");
    } finally {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
