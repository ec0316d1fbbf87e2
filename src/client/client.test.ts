import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { customer } from "../../examples/bank/customer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { entity } from "../define/entity.ts";
import { workflow } from "../define/workflow.ts";
import { SagaflowError } from "../define/errors.ts";
import { Runtime } from "../runtime/runtime.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { Client } from "./client.ts";

/** Paused for good: its result is never over. */
const pending = workflow("pending", { start: (_: {}) => ({}), steps: { wait: (s, _i, ctx) => ctx.update(s).pause() } });

describe("typed client", () => {
  let rt: Runtime;
  let client: Client;
  before(async () => {
    rt = new Runtime({ store: new MemoryStore(), components: [wallet, customer, pending], log: () => {} });
    await rt.start();
    client = new Client(rt.dispatcher);
  });
  after(() => rt.stop());

  it("calls-commands-and-queries-end-to-end", async () => {
    const w = client.call(wallet, "w1");
    assert.deepEqual(await w.create({ initialBalance: 100 }), { balance: 100 });
    const { balance } = await w.withdraw({ amount: 30 });
    assert.equal(balance, 70);
    assert.deepEqual(await w.deposit({ amount: 5 }), { balance: 75 });
    assert.deepEqual(await w.balance(), { balance: 75 });
    assert.deepEqual(await w.balance({}), { balance: 75 });
    // The same instance, seen through a second proxy and through the runtime.
    assert.deepEqual(await client.call(wallet, "w1").balance(), { balance: 75 });
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 75 });
  });

  it("a-wait-for-a-workflow-result-ends-when-its-signal-aborts-with-the-signal-s-reason", async () => {
    await client.call(pending, "p1").start({});
    const controller = new AbortController();
    const waiting = client.result(pending, "p1", 30, { signal: controller.signal });
    controller.abort(new Error("the caller gave up"));
    await assert.rejects(waiting, { message: "the caller gave up" });
    assert.notEqual((await client.result(pending, "p1")).status, "ended", "the workflow is not over: the wait ended for the signal");
  });

  it("key-value-calls-work-and-validate-input", async () => {
    const c = client.call(customer, "c1");
    const registered = await c.register({ name: "Ann", email: "ann@example.com" });
    assert.deepEqual(registered, { name: "Ann", email: "ann@example.com", wallets: [] });
    assert.deepEqual((await c.addWallet({ walletId: "w1" }))?.wallets, ["w1"]);
    assert.deepEqual(await c.close(), { closed: true });
    await assert.rejects(c.get(), { code: "deleted", status: 410 });
    await assert.rejects(client.call(customer, "c2").register({ name: "Bo", email: "nope" }), {
      code: "invalid_input",
    });
  });

  it("domain-and-platform-errors-are-SagaflowError-with-code", async () => {
    const w = client.call(wallet, "w2");
    await w.create({ initialBalance: 10 });
    await assert.rejects(w.withdraw({ amount: 11 }), (error: unknown) => {
      assert.ok(error instanceof SagaflowError);
      assert.equal(error.code, "insufficient_funds");
      assert.equal(error.status, 400);
      return true;
    });
    assert.deepEqual(await w.balance(), { balance: 10 });
    await assert.rejects(client.call(wallet, "a/b").balance(), (error: unknown) => {
      assert.ok(error instanceof SagaflowError);
      assert.equal(error.code, "invalid_id");
      return true;
    });
  });

  it("passes-the-idempotency-key-through", async () => {
    const w = client.call(wallet, "w3");
    await w.create({ initialBalance: 50 });
    assert.deepEqual(await w.withdraw({ amount: 10 }, { idempotencyKey: "once" }), { balance: 40 });
    assert.deepEqual(await w.withdraw({ amount: 10 }, { idempotencyKey: "once" }), { balance: 40 });
    assert.deepEqual(await w.balance(), { balance: 40 });
    await assert.rejects(w.withdraw({ amount: 11 }, { idempotencyKey: "once" }), { code: "idempotency_key_reused" });
  });

  it("a-definition-not-in-the-runtime-is-refused", async () => {
    const stranger = entity(
      "stranger",
      { initial: () => ({}), events: {} },
      { commands: {}, queries: { get: (s, _: {}, fx) => fx.reply(s) } },
    );
    assert.throws(() => client.call(stranger, "x"), /not part of this service/);
    // A different definition object that merely shares a registered name is refused too.
    const impostor = entity(
      "wallet",
      { initial: () => ({ balance: 0 }), events: {} },
      { commands: {}, queries: { balance: (s, _: {}, fx) => fx.reply(s) } },
    );
    assert.throws(() => client.call(impostor, "w1"), TypeError);
  });

  it("type-errors-for-wrong-commands-inputs-and-replies", async () => {
    const w = client.call(wallet, "w4");
    await w.create({ initialBalance: 5 });
    // Everything below is checked by `tsc --noEmit`; at run time the bad calls fail as they should.

    // @ts-expect-error no such command
    await assert.rejects(w.withdrw({ amount: 1 }), { code: "unknown_command" });

    // @ts-expect-error amount must be a number
    await assert.rejects(w.withdraw({ amount: "1" }), { code: "invalid_amount" });

    // @ts-expect-error input is required for commands that declare one
    await assert.rejects(w.withdraw(), { code: "invalid_amount" });

    // @ts-expect-error the reply's balance is a number, not a string
    const s: string = (await w.deposit({ amount: 1 })).balance;
    assert.equal(typeof s, "number");

    // @ts-expect-error replies have no fields the handler does not produce
    void (await w.balance()).owner;

    // @ts-expect-error key-value inputs are typed from the handler too
    await assert.rejects(client.call(customer, "c9").addWallet({ wallet: "w1" }), { code: "invalid_input" });

    // Queries declared with `_: {}` take no input; the reply type flows through.
    const b: number = (await w.balance()).balance;
    assert.equal(b, 6);
    const n: number = (await w.withdraw({ amount: 1 })).balance;
    assert.equal(n, 5);
    const name: string | undefined = (await client.call(customer, "c10").register({ name: "Cy", email: "cy@example.com" }))
      ?.name;
    assert.equal(name, "Cy");
  });
});
