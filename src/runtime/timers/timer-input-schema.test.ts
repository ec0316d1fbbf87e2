import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { z } from "zod";
import { deferred } from "../../define/deferred.ts";
import { keyValue } from "../../define/key-value.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { isCode } from "../test-support.ts";

/**
 * A timer's input is checked against its target's input schema when it is started, so a bad one
 * is refused then, keeping nothing. A firing refused with `invalid_input` therefore met a schema
 * that changed since (new code, or a rollback): no answer, and retrying alone cannot help. The
 * timer is parked at once, and an operator retries it (`POST /timers/{name}/retry`) once code that
 * accepts the input runs — before, it was taken for an answer and the call was lost.
 */

type Count = { n: number };
/** Takes a number or a numeric string: the timer below was started by this code. */
const lenient = keyValue("counter", {
  initial: (): Count => ({ n: 0 }),
  inputs: { add: z.object({ by: z.union([z.number(), z.string().regex(/^\d+$/)]) }) },
  commands: { add: (s: Count, c: { by: number | string }, fx) => fx.update({ n: s.n + Number(c.by) }).reply((after) => after) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});
/** Takes numbers only: newer code with a tighter schema (or the older one a rollback returns to). */
const strict = keyValue("counter", {
  initial: (): Count => ({ n: 0 }),
  inputs: { add: z.object({ by: z.number() }) },
  commands: { add: (s: Count, c: { by: number }, fx) => fx.update({ n: s.n + c.by }).reply((after) => after) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});

describe("a timer's input and its target's schema", () => {
  it("is-refused-when-started-with-input-the-schema-refuses-and-nothing-is-kept", async () => {
    const runtime = new Runtime({ store: new SqliteStore({ path: ":memory:" }), components: [strict], clock: new VirtualClock(), log: () => {} });
    await runtime.start();
    try {
      await assert.rejects(runtime.timers.start("later", 1_000, deferred(strict, "c1").add({ by: "5" as never })), isCode("invalid_input"));
      assert.deepEqual(await runtime.store.listTimers(undefined, 10), []);
    } finally {
      await runtime.stop();
    }
  });

  it("parks-a-timer-at-once-when-a-changed-schema-refuses-its-input-and-fires-it-on-an-operators-retry", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-timer-schema-"));
    const path = join(dir, "sagaflow.db");
    const clock = new VirtualClock();
    const runtimeWith = (counter: typeof strict | typeof lenient, log: (line: string) => void = () => {}) =>
      new Runtime({ store: new SqliteStore({ path }), components: [counter], clock, log });
    try {
      const first = runtimeWith(lenient);
      await first.start();
      await first.timers.start("add-later", 60_000, deferred(lenient, "c1").add({ by: "5" }));
      await first.stop();

      const lines: string[] = [];
      const tighter = runtimeWith(strict, (line) => lines.push(line));
      await tighter.start();
      try {
        await clock.advance(61_000);
        const [timer] = await tighter.store.listTimers(undefined, 10);
        assert.deepEqual(timer && [timer.name, timer.status, timer.attempts, timer.lastError?.code], ["add-later", "parked", 1, "invalid_input"], "parked at once, not done");
        assert.match(lines.find((l) => l.includes("WARNING: timer add-later")) ?? lines.join("\n"), /parked after 1 attempt\(s\): invalid_input: .*sagaflow timers retry add-later/);
        assert.deepEqual(await tighter.call("counter", "c1", "get", {}), { n: 0 });
      } finally {
        await tighter.stop();
      }

      // Code that accepts the input again; an operator retries the parked timer.
      const fixed = runtimeWith(lenient);
      await fixed.start();
      try {
        await clock.advance(60_000);
        assert.equal((await fixed.store.listTimers("parked", 10)).length, 1, "a parked timer waits for the operator");
        await assert.rejects(fixed.admin.retryTimer("nobody"), isCode("not_found"));
        assert.deepEqual(await fixed.admin.retryTimer("add-later"), { name: "add-later", status: "pending" });
        await clock.advance(1);
        assert.deepEqual(await fixed.call("counter", "c1", "get", {}), { n: 5 });
        assert.deepEqual(await fixed.store.listTimers(undefined, 10), [], "fired and done");
        await assert.rejects(fixed.admin.retryTimer("add-later"), isCode("not_found"));
      } finally {
        await fixed.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("cancels-a-timer-from-the-admin-in-any-state-and-says-when-there-is-none", async () => {
    const runtime = new Runtime({ store: new SqliteStore({ path: ":memory:" }), components: [strict], clock: new VirtualClock(), log: () => {} });
    await runtime.start();
    try {
      await runtime.timers.start("later", 1_000, deferred(strict, "c1").add({ by: 1 }));
      assert.deepEqual(await runtime.admin.cancelTimer("later"), { name: "later", cancelled: true });
      assert.deepEqual(await runtime.store.listTimers(undefined, 10), []);
      await assert.rejects(runtime.admin.cancelTimer("later"), isCode("not_found"));
    } finally {
      await runtime.stop();
    }
  });
});
