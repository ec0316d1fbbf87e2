import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { keyValue } from "../src/define/key-value.ts";
import { saga, type SagaStep } from "../src/define/saga.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";

/**
 * A saga in flight when its code changes: steps reordered still all run once (none is skipped);
 * a completed step the code no longer defines stops its compensation for an operator, named.
 */

const account = keyValue("account", {
  initial: () => 10,
  commands: {
    add: (n: number, c: { by: number }, fx) => (n + c.by < 0 ? fx.error("insufficient", "not enough") : fx.update(n + c.by).reply(n + c.by)),
  },
  queries: { get: (n: number, _q: {}, fx) => fx.reply(n) },
});

type Move = { from: string; to: string };
const withdraw: SagaStep<Move> = {
  name: "withdraw",
  run: (s, ctx) => ctx.call(account, s.from).add({ by: -1 }),
  compensate: (s, ctx) => ctx.call(account, s.from).add({ by: 1 }),
};
const deposit: SagaStep<Move> = { name: "deposit", run: (s, ctx) => ctx.call(account, s.to).add({ by: 1 }) };
/** Fails (to be tried again) while `open` is false: the saga waits at it across a restart. */
const hold = (open: boolean): SagaStep<Move> => ({
  name: "hold",
  run: async () => {
    if (!open) throw Object.assign(new Error("not yet"), { code: "not_yet" });
  },
});
const transfer = (steps: SagaStep<Move>[]) =>
  saga("transfer", { start: (m: Move) => m, steps, retry: { maxAttempts: 1_000, initialBackoffMs: 20, maxBackoffMs: 20 } });

async function waitAtHold(path: string, id: string, move: Move): Promise<void> {
  const store = new SqliteStore({ path });
  const v1 = new Runtime({ store, components: [account, transfer([withdraw, hold(false), deposit])], log: () => {} });
  await v1.start();
  await v1.call("transfer", id, "start", move);
  const deadline = Date.now() + 10_000;
  const atHold = async () => {
    const record = await store.loadWorkflow("transfer", id);
    return record?.step === "hold" && record.attempt > 0;
  };
  while (!(await atHold())) {
    if (Date.now() > deadline) throw new Error(`${id} never waited at hold`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await v1.stop();
}

describe("a saga in flight when its code changes", () => {
  it("steps-reordered-under-it-all-run-once-none-skipped", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-saga-changes-"));
    const path = join(dir, "sagaflow.db");
    try {
      await waitAtHold(path, "t1", { from: "a", to: "b" });
      const v2 = new Runtime({ store: new SqliteStore({ path }), components: [account, transfer([withdraw, deposit, hold(true)])], log: () => {} });
      await v2.start();
      try {
        const done = await v2.workflowResult("transfer", "t1", 10_000);
        const state = done.state as { status: string; completed: string[] };
        assert.deepEqual([done.status, state.status, state.completed], ["ended", "completed", ["withdraw", "hold", "deposit"]]);
        assert.deepEqual([await v2.call("account", "a", "get", {}), await v2.call("account", "b", "get", {})], [9, 11]);
      } finally {
        await v2.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a-completed-step-the-code-no-longer-defines-stops-the-compensation-for-an-operator-named", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-saga-changes-"));
    const path = join(dir, "sagaflow.db");
    try {
      await waitAtHold(path, "t2", { from: "c", to: "d" });
      const closed: SagaStep<Move> = {
        name: "deposit",
        run: (s, ctx) => ctx.call(account, s.to).add({ by: -100 }), // refused: insufficient
      };
      const store = new SqliteStore({ path });
      const v2 = new Runtime({ store, components: [account, transfer([hold(true), closed])], log: () => {} });
      await v2.start();
      try {
        const done = await v2.workflowResult("transfer", "t2", 10_000);
        const state = done.state as { status: string };
        const { lastError } = (await store.loadWorkflow("transfer", "t2"))!;
        assert.deepEqual([done.status, state.status, lastError?.code], ["failed", "requires_manual_intervention", "compensation_failed"]);
        assert.match(lastError?.message ?? "", /completed step "withdraw", which this code no longer defines/);
        assert.equal(await v2.call("account", "c", "get", {}), 9, "withdrawn, and left for the operator");
      } finally {
        await v2.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
