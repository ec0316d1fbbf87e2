import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { wallet } from "../../../examples/bank/wallet.ts";
import type { SagaflowError } from "../../define/errors.ts";
import { saga, type SagaStep } from "../../define/saga.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";
import { openPayerAndPayee, payerAndPayeeBalances } from "./wallets-test-support.ts";

/**
 * A forward retry runs the step done in part again in the execution it failed in, and the steps
 * after it take the number of the compensation's execution. So it is refused when that
 * compensation kept part of its work: here a deploy took away the compensation of a step whose
 * compensation had already taken money back, then timed out.
 */

type Transfer = { payer: string; payee: string };
const hang = () => new Promise((resolve) => setTimeout(resolve, 2_000));
const withdraw: SagaStep<Transfer> = { name: "withdraw", run: (s, ctx) => ctx.call(wallet, s.payer).withdraw({ amount: 1 }) };
const deposit: SagaStep<Transfer> = {
  name: "deposit",
  run: async (s, ctx) => {
    await ctx.call(wallet, s.payee).deposit({ amount: 1 });
    await hang();
  },
};
const options = { start: (input: Transfer) => input, stepTimeoutMs: 300, retry: { maxAttempts: 1 }, compensationRetry: { maxAttempts: 1 } };
/** The deposit times out after it was kept; its compensation takes the unit back, then times out too. */
const before = saga("deploy", {
  ...options,
  steps: [withdraw, { ...deposit, compensate: async (s, ctx) => (await ctx.call(wallet, s.payee).withdraw({ amount: 1 }), await hang()) }],
});
/** The next deploy: the deposit has no compensation. */
const afterDeploy = saga("deploy", { ...options, steps: [withdraw, deposit] });

describe("a forward retry after a compensation that kept part of its work", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-forward-retry-"));
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (definition: typeof before) => {
    const rt = new Runtime({ store: new SqliteStore({ path: join(dir, "deploy.db") }), components: [wallet, definition], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    return rt;
  };
  const failed = (rt: Runtime, code: string) =>
    until(`the saga to stop with ${code}`, async () => {
      const { workflow } = await rt.admin.showWorkflow("deploy", "d1");
      return workflow.status === "failed" && workflow.lastError?.code === code && workflow;
    }, 10_000);

  it("is-refused-changing-nothing", async () => {
    const first = await open(before);
    await openPayerAndPayee(first);
    await first.call("deploy", "d1", "start", { payer: "payer", payee: "payee" });
    const stopped = await failed(first, "step_timeout");
    assert.deepEqual(await payerAndPayeeBalances(first), [9, 0], "the compensation took the deposit back before it timed out");
    await first.stop();

    const second = await open(afterDeploy);
    const shown = await second.admin.showWorkflow("deploy", "d1");
    assert.deepEqual([shown.workflow.undoing, shown.operator.forward], ["deposit", null], "stopped at the deposit, and forward is not offered");
    await assert.rejects(second.admin.operateWorkflow("deploy", "d1", "retry", { forward: true }), (error: SagaflowError) => {
      assert.equal(error.code, "invalid_status");
      assert.match(error.message, /its compensations kept part of their work before they stopped/);
      return true;
    });
    assert.equal((await second.admin.showWorkflow("deploy", "d1")).workflow.version, stopped.version, "nothing changed");
    assert.deepEqual(await payerAndPayeeBalances(second), [9, 0]);
  });
});
