import { access, table, view } from "sagaflow";
import { cart, type Item } from "./cart.ts";
import { productStats } from "./product-stats.ts";

interface CartRow {
  cartId: string;
  userId: string;
  itemCount: number;
  total: number;
  checkedOut: boolean;
  items: Item[];
}

const summarise = (cartId: string, userId: string, items: Item[], checkedOut: boolean): CartRow => ({
  cartId,
  userId,
  items,
  itemCount: items.reduce((n, i) => n + i.quantity, 0),
  total: items.reduce((n, i) => n + i.quantity * i.price, 0),
  checkedOut,
});

/** Carts by user, and the open ones: the query side of the cart. */
export const carts = view("carts", {
  expose: access.anyone,
  version: 1,
  tables: {
    carts: table<typeof cart, CartRow>(cart, {
      events: {
        itemAdded: (row, e, { id }) => {
          const items = row?.items ?? [];
          const existing = items.find((i) => i.productId === e.item.productId);
          const next = existing
            ? items.map((i) => (i === existing ? { ...i, quantity: i.quantity + e.item.quantity } : i))
            : [...items, e.item];
          return summarise(id, row?.userId ?? e.userId, next, false);
        },
        itemRemoved: (row, e, { id }) =>
          row && summarise(id, row.userId, row.items.filter((i) => i.productId !== e.productId), row.checkedOut),
        checkedOut: (row, _e, { id }) => row && summarise(id, row.userId, row.items, true),
      },
    }),
  },
  queries: {
    byUser: `SELECT (cartId, userId, itemCount, total, checkedOut) AS carts FROM carts
             WHERE userId = :userId ORDER BY cartId`,
    open: `SELECT (cartId, userId, itemCount, total, checkedOut) AS carts FROM carts
           WHERE checkedOut = false ORDER BY cartId`,
  },
});

/** Best sellers, from the product stats' state changes. */
export const products = view("products", {
  expose: access.anyone,
  version: 1,
  tables: {
    products: table<typeof productStats, { productId: string; unitsSold: number }>(productStats, {
      state: (_row, state, { id }) =>
        state === null ? null : { productId: id, unitsSold: state.unitsSold },
    }),
  },
  queries: {
    top: "SELECT * AS products FROM products ORDER BY unitsSold DESC LIMIT :limit",
  },
});
