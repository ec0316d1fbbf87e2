import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { productStats } from "../../../examples/shop/product-stats.ts";
import { carts, products } from "../../../examples/shop/views.ts";
import { cart } from "../../../examples/shop/cart.ts";
import { testService } from "../../testkit/service-testkit.ts";

/** Page tokens belong to the query and parameters they came from, and a page of none has no next. */
describe("view page tokens", () => {
  it("a token is refused by another query or other parameters, and LIMIT 0 gives no token", async () => {
    const t = await testService([cart, productStats, carts, products]);
    try {
      for (const [id, units] of [["p1", 3], ["p2", 2], ["p3", 1]] as const) await t.client.call(productStats, id).recordSale({ quantity: units });
      await t.settle();
      const first = (await t.query("products", "top", { limit: 2 })) as { products: Array<{ productId: string }>; nextPageToken?: string };
      assert.deepEqual(first.products.map((p) => p.productId), ["p1", "p2"]);
      assert.ok(first.nextPageToken);
      const rest = (await t.query("products", "top", { limit: 2 }, { pageToken: first.nextPageToken })) as { products: Array<{ productId: string }> };
      assert.deepEqual(rest.products.map((p) => p.productId), ["p3"]);
      // Other parameters, or another query, would skip rows: refused.
      await assert.rejects(t.query("products", "top", { limit: 3 }, { pageToken: first.nextPageToken }), (error: { code?: string; message?: string }) => error.code === "invalid_page_token" && /another query, or to other parameters/.test(error.message ?? ""));
      await assert.rejects(t.query("carts", "byUser", { userId: "u" }, { pageToken: first.nextPageToken }), (error: { code?: string }) => error.code === "invalid_page_token");
      // LIMIT 0: no rows, and no token that would give the same empty page for ever.
      assert.deepEqual(await t.query("products", "top", { limit: 0 }), { products: [] });
    } finally {
      await t.stop();
    }
  });
});
