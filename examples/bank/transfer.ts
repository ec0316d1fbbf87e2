import { saga } from "sagaflow";
import { wallet } from "./wallet.ts";

export interface TransferInput {
  from: string;
  to: string;
  amount: number;
}

/**
 * A money transfer as a saga: withdraw from `from`, deposit into `to`; if the deposit is refused
 * (say the wallet was never created), the withdrawal is compensated by depositing it back.
 * `state.status` ends `completed`, `rejected` (nothing moved) or `compensated` (refunded).
 */
export const transfer = saga("transfer", {
  start: (input: TransferInput) => ({ from: input.from, to: input.to, amount: input.amount }),
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
