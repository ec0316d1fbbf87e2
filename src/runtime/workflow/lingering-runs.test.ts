import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SagaflowError } from "../../define/errors.ts";
import { saga } from "../../define/saga.ts";
import { workflow } from "../../define/workflow.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/**
 * A `ctx.run` that outlives its step attempt (the step timed out while an outside call was under
 * way) may still land that call. The workflow's next attempt waits for it: a compensation does not
 * undo before the call lands (a shipment cancelled, then made), and a retry finds its journaled
 * result instead of calling again. The run's signal tells it the attempt ended; a refusal thrown
 * inside a run is not asked again.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log: string[] = [];
let calls = 0;
let signalAborted = false;

/** The carrier answers in 800 ms, whatever the caller does; the step gives up after 300. */
async function slowCarrier(signal: AbortSignal): Promise<{ tracking: string }> {
  calls++;
  signal.addEventListener("abort", () => (signalAborted = true), { once: true });
  await sleep(800);
  log.push("shipped");
  return { tracking: "T-1" };
}

const order = saga("order", {
  start: (input: { id: string }) => input,
  stepTimeoutMs: 300,
  retry: { maxAttempts: 1 },
  steps: [
    { name: "reserve", run: async () => void log.push("reserved"), compensate: async () => void log.push("released") },
    {
      name: "ship",
      run: async (_s, ctx) => void (await ctx.run("ship", ({ signal }) => slowCarrier(signal))),
      compensate: async () => void log.push("shipment cancelled"),
    },
  ],
});

/** As `order`, with a carrier call that gives up when its signal is aborted (the request already sent). */
const giving = saga("giving", {
  start: (input: { id: string }) => input,
  stepTimeoutMs: 300,
  retry: { maxAttempts: 1 },
  steps: [
    {
      name: "ship",
      run: async (_s, ctx) =>
        void (await ctx.run("ship", async ({ signal }) => {
          calls++;
          // Gives up the moment the signal aborts, as fetch does.
          await new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }));
        })),
      compensate: async () => void log.push("shipment cancelled"),
    },
  ],
});

const retried = workflow("retried", {
  start: () => ({ tracking: null as string | null }),
  defaults: { timeoutMs: 300, retry: { maxAttempts: 3, initialBackoffMs: 10 } },
  steps: {
    ship: async (s, _in, ctx) => {
      const { tracking } = await ctx.run("ship", ({ signal }) => slowCarrier(signal));
      return ctx.update({ ...s, tracking }).end();
    },
  },
});

const refused = workflow("refused", {
  start: () => ({ failure: null as string | null }),
  defaults: { retry: { maxAttempts: 1 }, failoverTo: "recover" },
  steps: {
    charge: async (_s, _in, ctx) => {
      await ctx.run("charge", () => {
        calls++;
        throw new SagaflowError("declined", "the card was declined", { status: 422 });
      }, { maxAttempts: 3, initialBackoffMs: 10 });
      return ctx.end();
    },
    recover: async (s, input, ctx) => ctx.update({ ...s, failure: (input as { failure: { code: string } }).failure.code }).end(),
  },
});

describe("a ctx.run that outlives its step attempt", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-lingering-"));
  const rt = new Runtime({ store: new SqliteStore({ path: join(dir, "s.db") }), components: [order, giving, retried, refused], log: () => {} });
  after(async () => {
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const reset = () => {
    log.length = 0;
    calls = 0;
    signalAborted = false;
  };
  const ended = (name: string, id: string) =>
    until(`${name} ${id} to end`, async () => {
      const view = await rt.workflowResult(name, id);
      return view.status === "ended" && view;
    }, 10_000);

  it("is-waited-for-before-the-compensation-undoes-and-its-signal-says-the-attempt-ended", async () => {
    await rt.start();
    reset();
    await rt.call("order", "o1", "start", { id: "o1" });
    const done = await ended("order", "o1");
    assert.equal((done.state as { status: string }).status, "compensated");
    assert.deepEqual(log, ["reserved", "shipped", "shipment cancelled", "released"], "the shipment is cancelled after it was made, not before");
    assert.equal(signalAborted, true);
  });

  it("counts-as-having-taken-effect-when-it-gives-up-on-its-aborted-signal-so-its-compensation-runs", async () => {
    reset();
    await rt.call("giving", "g1", "start", { id: "g1" });
    const done = await ended("giving", "g1");
    const state = done.state as { status: string; failure?: { partial?: true } };
    assert.deepEqual([state.status, state.failure?.partial], ["compensated", true]);
    assert.deepEqual(log, ["shipment cancelled"], "the request was sent: aborting the wait did not take it back");
  });

  it("is-waited-for-by-the-retry-which-finds-its-result-journaled-and-does-not-call-again", async () => {
    reset();
    await rt.call("retried", "r1", "start", {});
    const done = await ended("retried", "r1");
    assert.deepEqual(done.state, { tracking: "T-1" });
    assert.equal(calls, 1);
  });

  it("a-refusal-thrown-inside-a-run-is-not-asked-again", async () => {
    reset();
    await rt.call("refused", "f1", "start", {});
    const done = await ended("refused", "f1");
    assert.deepEqual(done.state, { failure: "declined" });
    assert.equal(calls, 1);
  });
});
