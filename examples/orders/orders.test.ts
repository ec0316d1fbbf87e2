import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testService, type ServiceUnderTest } from "sagaflow/testkit";
import { paymentVerdicts, placedOrders } from "./consumers.ts";
import { fulfilment, paymentTimeoutMs } from "./fulfilment.ts";
import { order, type Line } from "./order.ts";
import { payment } from "./payment.ts";
import { stock } from "./stock.ts";
import { orders } from "./views.ts";

const all = [order, stock, payment, fulfilment, placedOrders, paymentVerdicts, orders];

async function restock(t: ServiceUnderTest, levels: Record<string, number>): Promise<void> {
  for (const [productId, quantity] of Object.entries(levels)) await t.client.call(stock, productId).restock({ quantity });
}

const place = (t: ServiceUnderTest, id: string, lines: Line[], customerId = "c1") => t.client.call(order, id).place({ customerId, lines });
const status = (t: ServiceUnderTest, id: string) => t.client.call(order, id).get();
const stockOf = (t: ServiceUnderTest, productId: string) => t.client.call(stock, productId).get();
const byStatus = async (t: ServiceUnderTest, s: string) => ((await t.query("orders", "byStatus", { status: s })) as { orders: unknown[] }).orders;

const twoLines: Line[] = [
  { productId: "p1", quantity: 2, price: 150 },
  { productId: "p2", quantity: 1, price: 300 },
];

