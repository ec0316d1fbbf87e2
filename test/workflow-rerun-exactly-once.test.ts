import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { transfer } from "../examples/bank/transfer.ts";
import { transferWorkflow } from "../examples/bank/transfer-workflow.ts";
import { wallet } from "../examples/bank/wallet.ts";
import type { WorkflowDefinition } from "../src/define/workflow.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { wrapStore } from "../src/runtime/test-support.ts";
import type { InstanceWrite, WriteOutcome } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";

/**
 * The gap exactly-once calls exist for: a step's call to the wallet is committed, then the
 * process dies before the step's transition is. After a restart the step runs again from the
 * start — and the wallet must still change once, because the call carries the same key.
 */

/**
 * SQLite on `path` that "crashes" at the first commit moving workflow (`name`, `id`) off step
 * `step`: that commit fails, keeping nothing, and so does every later one — the process is dead.
 */
function crashingStore(path: string, name: string, id: string, step: string) {
  const inner = new SqliteStore({ path });
  let crashed = false;
  let onCrash: (write: InstanceWrite) => void = () => {};
  const crash = new Promise<InstanceWrite>((resolve) => (onCrash = resolve));
  const store = wrapStore(inner, {
    async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
      if (crashed) throw new Error("simulated crash: the process is gone");
      const moving = writes.find(
        (w) => w.component === name && w.id === id && w.workflow !== undefined && w.workflow.record.step !== step,
      );
      if (moving) {
        crashed = true;
        onCrash(moving);
        throw new Error("simulated crash before the step's transition was committed");
      }
      return inner.commit(writes);
    },
  });
  return { store, inner, crash };
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref()),
  ]);

