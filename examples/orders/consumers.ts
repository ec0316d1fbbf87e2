import { consumer } from "sagaflow";
import { fulfilment } from "./fulfilment.ts";
import { order } from "./order.ts";
import { payment } from "./payment.ts";

/**
 * Starts the fulfilment of each placed order. `start` with the same input is answered like the
 * first one, so a redelivered `placed` event starts nothing twice.
 */
export const placedOrders = consumer("placed-orders", {
  source: order,
  events: {
    placed: async (e, ctx) => {
      await ctx.call(fulfilment, ctx.id).start({ lines: e.lines, total: e.total });
    },
  },
  ignoreUnknown: true,
});

/**
 * Turns a payment's verdict into a command to the order's paused fulfilment: the event resumes
 * the workflow. A verdict exists only once the workflow has asked for the payment (`expect`),
 * so the workflow is always there to receive it.
 */
export const paymentVerdicts = consumer("payment-verdicts", {
  source: payment,
  events: {
    accepted: async (_e, ctx) => {
      await ctx.call(fulfilment, ctx.id).paymentAccepted();
    },
    declined: async (_e, ctx) => {
      await ctx.call(fulfilment, ctx.id).paymentDeclined();
    },
  },
  ignoreUnknown: true,
});
