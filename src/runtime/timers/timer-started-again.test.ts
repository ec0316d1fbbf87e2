import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { consumer } from "../../define/consumer.ts";
import { deferred } from "../../define/deferred.ts";
import { entity } from "../../define/entity.ts";
import { keyValue } from "../../define/key-value.ts";
import { workflow } from "../../define/workflow.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/**
 * A timer started by a workflow step or a consumer is started again when that code runs again (a
 * retried step, a redelivered message) — a new timer when the first has already fired. Its call
 * carries the starting code's key, so the target changes once all the same: it used to change
 * twice (each timer had a key of its own).
 */
const counter = keyValue("counter", {
  initial: () => ({ n: 0 }),
  commands: { inc: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply((after) => after) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});
let stepRuns = 0;
const remindOnce = workflow("remind-once", {
  start: (input: {}) => input,
  steps: {
    go: async (_s, _input, ctx) => {
      await ctx.timers.start("ding", 0, deferred(counter, "from-step").inc({}));
      // The first attempt fails after its timer has started (and, due at once, fired).
      if (stepRuns++ === 0) throw new Error("flaky after starting the timer");
      return ctx.end();
    },
  },
  defaults: { retry: { maxAttempts: 3, initialBackoffMs: 300 } },
});
const note = entity(
  "note",
  { initial: () => ({}), events: { written: (s: {}, _e: {}) => s } },
  { commands: { write: (_s, _c: {}, fx) => fx.emit("written", {}).reply({}) } },
);
let deliveries = 0;
const notifier = consumer("notifier", {
  source: note,
  retry: { maxAttempts: 3, initialBackoffMs: 300 },
  events: {
    written: async (_e, ctx) => {
      await ctx.timers.start("dong", 0, deferred(counter, "from-consumer").inc({}));
      if (deliveries++ === 0) throw new Error("flaky after starting the timer");
    },
  },
});

describe("a timer started again by the code that started it", () => {
  it("changes-its-target-once-when-a-retried-step-or-a-redelivered-message-starts-it-after-it-fired", { timeout: 30_000 }, async () => {
    const runtime = new Runtime({ store: new SqliteStore({ path: ":memory:" }), components: [counter, remindOnce, note, notifier], log: () => {} });
    await runtime.start();
    try {
      await runtime.call("remind-once", "r1", "start", {});
      await runtime.call("note", "n1", "write", {});
      await until("the step and the delivery done, their timers fired", async () =>
        stepRuns >= 2 && deliveries >= 2 && (await runtime.store.listTimers(undefined, 10)).length === 0 &&
        (await runtime.workflowResult("remind-once", "r1")).status === "ended", 20_000);
      assert.deepEqual(await runtime.call("counter", "from-step", "get", {}), { n: 1 });
      assert.deepEqual(await runtime.call("counter", "from-consumer", "get", {}), { n: 1 });
    } finally {
      await runtime.stop();
    }
  });
});
