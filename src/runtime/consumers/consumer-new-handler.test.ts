import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { consumer } from "../../define/consumer.ts";
import { entity } from "../../define/entity.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/**
 * A message parked because the consumer had no handler for its event type (an older node met the
 * newer type first, in a rolling deploy) is retried by itself, with those held behind it, once the
 * consumer runs code that has the handler.
 */

const item = entity(
  "item",
  { initial: () => ({ n: 0 }), events: { added: (s: { n: number }, _e: {}) => ({ n: s.n + 1 }), noted: (s: { n: number }, _e: { note: string }) => s } },
  {
    commands: {
      add: (_s, _c: {}, fx) => fx.emit("added", {}).reply(true),
      note: (_s, c: { note: string }, fx) => fx.emit("noted", c).reply(true),
    },
  },
);

describe("a consumer given the handler it lacked", () => {
  it("retries-the-messages-parked-for-want-of-it-by-itself-with-those-held-behind", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-new-handler-"));
    const path = join(dir, "sagaflow.db");
    const seen: string[] = [];
    const older = consumer("watcher", { source: item, events: { added: (_e, ctx) => void seen.push(`added@${ctx.position}`) } });
    const newer = consumer("watcher", {
      source: item,
      events: { added: (_e, ctx) => void seen.push(`added@${ctx.position}`), noted: (e, ctx) => void seen.push(`noted:${e.note}@${ctx.position}`) },
    });
    try {
      const store = new SqliteStore({ path });
      const first = new Runtime({ store, components: [item, older], log: () => {} });
      await first.start();
      await first.call("item", "i", "note", { note: "hello" });
      await first.call("item", "i", "add", {});
      await until("the noted event parked, the next held", async () => (await store.listParked("watcher", 10)).length === 2);
      await first.stop();
      assert.deepEqual(seen, []);

      const again = new SqliteStore({ path });
      const logs: string[] = [];
      const second = new Runtime({ store: again, components: [item, newer], log: (line) => logs.push(line) });
      await second.start();
      try {
        await until("the parked messages retried", async () => (await again.listParked("watcher", 10)).length === 0 && seen.length === 2);
        assert.deepEqual(seen, ["noted:hello@1", "added@2"]);
        assert.ok(logs.some((line) => /parked at position 1 for want of a handler for "noted", which this code has, retried: 2 delivered, 0 parked/.test(line)), logs.join("\n"));
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
