import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cart } from "../../examples/shop/cart.ts";
import { productStats, sales } from "../../examples/shop/product-stats.ts";
import { carts } from "../../examples/shop/views.ts";
import { service } from "./service.ts";

describe("service(): components read by others must be listed", () => {
  it("a consumer or a view whose source is not listed is refused, naming both", () => {
    assert.throws(() => service("shop", [productStats, sales]), /service "shop": consumer "sales" reads "cart", which the service does not list; add cart/);
    assert.throws(() => service("shop", [carts]), /service "shop": view "carts" \(table carts\) reads "cart", which the service does not list/);
    assert.equal(service("shop", [cart, productStats, sales, carts]).components.length, 4);
  });
});
