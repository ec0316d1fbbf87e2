import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entity } from "../define/entity.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { Runtime } from "./runtime.ts";

/**
 * One command that emits very many events (importing a statement, one event per line): it
 * commits, and the node carries on. More than a function call takes arguments (about 120,000 on
 * Node 20) once crashed the node after the commit, where the positions were spread into
 * Math.max, and the events into push.
 */
const ledger = entity(
  "ledger",
  { initial: () => ({ lines: 0 }), events: { line: (s: { lines: number }, _e: { amount: number }) => ({ lines: s.lines + 1 }) } },
  {
    commands: {
      import: (_s, c: { lines: number }, fx) => {
        let f = fx.emit("line", { amount: 0 });
        for (let i = 1; i < c.lines; i++) f = f.emit("line", { amount: i });
        return f.reply((s) => s.lines);
      },
      add: (_s, _c: {}, fx) => fx.emit("line", { amount: -1 }).reply((s) => s.lines),
    },
    queries: { lines: (s, _q: {}, fx) => fx.reply(s.lines) },
  },
);

describe("a command that emits very many events", () => {
  it("commits-them-all-in-order-and-the-instance-carries-on", { timeout: 120_000 }, async () => {
    const store = new MemoryStore();
    const runtime = new Runtime({ store, components: [ledger], log: () => {} });
    await runtime.start();
    try {
      const n = 200_000;
      assert.equal(await runtime.call("ledger", "big", "import", { lines: n }), n);
      assert.equal(await runtime.call("ledger", "big", "add", {}), n + 1);
      assert.equal(await runtime.call("ledger", "big", "lines", {}), n + 1);
      const events = await store.readEvents("ledger", "big", 0, n + 10);
      assert.equal(events.length, n + 1);
      assert.deepEqual([events[0]!.payload, events[n - 1]!.payload, events[n]!.payload], [{ amount: 0 }, { amount: n - 1 }, { amount: -1 }]);
    } finally {
      await runtime.stop();
    }
  });
});
