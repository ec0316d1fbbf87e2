import { access, entity } from "sagaflow";

/** One line of an order: integers, the price in cents. */
export interface Line {
  productId: string;
  quantity: number;
  price: number;
}

export type OrderStatus = "new" | "placed" | "awaiting_payment" | "paid" | "shipped" | "cancelled";
export type CancelReason = "out_of_stock" | "payment_timeout" | "payment_declined";

export interface Order {
  status: OrderStatus;
  customerId: string;
  lines: Line[];
  total: number;
  reason?: CancelReason;
}

export const cancelReasons: readonly CancelReason[] = ["out_of_stock", "payment_timeout", "payment_declined"];
const maxLines = 100;
const productIdPattern = /^[A-Za-z0-9_.:@+=~-]{1,200}$/;

/** The order as placed, or why it cannot be: a refusal's code and message. */
function checkPlace(c: unknown): { customerId: string; lines: Line[]; total: number } | { code: string; message: string } {
  const input = typeof c === "object" && c !== null ? (c as Record<string, unknown>) : {};
  const { customerId, lines } = input;
  if (typeof customerId !== "string" || customerId.length === 0 || customerId.length > 200) {
    return { code: "invalid_customer", message: "customerId must be a string of 1 to 200 characters" };
  }
  if (!Array.isArray(lines) || lines.length === 0) return { code: "empty_order", message: "lines must be a non-empty array" };
  if (lines.length > maxLines) return { code: "too_many_lines", message: `an order has at most ${maxLines} lines` };
  const checked: Line[] = [];
  let total = 0;
  for (const [i, raw] of lines.entries()) {
    const line = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
    const { productId, quantity, price } = line;
    if (typeof productId !== "string" || !productIdPattern.test(productId)) {
      return { code: "invalid_product", message: `lines[${i}].productId must be 1 to 200 letters, digits or _ . : @ + = ~ -` };
    }
    if (!Number.isSafeInteger(quantity) || (quantity as number) <= 0) {
      return { code: "invalid_quantity", message: `lines[${i}].quantity must be a whole number > 0` };
    }
    if (!Number.isSafeInteger(price) || (price as number) < 0) {
      return { code: "invalid_price", message: `lines[${i}].price must be a whole number of cents ≥ 0` };
    }
    total += (quantity as number) * (price as number);
    if (!Number.isSafeInteger(total)) return { code: "invalid_price", message: "the order's total is too large" };
    checked.push({ productId, quantity: quantity as number, price: price as number });
  }
  return { customerId, lines: checked, total };
}

/**
 * An event-sourced order. Customers only `place` it and `get` it; the fulfilment workflow moves
 * it on (`awaitPayment`, `markPaid`, `ship`, `cancel`). Each of those is idempotent (a repeat
 * changes nothing) and refuses a move the order's status does not allow.
 */
export const order = entity(
  "order",
  {
    initial: (): Order => ({ status: "new", customerId: "", lines: [], total: 0 }),
    events: {
      placed: (_s, e: { customerId: string; lines: Line[]; total: number }): Order => ({ status: "placed", ...e }),
      awaitingPayment: (s, _e: {}): Order => ({ ...s, status: "awaiting_payment" }),
      paid: (s, _e: {}): Order => ({ ...s, status: "paid" }),
      shipped: (s, _e: {}): Order => ({ ...s, status: "shipped" }),
      cancelled: (s, e: { reason: CancelReason }): Order => ({ ...s, status: "cancelled", reason: e.reason }),
    },
  },
  {
    commands: {
      place: (s, c: { customerId: string; lines: Line[] }, fx) => {
        if (s.status !== "new") return fx.error("already_exists", "this order was already placed", { status: 409 });
        const checked = checkPlace(c);
        if ("code" in checked) return fx.error(checked.code, checked.message);
        return fx.emit("placed", checked).reply({ status: "placed" as const });
      },

      /** Stock is reserved for every line: the order waits for its payment. */
      awaitPayment: (s, _: {}, fx) =>
        s.status === "awaiting_payment"
          ? fx.reply({ status: s.status })
          : s.status !== "placed"
            ? fx.error("invalid_status", `an order that is ${s.status} cannot await payment`, { status: 409 })
            : fx.emit("awaitingPayment", {}).reply({ status: "awaiting_payment" }),

      markPaid: (s, _: {}, fx) =>
        s.status === "paid" || s.status === "shipped"
          ? fx.reply({ status: s.status })
          : s.status !== "awaiting_payment"
            ? fx.error("invalid_status", `an order that is ${s.status} cannot be paid`, { status: 409 })
            : fx.emit("paid", {}).reply({ status: "paid" }),

      ship: (s, _: {}, fx) =>
        s.status === "shipped"
          ? fx.reply({ status: s.status })
          : s.status !== "paid"
            ? fx.error("invalid_status", `an order that is ${s.status} cannot be shipped`, { status: 409 })
            : fx.emit("shipped", {}).reply({ status: "shipped" }),

      cancel: (s, c: { reason: CancelReason }, fx) =>
        s.status === "cancelled"
          ? fx.reply({ status: s.status, reason: s.reason })
          : !cancelReasons.includes(c?.reason)
            ? fx.error("invalid_reason", `reason must be one of ${cancelReasons.join(", ")}`)
            : s.status !== "placed" && s.status !== "awaiting_payment"
              ? fx.error("invalid_status", `an order that is ${s.status} cannot be cancelled`, { status: 409 })
              : fx.emit("cancelled", { reason: c.reason }).reply({ status: "cancelled", reason: c.reason }),
    },
    queries: {
      get: (s, _: {}, fx) =>
        s.status === "new"
          ? fx.error("not_found", "no such order", { status: 404 })
          : fx.reply({ status: s.status, total: s.total, ...(s.reason === undefined ? {} : { reason: s.reason }) }),
    },
    // Public: placing and reading an order. markPaid, ship, cancel and awaitPayment are the process manager's.
    expose: { place: access.anyone, get: access.anyone },
  },
);
