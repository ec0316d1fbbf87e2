import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { SagaflowProcess, sleep } from "../../test/support/server-process.ts";
import { byStatus, eventually, isFinal, orderOf, pay, place, restock, statusIs, stockOf, type LineInput } from "./http-support.ts";

/**
 * SIGKILL while orders wait for their payment (a real `sagaflow serve examples/orders` process on
 * SQLite). After each restart every order ends as it should — paid ones shipped, unpaid ones
 * cancelled `payment_timeout`, including those whose timeout fell due while the server was down —
 * and stock adds up exactly: for every product, available + reserved + shipped = restocked, with
 * nothing left reserved.
 */

const paymentTimeoutMs = 15_000;
const restocked: Record<string, number> = { pa: 200, pb: 200, pc: 3 };

let server: SagaflowProcess | undefined;
after(async () => {
  await server?.cleanup();
});

/** Order i: a mix of quantities over two products; totals differ from order to order. */
const linesOf = (i: number): LineInput[] => [
  { productId: "pa", quantity: 1 + (i % 3), price: 100 + i },
  { productId: "pb", quantity: 1 + (i % 2), price: 250 },
];
const totalOf = (lines: LineInput[]) => lines.reduce((n, l) => n + l.quantity * l.price, 0);

describe("orders: SIGKILL while orders wait for payment", () => {
  it("after restarts, paid orders ship, unpaid ones time out, and stock totals are exact", { timeout: 120_000 }, async () => {
    server = await SagaflowProcess.start({ target: "examples/orders", env: { ORDERS_PAYMENT_TIMEOUT_MS: String(paymentTimeoutMs) } });
    for (const [productId, quantity] of Object.entries(restocked)) await restock(server.url, productId, quantity);

    const ids = Array.from({ length: 16 }, (_, i) => `order-${String(i).padStart(2, "0")}`);
    const lines = new Map(ids.map((id, i) => [id, linesOf(i)]));
    await Promise.all(ids.map((id, i) => place(server!.url, id, `customer-${i % 4}`, lines.get(id)!)));
    // One that cannot be reserved: pa is reserved first, then released when pc refuses.
    const tooBig: LineInput[] = [{ productId: "pa", quantity: 1, price: 1 }, { productId: "pc", quantity: 5, price: 1 }];
    await place(server.url, "order-too-big", "customer-0", tooBig);
    for (const id of ids) await eventually(`${id} awaiting_payment`, () => orderOf(server!.url, id), statusIs("awaiting_payment"));
    const placedAt = Date.now();

    // 0-3 are paid, and the server is killed right after the callbacks are answered, with their
    // fulfilments somewhere between the verdict and shipping.
    const paidBeforeKill = ids.slice(0, 4);
    await Promise.all(paidBeforeKill.map((id) => pay(server!.url, id, totalOf(lines.get(id)!))));
    const first = await server.restart("SIGKILL");
    assert.equal(first.signal, "SIGKILL");

    // 4-9 are paid after the restart, 10-11 with the wrong amount; 12-15 never.
    const paidAfter = ids.slice(4, 10);
    const declined = ids.slice(10, 12);
    const unpaid = ids.slice(12);
    for (const id of [...paidAfter, ...declined]) {
      assert.equal((await orderOf(server.url, id)).status, "awaiting_payment", `${id} must still wait (is the machine too slow for a ${paymentTimeoutMs} ms timeout?)`);
    }
    await Promise.all(paidAfter.map((id) => pay(server!.url, id, totalOf(lines.get(id)!))));
    await Promise.all(declined.map((id) => pay(server!.url, id, totalOf(lines.get(id)!) - 1)));

    // Killed again, and kept down until the unpaid orders' timeouts have fallen due.
    await server.kill("SIGKILL");
    const dueIn = placedAt + paymentTimeoutMs + 500 - Date.now();
    if (dueIn > 0) await sleep(dueIn);
    await server.start();

    const outcomes = new Map<string, { status: string; total: number; reason?: string }>();
    for (const id of [...ids, "order-too-big"]) outcomes.set(id, await eventually(`${id} over`, () => orderOf(server!.url, id), isFinal, 30_000));
    for (const id of [...paidBeforeKill, ...paidAfter]) assert.deepEqual(outcomes.get(id), { status: "shipped", total: totalOf(lines.get(id)!) }, id);
    for (const id of declined) assert.deepEqual(outcomes.get(id), { status: "cancelled", total: totalOf(lines.get(id)!), reason: "payment_declined" }, id);
    for (const id of unpaid) assert.deepEqual(outcomes.get(id), { status: "cancelled", total: totalOf(lines.get(id)!), reason: "payment_timeout" }, id);
    assert.deepEqual(outcomes.get("order-too-big"), { status: "cancelled", total: 6, reason: "out_of_stock" });

    // Stock: every unit is available, or left with a shipped order; none stays reserved.
    for (const [productId, quantity] of Object.entries(restocked)) {
      const shipped = ids
        .filter((id) => outcomes.get(id)!.status === "shipped")
        .flatMap((id) => lines.get(id)!)
        .filter((l) => l.productId === productId)
        .reduce((n, l) => n + l.quantity, 0);
      const now = await stockOf(server.url, productId);
      assert.equal(now.reserved, 0, `${productId}: nothing left reserved`);
      assert.equal(now.available + now.reserved + shipped, quantity, `${productId}: available ${now.available} + shipped ${shipped} ≠ restocked ${quantity}`);
    }

    // The view agrees with the orders, once it has caught up.
    const cancelledIds = [...outcomes].filter(([, o]) => o.status === "cancelled").map(([id]) => id).sort();
    const rows = await eventually("the view", () => byStatus(server!.url, "cancelled"), (rows) => rows.length === cancelledIds.length);
    assert.deepEqual(rows.map((r) => r.id), cancelledIds);
    assert.equal((await byStatus(server.url, "shipped")).length, paidBeforeKill.length + paidAfter.length);
    assert.deepEqual(await byStatus(server.url, "awaiting_payment"), []);

    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, "a graceful stop after the restarts");
  });
});
