import { z } from "zod";
export interface TransferInput {
    from: string;
    to: string;
    amount: number;
}
/** What starts a transfer: two wallet ids and a whole amount > 0; anything else is a 400 `invalid_input`. */
export declare const transferInput: z.ZodObject<{
    from: z.ZodString;
    to: z.ZodString;
    amount: z.ZodNumber;
}, z.core.$strip>;
/**
 * A money transfer as a saga: withdraw from `from`, deposit into `to`; if the deposit is refused
 * (say the wallet was never created), the withdrawal is compensated by depositing it back.
 * `state.status` ends `completed`, `rejected` (nothing moved) or `compensated` (refunded).
 */
export declare const transfer: import("sagaflow").WorkflowDefinition<import("sagaflow").SagaState<{
    from: string;
    to: string;
    amount: number;
}>, {
    from: string;
    to: string;
    amount: number;
}, any, any, any>;
