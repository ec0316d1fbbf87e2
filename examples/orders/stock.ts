import { access, keyValue } from "sagaflow";

/** One product's stock: what can be sold, and what is held for orders not yet shipped. */
export interface Stock {
  available: number;
  /** Quantity held per order id: a reservation belongs to its order, so it is released or taken exactly once. */
  holds: Record<string, number>;
}

const positiveQuantity = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;
const input = (c: unknown): Record<string, unknown> => (typeof c === "object" && c !== null ? (c as Record<string, unknown>) : {});
const reservedOf = (s: Stock) => Object.values(s.holds).reduce((n, q) => n + q, 0);
const without = (holds: Record<string, number>, orderId: string) =>
  Object.fromEntries(Object.entries(holds).filter(([id]) => id !== orderId));

/**
 * A key-value entity per product id. Reservations are keyed by order: `reserve` twice for one
 * order holds once, and `release` / `take` act on exactly what that order holds (nothing, if it
 * holds nothing), so compensations can release every line of an order without knowing which
 * lines were reserved.
 */
export const stock = keyValue("stock", {
  initial: (): Stock => ({ available: 0, holds: {} }),
  commands: {
    /** Adds `quantity` to what can be sold. */
    restock: (s, c: { quantity: number }, fx) =>
      !positiveQuantity(input(c)["quantity"])
        ? fx.error("invalid_quantity", "quantity must be a whole number > 0")
        : s.available + c.quantity > Number.MAX_SAFE_INTEGER
          ? fx.error("stock_limit", `available stock cannot exceed ${Number.MAX_SAFE_INTEGER}`)
          : fx.update({ ...s, available: s.available + c.quantity }).reply((s) => ({ available: s.available })),

    /** Holds `quantity` for `orderId`, or refuses with `out_of_stock` and holds nothing. */
    reserve: (s, c: { orderId: string; quantity: number }, fx) => {
      const { orderId, quantity } = input(c);
      if (typeof orderId !== "string" || orderId === "") return fx.error("invalid_order", "orderId must be a non-empty string");
      if (!positiveQuantity(quantity)) return fx.error("invalid_quantity", "quantity must be a whole number > 0");
      const held = s.holds[orderId];
      if (held !== undefined) return fx.reply({ reserved: held });
      if (s.available < quantity) return fx.error("out_of_stock", `${quantity} wanted, ${s.available} available`);
      return fx.update({ available: s.available - quantity, holds: { ...s.holds, [orderId]: quantity } }).reply({ reserved: quantity });
    },

    /** Gives what `orderId` holds back to `available` (a compensation). */
    release: (s, c: { orderId: string }, fx) => {
      const orderId = input(c)["orderId"];
      const held = typeof orderId === "string" ? s.holds[orderId] : undefined;
      if (held === undefined) return fx.reply({ released: 0 });
      return fx.update({ available: s.available + held, holds: without(s.holds, orderId as string) }).reply({ released: held });
    },

    /** What `orderId` holds leaves the warehouse: out of `reserved`, never back to `available`. */
    take: (s, c: { orderId: string }, fx) => {
      const orderId = input(c)["orderId"];
      const held = typeof orderId === "string" ? s.holds[orderId] : undefined;
      if (held === undefined) return fx.reply({ taken: 0 });
      return fx.update({ ...s, holds: without(s.holds, orderId as string) }).reply({ taken: held });
    },
  },
  queries: {
    /** `{available, reserved}`; a product never restocked has 0 of both. */
    get: (s, _: {}, fx) => fx.reply({ available: s.available, reserved: reservedOf(s) }),
  },
  // Public: restocking and reading. reserve, release and take are the fulfilment workflow's.
  expose: { restock: access.anyone, get: access.anyone },
});
