import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testEntity, testWorkflow } from "sagaflow/testkit";
import { account, transfer } from "./service.ts";

describe("account", () => {
  it("refuses to overdraw and changes nothing", () => {
    const t = testEntity(account).given({ type: "opened", payload: { owner: "ann" } }, { type: "deposited", payload: { amount: 10 } });
    const result = t.command("withdraw", { amount: 11 });
    assert.equal(result.error?.code, "insufficient_funds");
    assert.deepEqual(result.events, []);
    assert.equal(result.state.balance, 10);
  });
});

describe("transfer", () => {
  async function withAccounts() {
    const t = await testWorkflow(transfer, { components: [account] });
    await t.client.call(account, "a").open({ owner: "ann" });
    await t.client.call(account, "a").deposit({ amount: 100 });
    await t.client.call(account, "b").open({ owner: "bob" });
    return t;
  }

  it("moves the money", async () => {
    const t = await withAccounts();
    await t.start("t1", { from: "a", to: "b", amount: 30 });
    assert.equal((await t.result("t1")).state.status, "completed");
    assert.deepEqual(await t.client.call(account, "b").balance(), { balance: 30 });
    await t.stop();
  });

  it("gives the money back when the deposit is refused", async () => {
    const t = await withAccounts();
    await t.start("t2", { from: "a", to: "nobody", amount: 30 });
    assert.equal((await t.result("t2")).state.status, "compensated");
    assert.deepEqual(await t.client.call(account, "a").balance(), { balance: 100 });
    await t.stop();
  });
});
