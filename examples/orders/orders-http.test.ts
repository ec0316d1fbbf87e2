import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { assertErrorBody, getJson, postJson } from "../../test/support/http.ts";
import { SagaflowProcess } from "../../test/support/server-process.ts";
import { byStatus, eventually, isFinal, orderOf, pay, place, restock, statusIs, stockOf } from "./http-support.ts";

/**
 * The orders example's HTTP contract (issue 18), end to end against a real `sagaflow serve
 * examples/orders` process on SQLite, with a short payment timeout. Every test uses products,
 * orders and customers of its own, so stock levels are exact.
 */

const paymentTimeoutMs = 5_000;
let server: SagaflowProcess;
let base: string;
let serial = 0;
const fresh = (prefix: string) => `${prefix}-${++serial}`;

before(async () => {
  server = await SagaflowProcess.start({ target: "examples/orders", env: { ORDERS_PAYMENT_TIMEOUT_MS: String(paymentTimeoutMs) } });
  base = server.url;
});
after(async () => {
  await server?.cleanup();
});

describe("orders over HTTP: stock", () => {
  it("restock answers the available quantity; get answers available and reserved; an unknown product has 0 of both", async () => {
    const p = fresh("p");
    assert.deepEqual(await stockOf(base, p), { available: 0, reserved: 0 });
    const first = await postJson(`${base}/stock/${p}/restock`, { quantity: 5 });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, { available: 5 });
    assert.deepEqual((await postJson(`${base}/stock/${p}/restock`, { quantity: 2 })).body, { available: 7 });
    const got = await getJson(`${base}/stock/${p}/get`);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body, { available: 7, reserved: 0 });
  });

  it("a restock of a quantity that is not a whole number above 0 is 400 and changes nothing", async () => {
    const p = fresh("p");
    await restock(base, p, 3);
    for (const quantity of [0, -2, 1.5, "4", null]) {
      const res = await postJson(`${base}/stock/${p}/restock`, { quantity });
      assert.equal(res.status, 400, res.text);
      assertErrorBody(res, 400, "invalid_quantity");
    }
    assert.deepEqual(await stockOf(base, p), { available: 3, reserved: 0 });
  });
});

