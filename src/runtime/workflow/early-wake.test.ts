import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deferred } from "../../define/deferred.ts";
import { entity } from "../../define/entity.ts";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";

/**
 * A clock whose timers wake early (at half the delay asked for), as Node's setTimeout can when
 * the event loop's cached time lags: whatever was due must still happen, at its due time.
 */
class EarlyClock extends VirtualClock {
  wakeUps = 0;
  override schedule(ms: number, fn: () => void): { cancel(): void } {
    return super.schedule(Math.ceil(ms / 2), () => {
      this.wakeUps++;
      fn();
    });
  }
}

const target = entity(
  "target",
  { initial: () => ({ hits: 0 }), events: { hit: (s: { hits: number }, _e: {}) => ({ hits: s.hits + 1 }) } },
  { commands: { hit: (_s, _c: {}, fx) => fx.emit("hit", {}).reply((after) => after) }, queries: { get: (s, _: {}, fx) => fx.reply(s) } },
);

const deadline = workflow("deadline", {
  start: (_input: {}) => ({ late: false }),
  steps: {
    wait: (_s, _input, ctx) => ctx.pause(),
    late: (s, _input, ctx) => ctx.update({ ...s, late: true }).end(),
  },
  timeout: { afterMs: 2_000, step: "late" },
});

const pauser = workflow("pauser", {
  start: (_input: {}) => ({ timedOut: false }),
  steps: {
    wait: (_s, _input, ctx) => ctx.pause({ timeoutMs: 2_000, then: "expired" }),
    expired: (s, _input, ctx) => ctx.update({ ...s, timedOut: true }).end(),
  },
});

let failures = 1;
const retrier = workflow("retrier", {
  start: (_input: {}) => ({ ran: 0 }),
  steps: {
    flaky: (s, _input, ctx) => {
      if (failures-- > 0) throw new Error("not yet");
      return ctx.update({ ran: s.ran + 1 }).end();
    },
  },
  defaults: { retry: { initialBackoffMs: 2_000 } },
});

describe("timers that wake before their due time", () => {
  it("workflow-timeouts-pause-timeouts-retries-and-durable-timers-still-happen-at-their-due-time", async () => {
    const clock = new EarlyClock();
    const runtime = new Runtime({ store: new MemoryStore(), components: [target, deadline, pauser, retrier], clock, log: () => {} });
    await runtime.start();
    try {
      await runtime.call("deadline", "d", "start", {});
      await runtime.call("pauser", "p", "start", {});
      await runtime.call("retrier", "r", "start", {});
      await runtime.timers.start("soon", 2_000, deferred(target, "t").hit({}));
      await clock.advance(1_999);
      // Nothing is due yet, though the clock has woken its callbacks (early) many times.
      assert.ok(clock.wakeUps >= 4, `woken ${clock.wakeUps} times`);
      assert.equal((await runtime.workflowResult("deadline", "d")).status, "paused");
      assert.equal((await runtime.workflowResult("pauser", "p")).status, "paused");
      assert.equal((await runtime.workflowResult("retrier", "r")).status, "running");
      assert.deepEqual(await runtime.call("target", "t", "get", {}), { hits: 0 });
      await clock.advance(1);
      assert.deepEqual(await runtime.workflowResult("deadline", "d"), { id: "d", status: "ended", step: "late", state: { late: true } });
      assert.deepEqual(await runtime.workflowResult("pauser", "p"), { id: "p", status: "ended", step: "expired", state: { timedOut: true } });
      assert.deepEqual(await runtime.workflowResult("retrier", "r"), { id: "r", status: "ended", step: "flaky", state: { ran: 1 } });
      assert.deepEqual(await runtime.call("target", "t", "get", {}), { hits: 1 });
    } finally {
      await runtime.stop();
    }
  });
});
