import { service } from "sagaflow";
import { cart } from "./cart.ts";
import { productStats, sales } from "./product-stats.ts";
import { carts, products } from "./views.ts";

/** A full CQRS example: commands on carts; queries on views kept up to date from their events. */
export default service("shop", [cart, productStats, sales, carts, products]);
