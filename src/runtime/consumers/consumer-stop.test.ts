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
 * A consumer far behind on one instance (messages queued one after another) stops after the message
 * it is handling, not after every message it has queued: a stop (SIGTERM, a lease moving) used to
 * wait for the whole queue — 40 messages of 100 ms, 4 s; 1,024 of them, minutes. What it had not
 * begun is delivered at the next start, each once.
 */
const item = entity(
  "item",
  { initial: () => ({ n: 0 }), events: { added: (s: { n: number }, _e: {}) => ({ n: s.n + 1 }) } },
  { commands: { add: (_s, _c: {}, fx) => fx.emit("added", {}).reply((after) => after) } },
);

describe("a lagging consumer when the runtime stops", () => {
  it("stops-after-the-message-in-hand-and-delivers-the-rest-once-at-the-next-start", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-consumer-stop-"));
    const path = join(dir, "sagaflow.db");
    const delivered: number[] = [];
    let slowMs = 100;
    const slow = consumer("slow", {
      source: item,
      events: {
        added: async (_e, ctx) => {
          await new Promise((resolve) => setTimeout(resolve, slowMs));
          delivered.push(ctx.position);
        },
      },
    });
    const runtimeOn = () => new Runtime({ store: new SqliteStore({ path }), components: [item, slow], log: () => {} });
    try {
      const first = runtimeOn();
      await first.start();
      for (let i = 0; i < 40; i++) await first.call("item", "one", "add", {});
      await until("the first message handled", () => delivered.length > 0, 10_000);
      await first.stop();
      const handledFirst = delivered.length;
      assert.ok(handledFirst < 10, `stopped after ${handledFirst} of 40, not after its whole queue`);

      slowMs = 0;
      const second = runtimeOn();
      await second.start();
      try {
        await until("every message handled", () => new Set(delivered).size === 40, 20_000);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(delivered.length, 40, "each message once: none again, none skipped");
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