describe("orders (in process, virtual time)", () => {
  it("a-placed-order-reserves-stock-and-waits-then-a-payment-of-its-total-ships-it", async () => {
    const t = await testService(all);
    await restock(t, { p1: 10, p2: 5 });
    assert.deepEqual(await place(t, "o1", twoLines), { status: "placed" });
    await t.settle();
    assert.deepEqual(await status(t, "o1"), { status: "awaiting_payment", total: 600 });
    assert.deepEqual(await stockOf(t, "p1"), { available: 8, reserved: 2 });
    assert.deepEqual(await stockOf(t, "p2"), { available: 4, reserved: 1 });
    const paused = (await t.admin.showWorkflow("fulfilment", "o1")).workflow;
    assert.deepEqual([paused.status, paused.step], ["paused", "awaitPayment"]);

    assert.deepEqual(await t.client.call(payment, "o1").pay({ amount: 600 }), { status: "accepted" });
    await t.settle();
    assert.deepEqual(await status(t, "o1"), { status: "shipped", total: 600 });
    assert.deepEqual(await stockOf(t, "p1"), { available: 8, reserved: 0 }, "taken from available, not left reserved");
    assert.deepEqual(await stockOf(t, "p2"), { available: 4, reserved: 0 });
    assert.deepEqual(await byStatus(t, "shipped"), [{ id: "o1", customerId: "c1", status: "shipped", total: 600 }]);
    assert.deepEqual(await t.query("orders", "byCustomer", { customerId: "c1" }), { orders: [{ id: "o1", customerId: "c1", status: "shipped", total: 600 }] });

    await t.advance(paymentTimeoutMs * 2);
    assert.equal((await status(t, "o1")).status, "shipped", "no timeout undoes a shipped order");
    await t.stop();
  });

  it("an-order-not-paid-in-time-is-cancelled-payment_timeout-and-its-stock-released", async () => {
    const t = await testService(all);
    await restock(t, { p1: 10, p2: 5 });
    await place(t, "late", twoLines);
    await t.settle();
    await t.advance(paymentTimeoutMs - 1);
    assert.equal((await status(t, "late")).status, "awaiting_payment", "not before it is due");
    await t.advance(1);
    assert.deepEqual(await status(t, "late"), { status: "cancelled", total: 600, reason: "payment_timeout" });
    assert.deepEqual(await stockOf(t, "p1"), { available: 10, reserved: 0 });
    assert.deepEqual(await stockOf(t, "p2"), { available: 5, reserved: 0 });
    assert.deepEqual(await byStatus(t, "cancelled"), [{ id: "late", customerId: "c1", status: "cancelled", total: 600 }]);

    // The provider pays after all: declined, and the order stays cancelled.
    assert.deepEqual(await t.client.call(payment, "late").pay({ amount: 600 }), { status: "declined" });
    await t.settle();
    assert.deepEqual(await status(t, "late"), { status: "cancelled", total: 600, reason: "payment_timeout" });
    assert.deepEqual(await t.client.call(payment, "late").get(), { status: "declined", expected: 600, amount: 600, reason: "order_closed" });
    assert.deepEqual(await stockOf(t, "p1"), { available: 10, reserved: 0 });
    await t.stop();
  });

  it("a-payment-of-another-amount-is-declined-and-the-order-cancelled-payment_declined", async () => {
    const t = await testService(all);
    await restock(t, { p1: 10, p2: 5 });
    await place(t, "short", twoLines);
    await t.settle();
    assert.deepEqual(await t.client.call(payment, "short").pay({ amount: 599 }), { status: "declined" });
    await t.settle();
    assert.deepEqual(await status(t, "short"), { status: "cancelled", total: 600, reason: "payment_declined" });
    assert.deepEqual(await stockOf(t, "p1"), { available: 10, reserved: 0 });
    assert.deepEqual(await stockOf(t, "p2"), { available: 5, reserved: 0 });
    // The verdict stands: paying the right amount afterwards changes nothing.
    assert.deepEqual(await t.client.call(payment, "short").pay({ amount: 600 }), { status: "declined" });
    await t.advance(paymentTimeoutMs);
    assert.deepEqual(await status(t, "short"), { status: "cancelled", total: 600, reason: "payment_declined" });
    await t.stop();
  });

  it("an-order-whose-stock-runs-short-is-cancelled-out_of_stock-with-nothing-left-reserved", async () => {
    const t = await testService(all);
    await restock(t, { p1: 10, p2: 1, p3: 10 });
    // p1 is reserved first, p2 refuses: p1's reservation is released, p3 never reserved.
    await place(t, "big", [
      { productId: "p1", quantity: 3, price: 100 },
      { productId: "p2", quantity: 2, price: 100 },
      { productId: "p3", quantity: 1, price: 100 },
    ]);
    await t.settle();
    assert.deepEqual(await status(t, "big"), { status: "cancelled", total: 600, reason: "out_of_stock" });
    assert.deepEqual(await stockOf(t, "p1"), { available: 10, reserved: 0 });
    assert.deepEqual(await stockOf(t, "p2"), { available: 1, reserved: 0 });
    assert.deepEqual(await stockOf(t, "p3"), { available: 10, reserved: 0 });
    assert.deepEqual(await stockOf(t, "never-restocked"), { available: 0, reserved: 0 });
    // A payment for it is declined: the order never asked for one.
    assert.deepEqual(await t.client.call(payment, "big").pay({ amount: 600 }), { status: "declined" });
    await t.settle();
    assert.equal((await status(t, "big")).reason, "out_of_stock");
    await t.stop();
  });

  it("a-second-place-is-already_exists-and-bad-orders-are-refused-and-change-nothing", async () => {
    const t = await testService(all);
    await restock(t, { p1: 10 });
    await place(t, "o1", [{ productId: "p1", quantity: 1, price: 100 }]);
    await assert.rejects(place(t, "o1", [{ productId: "p1", quantity: 5, price: 1 }], "c2"), { code: "already_exists", status: 409 });
    await t.settle();
    assert.deepEqual(await status(t, "o1"), { status: "awaiting_payment", total: 100 });
    assert.deepEqual(await stockOf(t, "p1"), { available: 9, reserved: 1 }, "the refused place reserved nothing");

    const bad: Array<[string, unknown, string]> = [
      ["no lines", { customerId: "c1", lines: [] }, "empty_order"],
      ["lines missing", { customerId: "c1" }, "empty_order"],
      ["quantity 0", { customerId: "c1", lines: [{ productId: "p1", quantity: 0, price: 1 }] }, "invalid_quantity"],
      ["quantity -1", { customerId: "c1", lines: [{ productId: "p1", quantity: -1, price: 1 }] }, "invalid_quantity"],
      ["quantity 1.5", { customerId: "c1", lines: [{ productId: "p1", quantity: 1.5, price: 1 }] }, "invalid_quantity"],
      ["price 1.5", { customerId: "c1", lines: [{ productId: "p1", quantity: 1, price: 1.5 }] }, "invalid_price"],
      ["price -1", { customerId: "c1", lines: [{ productId: "p1", quantity: 1, price: -1 }] }, "invalid_price"],
      ["no product", { customerId: "c1", lines: [{ quantity: 1, price: 1 }] }, "invalid_product"],
      ["no customer", { lines: [{ productId: "p1", quantity: 1, price: 1 }] }, "invalid_customer"],
    ];
    for (const [label, input, code] of bad) {
      await assert.rejects(t.client.call(order, "bad").place(input as never), { code, status: 400 }, label);
    }
    await assert.rejects(status(t, "bad"), { code: "not_found", status: 404 });
    await t.settle();
    assert.deepEqual((await t.admin.listWorkflows({ name: "fulfilment", limit: 10 })).map((w) => w.id), ["o1"], "no fulfilment started for refused orders");
    await t.stop();
  });

  it("a-payment-that-comes-before-the-order-asks-for-it-is-kept-and-decided-then", async () => {
    const t = await testService(all);
    await restock(t, { p1: 10, p2: 5 });
    await place(t, "quick", twoLines);
    await place(t, "quick-short", twoLines);
    // Paid before the consumer has even started the fulfilment.
    assert.deepEqual(await t.client.call(payment, "quick").pay({ amount: 600 }), { status: "pending" });
    assert.deepEqual(await t.client.call(payment, "quick-short").pay({ amount: 1 }), { status: "pending" });
    await t.settle();
    assert.deepEqual(await status(t, "quick"), { status: "shipped", total: 600 });
    assert.deepEqual(await status(t, "quick-short"), { status: "cancelled", total: 600, reason: "payment_declined" });
    assert.deepEqual(await stockOf(t, "p1"), { available: 8, reserved: 0 });
    assert.deepEqual(await stockOf(t, "p2"), { available: 4, reserved: 0 });
    await t.stop();
  });

  it("a-payment-accepted-just-before-the-timeout-wins-the-race-and-the-order-ships", async () => {
    // Without the verdicts consumer nothing resumes the workflow: only the timeout step can see
    // the payment, through the reply of `close`.
    const t = await testService([order, stock, payment, fulfilment, placedOrders, orders]);
    await restock(t, { p1: 10, p2: 5 });
    await place(t, "photo-finish", twoLines);
    await place(t, "never-paid", twoLines);
    await t.settle();
    await t.advance(paymentTimeoutMs - 1);
    assert.deepEqual(await t.client.call(payment, "photo-finish").pay({ amount: 600 }), { status: "accepted" });
    await t.advance(1);
    assert.deepEqual(await status(t, "photo-finish"), { status: "shipped", total: 600 });
    assert.deepEqual(await status(t, "never-paid"), { status: "cancelled", total: 600, reason: "payment_timeout" });
    assert.deepEqual(await stockOf(t, "p1"), { available: 8, reserved: 0 });
    assert.deepEqual(await stockOf(t, "p2"), { available: 4, reserved: 0 });
    await t.stop();
  });

  it("lines-of-one-product-are-reserved-together-and-competing-orders-never-oversell", async () => {
    const t = await testService(all);
    await restock(t, { p: 10 });
    const ids = Array.from({ length: 8 }, (_, i) => `race-${i}`);
    // Each order wants 3 units, in two lines of the same product: at most 3 orders fit in 10.
    await Promise.all(ids.map((id) => place(t, id, [{ productId: "p", quantity: 1, price: 10 }, { productId: "p", quantity: 2, price: 10 }], `cust-${id}`)));
    await t.settle();
    const waiting = [];
    for (const id of ids) {
      const s = await status(t, id);
      if (s.status === "awaiting_payment") waiting.push(id);
      else assert.deepEqual(s, { status: "cancelled", total: 30, reason: "out_of_stock" });
    }
    assert.equal(waiting.length, 3);
    assert.deepEqual(await stockOf(t, "p"), { available: 1, reserved: 9 });
    for (const id of waiting) await t.client.call(payment, id).pay({ amount: 30 });
    await t.settle();
    for (const id of waiting) assert.equal((await status(t, id)).status, "shipped");
    assert.deepEqual(await stockOf(t, "p"), { available: 1, reserved: 0 });
    assert.equal((await byStatus(t, "cancelled")).length, 5);
    assert.equal((await byStatus(t, "shipped")).length, 3);
    await t.stop();
  });

  it("stock-commands-refuse-bad-quantities", async () => {
    const t = await testService(all);
    for (const quantity of [0, -1, 1.5, "2", null]) {
      await assert.rejects(t.client.call(stock, "p").restock({ quantity } as never), { code: "invalid_quantity" });
    }
    assert.deepEqual(await t.client.call(stock, "p").restock({ quantity: 4 }), { available: 4 });
    assert.deepEqual(await t.client.call(stock, "p").restock({ quantity: 3 }), { available: 7 });
    await assert.rejects(t.client.call(stock, "p").reserve({ orderId: "x", quantity: 8 }), { code: "out_of_stock" });
    assert.deepEqual(await stockOf(t, "p"), { available: 7, reserved: 0 });
    await t.stop();
  });
});
