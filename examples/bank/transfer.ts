import { access, saga } from "sagaflow";
import { z } from "zod";
import { wallet } from "./wallet.ts";

export interface TransferInput {
  from: string;
  to: string;
  amount: number;
}

/** What starts a transfer: two wallet ids and a whole amount > 0; anything else is a 400 `invalid_input`. */
export const transferInput = z.object({
  from: z.string().min(1).max(256),
  to: z.string().min(1).max(256),
  amount: z.number().int().positive(),
});

/**
 * A money transfer as a saga: withdraw from `from`, deposit into `to`; if the deposit is refused
 * (say the wallet was never created), the withdrawal is compensated by depositing it back.
 * `state.status` ends `completed`, `rejected` (nothing moved) or `compensated` (refunded).
 */
export const transfer = saga("transfer", {
  expose: access.anyone,
  // Each step only calls a wallet: the whole transfer commits with its start, in one commit.
  eagerStart: true,
  start: (input: TransferInput) => ({ from: input.from, to: input.to, amount: input.amount }),
  inputs: { start: transferInput },
  steps: [
    {
      name: "withdraw",
      run: (s, ctx) => ctx.call(wallet, s.from).withdraw({ amount: s.amount }),
      compensate: (s, ctx) => ctx.call(wallet, s.from).deposit({ amount: s.amount }),
    },
    {
      name: "deposit",
      run: (s, ctx) => ctx.call(wallet, s.to).deposit({ amount: s.amount }),
    },
  ],
});
