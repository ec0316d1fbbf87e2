import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testWorkflow } from "sagaflow/testkit";
import { fulfilment } from "./fulfilment.ts";
import { order, type Line } from "./order.ts";
import { payment } from "./payment.ts";
import { stock } from "./stock.ts";

const lines: Line[] = [{ productId: "p1", quantity: 2, price: 150 }];

describe("fulfilment (the workflow alone, virtual time)", () => {
  it("a-verdict-that-comes-while-awaitPayment-is-being-retried-is-noted-and-acted-on", async () => {
    const t = await testWorkflow(fulfilment, { components: [order, stock, payment] });
    await t.client.call(stock, "p1").restock({ quantity: 5 });
    await t.client.call(order, "o1").place({ customerId: "c1", lines });
    t.failStep("awaitPayment", 1); // its first run fails: the workflow waits for the retry, not paused
    await t.start("o1", { lines, total: 300 });
    const before = await t.result("o1");
    assert.deepEqual([before.status, before.step], ["running", "awaitPayment"]);

    assert.deepEqual(await t.command("o1", "paymentAccepted"), { resumed: false });
    assert.equal((await t.result("o1")).state.verdict, "accepted", "noted in the state");
    await t.advance(100); // the retry's back-off
    const after = await t.result("o1");
    assert.deepEqual([after.status, after.step, after.state.outcome], ["ended", "ship", "shipped"]);
    assert.deepEqual(await t.client.call(order, "o1").get(), { status: "shipped", total: 300 });
    assert.deepEqual(await t.client.call(stock, "p1").get(), { available: 3, reserved: 0 });
    await t.stop();
  });

  it("a-verdict-for-a-workflow-that-is-over-changes-nothing", async () => {
    const t = await testWorkflow(fulfilment, { components: [order, stock, payment] });
    await t.client.call(order, "o2").place({ customerId: "c1", lines });
    await t.start("o2", { lines, total: 300 }); // no stock: cancelled out_of_stock
    assert.equal((await t.result("o2")).state.reason, "out_of_stock");
    assert.deepEqual(await t.command("o2", "paymentAccepted"), { resumed: false });
    const after = await t.result("o2");
    assert.deepEqual([after.status, after.state.outcome], ["ended", "cancelled"]);
    assert.deepEqual(await t.client.call(order, "o2").get(), { status: "cancelled", total: 300, reason: "out_of_stock" });
    await t.stop();
  });
});
