import { access, entity } from "sagaflow";

/**
 * Where a payment stands:
 * - `none`: nothing yet; `pending`: the provider paid before the order asked for its payment;
 * - `awaiting`: the order asked for `expected` and waits; `accepted` / `declined`: the verdict;
 * - `closed`: the order stopped waiting (timed out or cancelled) before any payment came.
 */
export type PaymentStatus = "none" | "pending" | "awaiting" | "accepted" | "declined" | "closed";
export type DeclineReason = "amount_mismatch" | "order_closed";

export interface Payment {
  status: PaymentStatus;
  expected?: number;
  amount?: number;
  reason?: DeclineReason;
}

/** The verdict on `amount` when `expected` is known. */
const verdict = (expected: number, amount: number) => (amount === expected ? "accepted" : "declined");

/**
 * One payment per order (the id is the order id), fed by the payment provider's callback
 * (`pay`). It is the single arbiter of the race between a payment and the order's timeout: its
 * commands run one at a time, so whichever of `pay` and `close` comes first wins, and the
 * other learns the outcome from the reply.
 */
export const payment = entity(
  "payment",
  {
    initial: (): Payment => ({ status: "none" }),
    events: {
      requested: (s, e: { amount: number }): Payment => ({ ...s, expected: e.amount, status: s.status === "none" ? "awaiting" : s.status }),
      received: (s, e: { amount: number }): Payment => ({ ...s, amount: e.amount, status: "pending" }),
      accepted: (s, _e: {}): Payment => ({ ...s, status: "accepted" }),
      declined: (s, e: { reason: DeclineReason }): Payment => ({ ...s, status: "declined", reason: e.reason }),
      closed: (s, _e: {}): Payment => ({ ...s, status: "closed" }),
    },
  },
  {
    commands: {
      /**
       * The provider's callback: `amount` was paid for this order. Decided at once when the
       * order already asked for its payment, else kept until it does. Once decided, a repeat
       * changes nothing and gets the verdict again.
       */
      pay: (s, c: { amount: number }, fx) => {
        const amount = (typeof c === "object" && c !== null ? c : ({} as { amount?: unknown })).amount;
        if (!Number.isSafeInteger(amount) || (amount as number) < 0) return fx.error("invalid_amount", "amount must be a whole number of cents ≥ 0");
        const paid = amount as number;
        switch (s.status) {
          case "accepted":
          case "declined":
          case "pending":
            return fx.reply({ status: s.status });
          case "closed":
            return fx.emit("received", { amount: paid }).emit("declined", { reason: "order_closed" }).reply({ status: "declined" as const });
          case "awaiting": {
            const received = fx.emit("received", { amount: paid });
            return verdict(s.expected!, paid) === "accepted"
              ? received.emit("accepted", {}).reply({ status: "accepted" as const })
              : received.emit("declined", { reason: "amount_mismatch" }).reply({ status: "declined" as const });
          }
          case "none":
            return fx.emit("received", { amount: paid }).reply({ status: "pending" as const });
        }
      },

      /** The order asks for `amount` (its total); the reply says whether it was paid already. */
      expect: (s, c: { amount: number }, fx) => {
        if (!Number.isSafeInteger(c?.amount) || c.amount < 0) return fx.error("invalid_amount", "amount must be a whole number of cents ≥ 0");
        if (s.status !== "none" && s.status !== "pending") return fx.reply({ status: s.status });
        const requested = fx.emit("requested", { amount: c.amount });
        if (s.status === "none") return requested.reply({ status: "awaiting" as const });
        return verdict(c.amount, s.amount!) === "accepted"
          ? requested.emit("accepted", {}).reply({ status: "accepted" as const })
          : requested.emit("declined", { reason: "amount_mismatch" }).reply({ status: "declined" as const });
      },

      /**
       * The order stops waiting. A verdict already given stands (the reply says which); a
       * payment kept but never asked for is declined, so the provider knows to give it back.
       */
      close: (s, _: {}, fx) =>
        s.status === "accepted" || s.status === "declined" || s.status === "closed"
          ? fx.reply({ status: s.status })
          : s.status === "pending"
            ? fx.emit("declined", { reason: "order_closed" }).reply({ status: "declined" as const })
            : fx.emit("closed", {}).reply({ status: "closed" as const }),
    },
    queries: {
      get: (s, _: {}, fx) =>
        s.status === "none"
          ? fx.error("not_found", "no payment for this order", { status: 404 })
          : fx.reply({ status: s.status, ...(s.expected === undefined ? {} : { expected: s.expected }), ...(s.amount === undefined ? {} : { amount: s.amount }), ...(s.reason === undefined ? {} : { reason: s.reason }) }),
    },
    // Public: the payment provider's callback. expect and close are the workflow's.
    expose: { pay: access.anyone },
  },
);
