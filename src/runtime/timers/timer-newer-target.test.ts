import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deferred } from "../../define/deferred.ts";
import { keyValue } from "../../define/key-value.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { leftForAnotherNodeMs } from "../workflow/undefined-step.ts";

/**
 * A timer started by newer code, calling a component or command only that code has, comes due
 * while older code runs (a rollback; on several nodes, an older node holding the timer's bucket).
 * The older code's `unknown_component` / `unknown_command` is no answer: the timer stays pending,
 * due again in 30 s, using up no attempt, said once; code that has the target fires it.
 */

type Text = { text: string };
const counterV1 = keyValue("counter", {
  initial: () => ({ n: 0 }),
  commands: { inc: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply((after) => after) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});
const counterV2 = keyValue("counter", {
  initial: () => ({ n: 0 }),
  commands: {
    inc: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply((after) => after),
    add: (s: { n: number }, c: { by: number }, fx) => fx.update({ n: s.n + c.by }).reply((after) => after),
  },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});
const note = keyValue("note", {
  initial: (): Text => ({ text: "" }),
  commands: { set: (_s: Text, c: Text, fx) => fx.update({ text: c.text }).reply((after) => after) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});

describe("a timer whose target only newer code has", () => {
  it("is-left-pending-on-older-code-using-no-attempt-and-fires-once-code-with-the-target-runs", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-timer-newer-target-"));
    const path = join(dir, "sagaflow.db");
    const clock = new VirtualClock();
    const newer = () => new Runtime({ store: new SqliteStore({ path }), components: [counterV2, note], clock, log: () => {} });
    try {
      const first = newer();
      await first.start();
      await first.timers.start("note-later", 60_000, deferred(note, "n1").set({ text: "done" }));
      await first.timers.start("add-later", 60_000, deferred(counterV2, "c1").add({ by: 5 }));
      await first.stop();

      // Rolled back: the older code has neither the component nor the command.
      const lines: string[] = [];
      const olderStore = new SqliteStore({ path });
      const older = new Runtime({ store: olderStore, components: [counterV1], clock, log: (line) => lines.push(line) });
      await older.start();
      try {
        await clock.advance(61_000);
        const timers = await olderStore.listTimers(undefined, 10);
        assert.deepEqual(
          timers.map((t) => [t.name, t.status, t.attempts, t.lastError?.code, t.dueAt - clock.now() > leftForAnotherNodeMs - 2_000]).sort(),
          [["add-later", "pending", 0, "unknown_command", true], ["note-later", "pending", 0, "unknown_component", true]],
          "still pending, no attempt used, due again in about 30 s",
        );
        for (let i = 0; i < 20; i++) await clock.advance(leftForAnotherNodeMs); // ten minutes of older code
        assert.deepEqual((await olderStore.listTimers(undefined, 10)).map((t) => [t.name, t.status, t.attempts]).sort(), [["add-later", "pending", 0], ["note-later", "pending", 0]]);
        const warnings = lines.filter((line) => line.includes("WARNING: timer"));
        assert.equal(warnings.length, 2, lines.join("\n"));
        assert.match(warnings.find((w) => w.includes("note-later"))!, /timer note-later calls note "n1" set, which this node's code does not define \(unknown_component\): left pending/);
        assert.match(warnings.find((w) => w.includes("add-later"))!, /timer add-later calls counter "c1" add, which this node's code does not define \(unknown_command\): left pending/);
        assert.deepEqual(lines.filter((line) => line.includes("ERROR")), [], "no misleading 'the service does not list' error");
      } finally {
        await older.stop();
      }

      // Forward again: the newer code fires both.
      const again = newer();
      await again.start();
      try {
        await clock.advance(leftForAnotherNodeMs + 1_000);
        assert.deepEqual(await again.call("note", "n1", "get", {}), { text: "done" });
        assert.deepEqual(await again.call("counter", "c1", "get", {}), { n: 5 });
        assert.deepEqual(await again.store.listTimers(undefined, 10), [], "fired and done");
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
