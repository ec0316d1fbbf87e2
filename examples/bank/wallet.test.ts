import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testEntity } from "sagaflow/testkit";
import { wallet } from "./wallet.ts";

const created = (initialBalance: number) => ({ type: "created" as const, payload: { initialBalance } });

describe("wallet (unit, no store)", () => {
  it("withdraw-emits-withdrawn-and-replies-new-balance", () => {
    const result = testEntity(wallet).given(created(100)).command("withdraw", { amount: 30 });
    assert.deepEqual(result.events, [{ type: "withdrawn", payload: { amount: 30 } }]);
    assert.deepEqual(result.reply, { balance: 70 });
    assert.equal(result.state.balance, 70);
  });

  it("withdraw-rejects-overdraft-and-changes-nothing", () => {
    const result = testEntity(wallet).given(created(10)).command("withdraw", { amount: 11 });
    assert.equal(result.error?.code, "insufficient_funds");
    assert.deepEqual(result.events, []);
    assert.equal(result.state.balance, 10);
  });

  it("commands-on-a-wallet-never-created-are-not_found", () => {
    const t = testEntity(wallet);
    assert.equal(t.command("withdraw", { amount: 1 }).error?.code, "not_found");
    assert.equal(t.command("deposit", { amount: 1 }).error?.code, "not_found");
    assert.equal(t.command("balance").error?.code, "not_found");
  });

  it("create-twice-is-already_exists", () => {
    const t = testEntity(wallet);
    assert.deepEqual(t.command("create", { initialBalance: 5 }).reply, { balance: 5 });
    assert.equal(t.command("create", { initialBalance: 5 }).error?.code, "already_exists");
  });

  it("amounts-must-be-positive-integers", () => {
    const t = testEntity(wallet).given(created(100));
    for (const amount of [0, -1, 1.5, Number.NaN]) {
      assert.equal(t.command("deposit", { amount }).error?.code, "invalid_amount", `amount ${amount}`);
    }
    assert.equal(t.command("deposit", { amount: "5" as unknown as number }).error?.code, "invalid_amount");
    assert.equal(t.state.balance, 100);
  });

  it("type-errors-for-wrong-command-names-and-inputs", () => {
    const t = testEntity(wallet);
    // @ts-expect-error no such command
    assert.throws(() => t.command("withdrw", { amount: 1 }));
    // @ts-expect-error amount must be a number
    t.command("create", { initialBalance: "x" });
    // @ts-expect-error event payloads are checked too
    t.given({ type: "created", payload: { amount: 1 } });
  });
});
