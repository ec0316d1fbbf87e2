import { access, entity } from "sagaflow";

export interface Item {
  productId: string;
  name: string;
  quantity: number;
  price: number;
}

export interface Cart {
  userId: string | null;
  items: Item[];
  checkedOut: boolean;
}

const isText = (v: unknown, max = 200): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const isPrice = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** A shopping cart: the command side of the shop. */
export const cart = entity(
  "cart",
  {
    initial: (): Cart => ({ userId: null, items: [], checkedOut: false }),
    events: {
      itemAdded: (s, e: { userId: string; item: Item }): Cart => {
        const existing = s.items.find((i) => i.productId === e.item.productId);
        const items = existing
          ? s.items.map((i) => (i === existing ? { ...i, quantity: i.quantity + e.item.quantity } : i))
          : [...s.items, e.item];
        return { ...s, userId: s.userId ?? e.userId, items };
      },
      itemRemoved: (s, e: { productId: string }): Cart => ({ ...s, items: s.items.filter((i) => i.productId !== e.productId) }),
      checkedOut: (s, _e: { items: Item[] }): Cart => ({ ...s, checkedOut: true }),
    },
  },
  {
    expose: access.anyone,
    commands: {
      addItem: (s, c: { userId: string; productId: string; name: string; quantity: number; price: number }, fx) =>
        s.checkedOut ? fx.error("checked_out", "this cart is checked out")
        : !isCount(c.quantity) ? fx.error("invalid_quantity", "quantity must be a whole number ≥ 1")
        : !isText(c.userId) || !isText(c.productId) || !isText(c.name) || !isPrice(c.price)
          ? fx.error("invalid_item", "userId, productId and name must be non-empty text and price a number ≥ 0")
        : fx
            .emit("itemAdded", { userId: c.userId, item: { productId: c.productId, name: c.name, quantity: c.quantity, price: c.price } })
            .reply((s) => view(s)),
      removeItem: (s, c: { productId: string }, fx) =>
        s.checkedOut ? fx.error("checked_out", "this cart is checked out")
        : !s.items.some((i) => i.productId === c.productId) ? fx.error("not_in_cart", "no such product in this cart")
        : fx.emit("itemRemoved", { productId: c.productId }).reply((s) => view(s)),
      checkout: (s, _: {}, fx) =>
        s.checkedOut ? fx.error("checked_out", "this cart is checked out")
        : s.items.length === 0 ? fx.error("empty_cart", "nothing to check out")
        : fx.emit("checkedOut", { items: s.items }).reply((s) => view(s)),
    },
    queries: {
      get: (s, _: {}, fx) => (s.userId === null ? fx.error("not_found", "no such cart") : fx.reply(view(s))),
    },
  },
);

function view(s: Cart) {
  return { userId: s.userId, items: s.items, checkedOut: s.checkedOut };
}
