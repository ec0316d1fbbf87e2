import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testWorkflow } from "sagaflow/testkit";
import type { WorkflowDefinition } from "sagaflow";
import { transfer, type TransferInput } from "./transfer.ts";
import { transferWorkflow } from "./transfer-workflow.ts";
import { wallet } from "./wallet.ts";

/** Both styles of the transfer must behave the same: each case runs against each. */
for (const definition of [transfer, transferWorkflow] as unknown as Array<WorkflowDefinition<{ status: string }, TransferInput>>) {
  describe(`${definition.name} (testkit, virtual time)`, () => {
    async function withWallets() {
      const t = await testWorkflow(definition, { components: [wallet] });
      await t.client.call(wallet, "a").create({ initialBalance: 100 });
      await t.client.call(wallet, "b").create({ initialBalance: 0 });
      return t;
    }

    it("moves-the-money-and-completes", async () => {
      const t = await withWallets();
      assert.deepEqual(await t.start("t1", { from: "a", to: "b", amount: 30 }), { status: "started" });
      const view = await t.result("t1");
      assert.equal(view.status, "ended");
      assert.equal(view.state.status, "completed");
      assert.deepEqual(await t.client.call(wallet, "a").balance(), { balance: 70 });
      assert.deepEqual(await t.client.call(wallet, "b").balance(), { balance: 30 });
      const steps = (await t.history("t1")).map((h) => h.step);
      assert.deepEqual(steps.slice(0, 2), ["withdraw", "deposit"]);
      await t.stop();
    });

    it("is-rejected-when-the-source-cannot-pay-and-nothing-moves", async () => {
      const t = await withWallets();
      await t.start("t2", { from: "a", to: "b", amount: 101 });
      const view = await t.result("t2");
      assert.equal(view.state.status, "rejected");
      assert.deepEqual(await t.client.call(wallet, "a").balance(), { balance: 100 });
      assert.deepEqual(await t.client.call(wallet, "b").balance(), { balance: 0 });
      await t.stop();
    });

    it("is-rejected-when-the-source-wallet-does-not-exist", async () => {
      const t = await withWallets();
      await t.start("t3", { from: "nobody", to: "b", amount: 1 });
      assert.equal((await t.result("t3")).state.status, "rejected");
      await t.stop();
    });

    it("is-compensated-when-the-target-does-not-exist", async () => {
      const t = await withWallets();
      await t.start("t4", { from: "a", to: "nobody", amount: 40 });
      const view = await t.result("t4");
      assert.equal(view.state.status, "compensated");
      assert.deepEqual(await t.client.call(wallet, "a").balance(), { balance: 100 }, "refunded");
      await t.stop();
    });

    it("start-is-idempotent-on-the-same-input-and-refused-on-another", async () => {
      const t = await withWallets();
      await t.start("t5", { from: "a", to: "b", amount: 10 });
      assert.deepEqual(await t.start("t5", { from: "a", to: "b", amount: 10 }), { status: "started" });
      await assert.rejects(t.start("t5", { from: "a", to: "b", amount: 11 }), { code: "already_started" });
      assert.deepEqual(await t.client.call(wallet, "a").balance(), { balance: 90 }, "moved once");
      await t.stop();
    });

    it("a-failing-deposit-is-retried-and-the-money-moves-once", async () => {
      const t = await withWallets();
      t.failStep("deposit", 2);
      await t.start("t6", { from: "a", to: "b", amount: 5 });
      await t.advance(100);
      await t.advance(200);
      const view = await t.result("t6");
      assert.equal(view.state.status, "completed");
      assert.deepEqual(await t.client.call(wallet, "a").balance(), { balance: 95 });
      assert.deepEqual(await t.client.call(wallet, "b").balance(), { balance: 5 });
      await t.stop();
    });
  });
}

describe("typed client for workflows", () => {
  it("start-takes-the-start-input-type", async () => {
    const t = await testWorkflow(transfer, { components: [wallet] });
    const reply: { status: "started" } = await t.client.call(transfer, "typed").start({ from: "a", to: "b", amount: 1 });
    assert.deepEqual(reply, { status: "started" });
    const typed = t.client.call(transfer, "typed-2");
    // @ts-expect-error the start input is checked: `to` and `amount` are missing
    const incomplete = () => typed.start({ from: "a" });
    void incomplete;
    // @ts-expect-error a workflow has no command it does not define
    const unknown = () => typed.nope();
    void unknown;
    await t.stop();
  });
});