describe("orders over HTTP: orders", () => {
  it("place answers placed; the order reserves stock and awaits payment; paying its total ships it", async () => {
    const [p1, p2, id, customer] = [fresh("p"), fresh("p"), fresh("o"), fresh("c")];
    await restock(base, p1, 10);
    await restock(base, p2, 10);
    await place(base, id, customer, [{ productId: p1, quantity: 2, price: 150 }, { productId: p2, quantity: 3, price: 99 }]);
    const waiting = await eventually("awaiting_payment", () => orderOf(base, id), statusIs("awaiting_payment"));
    assert.deepEqual(waiting, { status: "awaiting_payment", total: 597 });
    assert.deepEqual(await stockOf(base, p1), { available: 8, reserved: 2 });
    assert.deepEqual(await stockOf(base, p2), { available: 7, reserved: 3 });

    await pay(base, id, 597);
    const done = await eventually("shipped", () => orderOf(base, id), isFinal);
    assert.deepEqual(done, { status: "shipped", total: 597 });
    assert.deepEqual(await stockOf(base, p1), { available: 8, reserved: 0 });
    assert.deepEqual(await stockOf(base, p2), { available: 7, reserved: 0 });
    const rows = await eventually("the view", () => byStatus(base, "shipped"), (rows) => rows.some((r) => r.id === id));
    assert.deepEqual(rows.find((r) => r.id === id), { id, customerId: customer, status: "shipped", total: 597 });
  });

  it("a payment of another amount is declined: the order is cancelled payment_declined and its stock released", async () => {
    const [p, id] = [fresh("p"), fresh("o")];
    await restock(base, p, 4);
    await place(base, id, fresh("c"), [{ productId: p, quantity: 4, price: 25 }]);
    await eventually("awaiting_payment", () => orderOf(base, id), statusIs("awaiting_payment"));
    assert.deepEqual(await stockOf(base, p), { available: 0, reserved: 4 });
    await pay(base, id, 99);
    assert.deepEqual(await eventually("cancelled", () => orderOf(base, id), isFinal), { status: "cancelled", total: 100, reason: "payment_declined" });
    assert.deepEqual(await stockOf(base, p), { available: 4, reserved: 0 });
  });

  it("an order not paid within ORDERS_PAYMENT_TIMEOUT_MS is cancelled payment_timeout and its stock released", async () => {
    const [p, id] = [fresh("p"), fresh("o")];
    await restock(base, p, 6);
    await place(base, id, fresh("c"), [{ productId: p, quantity: 5, price: 10 }]);
    await eventually("awaiting_payment", () => orderOf(base, id), statusIs("awaiting_payment"));
    const done = await eventually("timed out", () => orderOf(base, id), isFinal, paymentTimeoutMs + 20_000);
    assert.deepEqual(done, { status: "cancelled", total: 50, reason: "payment_timeout" });
    assert.deepEqual(await stockOf(base, p), { available: 6, reserved: 0 });
    // Paying now is answered (the provider's callback always is) and changes nothing.
    await pay(base, id, 50);
    assert.deepEqual(await orderOf(base, id), done);
    assert.deepEqual(await stockOf(base, p), { available: 6, reserved: 0 });
  });

  it("an order whose stock cannot be reserved is cancelled out_of_stock with nothing left reserved", async () => {
    const [p1, p2, id] = [fresh("p"), fresh("p"), fresh("o")];
    await restock(base, p1, 5);
    await restock(base, p2, 1);
    await place(base, id, fresh("c"), [{ productId: p1, quantity: 5, price: 1 }, { productId: p2, quantity: 2, price: 1 }]);
    assert.deepEqual(await eventually("cancelled", () => orderOf(base, id), isFinal), { status: "cancelled", total: 7, reason: "out_of_stock" });
    assert.deepEqual(await stockOf(base, p1), { available: 5, reserved: 0 });
    assert.deepEqual(await stockOf(base, p2), { available: 1, reserved: 0 });
  });

  it("a second place is a 4xx already_exists and keeps the first order", async () => {
    const [p, id] = [fresh("p"), fresh("o")];
    await restock(base, p, 10);
    await place(base, id, "c1", [{ productId: p, quantity: 1, price: 100 }]);
    const again = await postJson(`${base}/order/${id}/place`, { customerId: "c2", lines: [{ productId: p, quantity: 9, price: 1 }] });
    assert.ok(again.status >= 400 && again.status < 500, again.text);
    assertErrorBody(again, again.status, "already_exists");
    assert.deepEqual(await eventually("awaiting_payment", () => orderOf(base, id), statusIs("awaiting_payment")), { status: "awaiting_payment", total: 100 });
    assert.deepEqual(await stockOf(base, p), { available: 9, reserved: 1 });
  });

  it("empty lines and quantities that are not above 0 are 400 and place nothing; an order never placed is 404", async () => {
    const p = fresh("p");
    await restock(base, p, 10);
    const bodies = [
      { customerId: "c1", lines: [] },
      { customerId: "c1", lines: [{ productId: p, quantity: 0, price: 100 }] },
      { customerId: "c1", lines: [{ productId: p, quantity: -3, price: 100 }] },
      { customerId: "c1", lines: [{ productId: p, quantity: 1, price: 100 }, { productId: p, quantity: 0, price: 100 }] },
    ];
    for (const body of bodies) {
      const id = fresh("bad");
      const res = await postJson(`${base}/order/${id}/place`, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(typeof res.body?.error?.code, "string", res.text);
      assertErrorBody(await getJson(`${base}/order/${id}/get`), 404, "not_found");
    }
    assertErrorBody(await getJson(`${base}/order/${fresh("never")}/get`), 404, "not_found");
    assert.deepEqual(await stockOf(base, p), { available: 10, reserved: 0 });
  });

  it("the payment callback answers 200, even for an order never placed", async () => {
    const res = await postJson(`${base}/payment/${fresh("nobody")}/pay`, { amount: 100 });
    assert.equal(res.status, 200, res.text);
  });

  it("the orders view answers byStatus and byCustomer with {id, customerId, status, total}", async () => {
    const [p, customer] = [fresh("p"), fresh("c")];
    await restock(base, p, 1);
    const [ok, short] = [fresh("o"), fresh("o")];
    await place(base, ok, customer, [{ productId: p, quantity: 1, price: 40 }]);
    await eventually("awaiting_payment", () => orderOf(base, ok), statusIs("awaiting_payment"));
    await place(base, short, customer, [{ productId: p, quantity: 1, price: 60 }]);
    await eventually("cancelled", () => orderOf(base, short), isFinal);
    const cancelled = await eventually("the view", () => byStatus(base, "cancelled"), (rows) => rows.some((r) => r.id === short));
    assert.deepEqual(cancelled.find((r) => r.id === short), { id: short, customerId: customer, status: "cancelled", total: 60 });
    assert.ok(!cancelled.some((r) => r.id === ok));
    for (const row of cancelled) assert.equal(row.status, "cancelled");
    const mine = await getJson(`${base}/views/orders/byCustomer`, { customerId: JSON.stringify(customer) });
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.body, {
      orders: [
        { id: ok, customerId: customer, status: "awaiting_payment", total: 40 },
        { id: short, customerId: customer, status: "cancelled", total: 60 },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    });
  });
});
