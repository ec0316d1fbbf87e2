import { wallet } from "../../../examples/bank/wallet.ts";
import type { Runtime } from "../runtime.ts";

/** Opens the bank's wallets "payer" (balance 10) and "payee" (0) on `rt`: a test's transfer between them. */
export async function openPayerAndPayee(rt: Runtime): Promise<void> {
  await rt.call(wallet.name, "payer", "create", { initialBalance: 10 });
  await rt.call(wallet.name, "payee", "create", { initialBalance: 0 });
}

/** The balances of "payer" and "payee", in that order. */
export async function payerAndPayeeBalances(rt: Runtime): Promise<[number, number]> {
  const balance = async (id: string) => ((await rt.call(wallet.name, id, "balance", {})) as { balance: number }).balance;
  return [await balance("payer"), await balance("payee")];
}
