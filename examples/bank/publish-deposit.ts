/**
 * Publishes one deposit to the bank's NATS stream, without the `nats` CLI:
 *
 *   NATS_URL=nats://127.0.0.1:4222 node --import tsx examples/bank/publish-deposit.ts alice 25 ref-1
 *
 * The stream `BANK_DEPOSITS` (subject `bank.deposits`) is created if missing. Publishing the
 * same ref again deposits once.
 */
import { connectNats } from "../../src/broker/nats-broker.ts";

const [walletId, amountText, ref = `ref-${Date.now()}`] = process.argv.slice(2);
const amount = Number(amountText);
if (!walletId || !Number.isSafeInteger(amount)) {
  console.error("usage: publish-deposit.ts <wallet> <amount> [ref]");
  process.exit(2);
}
const broker = await connectNats(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
await broker.ensureStream({ name: "BANK_DEPOSITS", subjects: ["bank.deposits"] });
const body = JSON.stringify({ wallet: walletId, amount, ref });
// The message id lets the stream drop this very publish if it is retried; `ref` de-duplicates deposits.
const ack = await broker.publish("bank.deposits", new TextEncoder().encode(body), { msgId: `deposit:${ref}:${Date.now()}` });
console.log(JSON.stringify({ stream: "BANK_DEPOSITS", seq: ack.seq, body: JSON.parse(body) }));
await broker.close();
