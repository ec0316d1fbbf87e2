import { access, isRefusal, workflow } from "sagaflow";
import { transferInput, type TransferInput } from "./transfer.ts";
import { wallet } from "./wallet.ts";

interface TransferState extends TransferInput {
  status: "started" | "completed" | "rejected" | "compensated";
  reason?: string;
}

/**
 * The same transfer as `transfer.ts`, written as a plain workflow: each step calls a wallet and
 * decides where to go. Served as `transfer-workflow`.
 */
export const transferWorkflow = workflow("transfer-workflow", {
  expose: access.anyone,
  start: (input: TransferInput): TransferState => ({ ...input, status: "started" }),
  inputs: { start: transferInput },
  steps: {
    withdraw: async (s, _input, ctx) => {
      try {
        await ctx.call(wallet, s.from).withdraw({ amount: s.amount });
      } catch (error) {
        // A refusal (insufficient_funds, not_found, …) is final: nothing moved.
        if (isRefusal(error)) return ctx.update({ ...s, status: "rejected", reason: error.code }).end();
        throw error; // anything else is retried
      }
      return ctx.transitionTo("deposit");
    },
    deposit: async (s, _input, ctx) => {
      try {
        await ctx.call(wallet, s.to).deposit({ amount: s.amount });
      } catch (error) {
        if (isRefusal(error)) return ctx.update({ ...s, reason: error.code }).transitionTo("refund");
        throw error;
      }
      return ctx.update({ ...s, status: "completed" }).end();
    },
    refund: async (s, _input, ctx) => {
      await ctx.call(wallet, s.from).deposit({ amount: s.amount });
      return ctx.update({ ...s, status: "compensated" }).end();
    },
  },
});
