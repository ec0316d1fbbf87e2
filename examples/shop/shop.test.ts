import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testService } from "sagaflow/testkit";
import { cart } from "./cart.ts";
import { productStats, sales } from "./product-stats.ts";
import { carts, products } from "./views.ts";

describe("shop (in process, testkit)", () => {
  it("checkout-feeds-the-stats-and-both-views", async () => {
    const t = await testService([cart, productStats, sales, carts, products]);
    const add = (id: string, productId: string, quantity: number) =>
      t.client.call(cart, id).addItem({ userId: "u1", productId, name: productId, quantity, price: 2 });
    await add("c1", "pen", 3);
    await add("c2", "ink", 1);
    await t.client.call(cart, "c1").checkout();
    await t.settle();
    assert.deepEqual(await t.client.call(productStats, "pen").get(), { unitsSold: 3 });
    assert.deepEqual(await t.query("carts", "open", {}), {
      carts: [{ cartId: "c2", userId: "u1", itemCount: 1, total: 2, checkedOut: false }],
    });
    assert.deepEqual(await t.query("products", "top", { limit: 5 }), { products: [{ productId: "pen", unitsSold: 3 }] });
    await t.stop();
  });
});
