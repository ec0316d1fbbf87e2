import { topicConsumer, topicProducer } from "sagaflow";
import { z } from "zod";
import { transfer } from "./transfer.ts";
import { transferWorkflow } from "./transfer-workflow.ts";
import { wallet } from "./wallet.ts";

/** A deposit as it arrives on `bank.deposits`: `ref` is the sender's id for it (the same ref deposits once). */
export const depositMessage = z.object({
  wallet: z.string().min(1).max(256),
  amount: z.number().int().positive(),
  ref: z.string().min(1).max(256),
});

/**
 * Deposits from NATS: stream `BANK_DEPOSITS`, subject `bank.deposits`. Ordered per wallet, keyed
 * by `ref` (a redelivery, or the same ref sent twice, deposits once). A deposit to a wallet that
 * does not exist is refused (`not_found`) and parked; a bad body is parked; neither holds up
 * other wallets.
 */
export const deposits = topicConsumer("deposits", {
  stream: { name: "BANK_DEPOSITS", subjects: ["bank.deposits"] },
  schema: depositMessage,
  key: (d) => d.wallet,
  idempotencyKey: (d) => `ref:${d.ref}`,
  handle: async (d, ctx) => {
    await ctx.call(wallet, d.wallet).deposit({ amount: d.amount });
  },
});

const endings = new Set(["completed", "rejected", "compensated"]);

type TransferRecord = { status: string; state: { status: string; from: string; to: string; amount: number } };

/**
 * Every transfer that ends (the saga `transfer` and the plain workflow `transfer-workflow`, whose
 * ids are the transfer ids), to stream `BANK_TRANSFERS`, subject `bank.transfers.{transferId}`,
 * body `{"id","status","from","to","amount"}`.
 */
function transferEndings(name: string, source: typeof transfer | typeof transferWorkflow) {
  return topicProducer(name, {
    source,
    stream: { name: "BANK_TRANSFERS", subjects: ["bank.transfers.>"] },
    subject: (change) => `bank.transfers.${change.id}`,
    message: (change) => {
      const record = change.payload as TransferRecord;
      if (record.status !== "ended" || !endings.has(record.state.status)) return undefined;
      const { from, to, amount, status } = record.state;
      return { id: change.id, status, from, to, amount };
    },
    eventType: (change) => `bank.transfer.${(change.payload as TransferRecord).state.status}`,
  });
}

export const transferEvents = transferEndings("transfer-events", transfer);
export const transferWorkflowEvents = transferEndings("transfer-workflow-events", transferWorkflow);
