import { isRefusal, workflow, type WorkflowEffects, type WorkflowView } from "sagaflow";
import { order, type CancelReason, type Line } from "./order.ts";
import { payment } from "./payment.ts";
import { stock } from "./stock.ts";

/** How long an order with reserved stock waits for its payment (ORDERS_PAYMENT_TIMEOUT_MS, default 30 s). */
export const paymentTimeoutMs = readTimeout(process.env["ORDERS_PAYMENT_TIMEOUT_MS"]);

function readTimeout(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 30_000;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`ORDERS_PAYMENT_TIMEOUT_MS must be a whole number of milliseconds > 0, not "${raw}"`);
  return ms;
}

/** Quantity per product, in the order products first appear: what the stock is asked for. */
export interface Need {
  productId: string;
  quantity: number;
}

export interface Fulfilment {
  total: number;
  needs: Need[];
  /** A payment verdict that came in while the workflow was not yet paused for it. */
  verdict?: "accepted" | "declined";
  outcome?: "shipped" | "cancelled";
  reason?: CancelReason;
}

function needsOf(lines: Line[]): Need[] {
  const byProduct = new Map<string, number>();
  for (const line of lines) byProduct.set(line.productId, (byProduct.get(line.productId) ?? 0) + line.quantity);
  return [...byProduct].map(([productId, quantity]) => ({ productId, quantity }));
}

/**
 * The process manager of one order (its id is the order id), started by the `placed-orders`
 * consumer. It reserves stock, asks for the payment and pauses; what happens next is decided
 * from outside the step: the payment's verdict arrives as a command (`paymentAccepted`,
 * `paymentDeclined`, sent by the `payment-verdicts` consumer), or the pause times out (a
 * durable timer in the store) and `paymentTimedOut` runs. Compensation is the `compensate` step,
 * reached by a decision, never by a step failing: releasing is a business outcome here, not an
 * error.
 */
export const fulfilment = workflow("fulfilment", {
  start: (input: { lines: Line[]; total: number }): Fulfilment => ({ total: input.total, needs: needsOf(input.lines) }),
  steps: {
    reserve: async (s, _input, ctx) => {
      for (const need of s.needs) {
        try {
          await ctx.call(stock, need.productId).reserve({ orderId: ctx.workflowId, quantity: need.quantity });
        } catch (error) {
          // A refusal is final: release what earlier lines hold and cancel the order.
          if (isRefusal(error) && error.code === "out_of_stock") return ctx.transitionTo("compensate", { reason: "out_of_stock" });
          throw error; // anything else: the step is tried again (its calls are keyed)
        }
      }
      await ctx.call(order, ctx.workflowId).awaitPayment();
      return ctx.transitionTo("awaitPayment");
    },

    awaitPayment: async (s, _input, ctx) => {
      const asked = await ctx.call(payment, ctx.workflowId).expect({ amount: s.total });
      const verdict = s.verdict ?? (asked.status === "accepted" || asked.status === "declined" ? asked.status : undefined);
      if (verdict === "accepted") return ctx.transitionTo("ship");
      if (verdict === "declined") return ctx.transitionTo("compensate", { reason: "payment_declined" });
      return ctx.pause({ timeoutMs: paymentTimeoutMs, then: "paymentTimedOut" });
    },

    /** The pause ran out. The payment decides the race: a verdict given just before stands. */
    paymentTimedOut: async (_s, _input, ctx) => {
      const closed = await ctx.call(payment, ctx.workflowId).close();
      if (closed.status === "accepted") return ctx.transitionTo("ship");
      return ctx.transitionTo("compensate", { reason: closed.status === "declined" ? "payment_declined" : "payment_timeout" });
    },

    ship: async (s, _input, ctx) => {
      await ctx.call(order, ctx.workflowId).markPaid();
      for (const need of s.needs) await ctx.call(stock, need.productId).take({ orderId: ctx.workflowId });
      await ctx.call(order, ctx.workflowId).ship();
      return ctx.update({ ...s, outcome: "shipped" }).end();
    },

    /** Undoes the reservations (each product releases what this order holds, if anything) and cancels. */
    compensate: async (s, input: { reason: CancelReason }, ctx) => {
      for (const need of s.needs) await ctx.call(stock, need.productId).release({ orderId: ctx.workflowId });
      // Closing declines a payment that came before the order asked for it (so it is given back).
      await ctx.call(payment, ctx.workflowId).close();
      await ctx.call(order, ctx.workflowId).cancel({ reason: input.reason });
      return ctx.update({ ...s, outcome: "cancelled", reason: input.reason }).end();
    },
  },
  commands: {
    /** The payment was accepted: ship, if the workflow waits for it (else it is noted, or too late). */
    paymentAccepted: (w, _: {}, fx) => resume(w, "accepted", fx),
    /** The payment was declined: compensate, if the workflow waits for it. */
    paymentDeclined: (w, _: {}, fx) => resume(w, "declined", fx),
  },
});

type Step = "reserve" | "awaitPayment" | "paymentTimedOut" | "ship" | "compensate";

/**
 * Paused at `awaitPayment`: move on. Still on its way there (a step re-run after a crash): note
 * the verdict in the state, which `awaitPayment` reads. Anywhere else the verdict was already
 * acted on (the step saw it in `expect`'s reply, or the timeout's `close` did): nothing to do.
 */
function resume(w: WorkflowView<Fulfilment>, verdict: "accepted" | "declined", fx: WorkflowEffects<Fulfilment, Step>) {
  if (w.status === "paused" && w.step === "awaitPayment") {
    return verdict === "accepted"
      ? fx.transitionTo("ship").reply({ resumed: true })
      : fx.transitionTo("compensate", { reason: "payment_declined" }).reply({ resumed: true });
  }
  if (w.status === "running" && (w.step === "reserve" || w.step === "awaitPayment") && w.state.verdict === undefined) {
    return fx.update({ ...w.state, verdict }).reply({ resumed: false });
  }
  return fx.reply({ resumed: false });
}