describe("a step whose call committed but whose transition did not runs again, changing the wallet once", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-workflow-rerun-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, WorkflowDefinition]> = [
    ["saga", transfer],
    ["plain-workflow", transferWorkflow],
  ];
  for (const [label, definition] of cases) {
    it(`${label}-${definition.name}-withdraw-rerun-after-crash-debits-once`, async () => {
      const path = join(dir, `${definition.name}.db`);
      const name = definition.name;
      const id = "t1";
      const logs: string[] = [];
      const components = [wallet, transfer, transferWorkflow];

      // First life: wallets, then the transfer, which dies after its withdrawal was committed.
      const first = crashingStore(path, name, id, "withdraw");
      // Each call committed before its reply, as on several nodes: with held writes (the default on
      // one SQLite node) the withdrawal commits with the transition and this gap does not exist.
      const doomed = new Runtime({ store: first.store, components, log: (line) => logs.push(line), stepCommits: "separate" });
      await doomed.start();
      await doomed.call("wallet", "a", "create", { initialBalance: 100 });
      await doomed.call("wallet", "b", "create", { initialBalance: 0 });
      assert.deepEqual(await doomed.call(name, id, "start", { from: "a", to: "b", amount: 30 }), { status: "started" });
      const lost = await withTimeout(first.crash, 10_000, "the commit past step withdraw");
      assert.equal(lost.workflow!.record.step, "deposit", "the lost commit moves the workflow to deposit");
      assert.equal(lost.workflow!.record.execId, 2);

      // What the dead process left on disk: the withdrawal, and the workflow still at withdraw.
      const withdrawnBefore = (await first.inner.readEvents("wallet", "a", 0, 100)).filter((e) => e.type === "withdrawn");
      assert.equal(withdrawnBefore.length, 1, "the withdrawal was committed before the crash");
      const left = await first.inner.loadWorkflow(name, id);
      assert.equal(left?.status, "running");
      assert.equal(left?.step, "withdraw");
      assert.equal(left?.execId, 1);
      await first.inner.close();
      // The abandoned runtime can commit nothing more (its store refuses); stopping it only clears its timers.
      await doomed.stop();

      // Second life on the same file: start() resumes the workflow, which re-runs withdraw.
      const store = new SqliteStore({ path });
      const runtime = new Runtime({ store, components, log: (line) => logs.push(line), stepCommits: "separate" });
      try {
        await runtime.start();
        const view = await runtime.workflowResult(name, id, 10_000);
        assert.equal(view.status, "ended", JSON.stringify(view));
        assert.equal((view.state as { status: string }).status, "completed", JSON.stringify(view));

        const eventsOfA = await store.readEvents("wallet", "a", 0, 100);
        assert.deepEqual(
          eventsOfA.map((e) => [e.type, e.payload]),
          [
            ["created", { initialBalance: 100 }],
            ["withdrawn", { amount: 30 }],
          ],
          "wallet a was debited exactly once",
        );
        assert.deepEqual(await runtime.call("wallet", "a", "balance", {}), { balance: 70 });
        assert.deepEqual(await runtime.call("wallet", "b", "balance", {}), { balance: 30 });
        const eventsOfB = await store.readEvents("wallet", "b", 0, 100);
        assert.equal(eventsOfB.filter((e) => e.type === "deposited").length, 1, "wallet b was credited once");

        // The re-run really happened: step withdraw (execution 1) was entered again and left once.
        const history = await store.workflowHistory(name, id, 100);
        const pastWithdraw = history.filter((h) => h.step === "deposit" && h.execId === 2);
        assert.ok(pastWithdraw.length >= 1, JSON.stringify(history));
        assert.equal(history.filter((h) => h.step === "withdraw" && h.execId === 1).length, 1, JSON.stringify(history));
      } finally {
        await runtime.stop();
      }
    });

    it(`${label}-${definition.name}-failed-transition-commit-is-retried-without-restart-and-changes-each-wallet-once`, async () => {
      // The same gap, but the process lives on (a transient store error): the engine must try
      // again by itself instead of leaving the workflow running until the next restart. The failed
      // commit is the last step's, so the steps run as the engine's own (with eagerStart, the
      // bank's saga commits all of them with its start, whose failure its caller sees:
      // eager-start.test.ts).
      const engineRun = { ...definition, eagerStart: false };
      const inner = new SqliteStore({ path: join(dir, `${definition.name}-transient.db`) });
      let failures = 0;
      const store = wrapStore(inner, {
        async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
          const moving = writes.some((w) => w.component === definition.name && w.workflow?.record.status === "ended");
          if (moving && failures === 0) {
            failures++;
            throw new Error("SQLITE_BUSY (simulated transient failure)");
          }
          return inner.commit(writes);
        },
      });
      const logs: string[] = [];
      const runtime = new Runtime({ store, components: [wallet, engineRun], log: (line) => logs.push(line) });
      try {
        await runtime.start();
        await runtime.call("wallet", "a", "create", { initialBalance: 100 });
        await runtime.call("wallet", "b", "create", { initialBalance: 0 });
        await runtime.call(definition.name, "t2", "start", { from: "a", to: "b", amount: 30 });
        const view = await runtime.workflowResult(definition.name, "t2", 10_000);
        assert.equal(failures, 1, "the transition commit failed once");
        assert.equal(view.status, "ended", `${JSON.stringify(view)}\n${logs.join("\n")}`);
        assert.equal((view.state as { status: string }).status, "completed");
        const withdrawals = (await inner.readEvents("wallet", "a", 0, 100)).filter((e) => e.type === "withdrawn");
        assert.equal(withdrawals.length, 1, "wallet a was debited exactly once");
        const deposits = (await inner.readEvents("wallet", "b", 0, 100)).filter((e) => e.type === "deposited");
        assert.equal(deposits.length, 1, "wallet b was credited exactly once");
        assert.deepEqual(await runtime.call("wallet", "a", "balance", {}), { balance: 70 });
        assert.deepEqual(await runtime.call("wallet", "b", "balance", {}), { balance: 30 });
      } finally {
        await runtime.stop();
      }
    });
  }
});
