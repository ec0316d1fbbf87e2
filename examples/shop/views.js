import { table, view } from "sagaflow";
import { cart } from "./cart.js";
import { productStats } from "./product-stats.js";
const summarise = (cartId, userId, items, checkedOut) => ({
    cartId,
    userId,
    items,
    itemCount: items.reduce((n, i) => n + i.quantity, 0),
    total: items.reduce((n, i) => n + i.quantity * i.price, 0),
    checkedOut,
});
/** Carts by user, and the open ones: the query side of the cart. */
export const carts = view("carts", {
    version: 1,
    tables: {
        carts: table(cart, {
            events: {
                itemAdded: (row, e, { id }) => {
                    const items = row?.items ?? [];
                    const existing = items.find((i) => i.productId === e.item.productId);
                    const next = existing
                        ? items.map((i) => (i === existing ? { ...i, quantity: i.quantity + e.item.quantity } : i))
                        : [...items, e.item];
                    return summarise(id, row?.userId ?? e.userId, next, false);
                },
                itemRemoved: (row, e, { id }) => row && summarise(id, row.userId, row.items.filter((i) => i.productId !== e.productId), row.checkedOut),
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
    version: 1,
    tables: {
        products: table(productStats, {
            state: (_row, state, { id }) => state === null ? null : { productId: id, unitsSold: state.unitsSold },
        }),
    },
    queries: {
        top: "SELECT * AS products FROM products ORDER BY unitsSold DESC LIMIT :limit",
    },
});
