import { access, consumer, keyValue } from "sagaflow";
import { cart } from "./cart.ts";

/** Units sold of one product (the id): kept by the `sales` consumer. */
export const productStats = keyValue("product-stats", {
  expose: access.anyone,
  initial: () => ({ unitsSold: 0 }),
  commands: {
    recordSale: (s, c: { quantity: number }, fx) => fx.update({ unitsSold: s.unitsSold + c.quantity }).reply((s) => s),
  },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});

/** Each checked-out cart adds its quantities to the products' stats, exactly once (keyed calls). */
export const sales = consumer("sales", {
  source: cart,
  events: {
    checkedOut: async (e, ctx) => {
      for (const item of e.items) await ctx.call(productStats, item.productId).recordSale({ quantity: item.quantity });
    },
  },
  ignoreUnknown: true,
});
