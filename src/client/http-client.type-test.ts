/**
 * Type tests of the HTTP client, checked by `tsc --noEmit` (never run: the calls would need a
 * server). Each `@ts-expect-error` fails the type check if the line it guards compiles, so a
 * client that stopped catching these mistakes breaks the build.
 */
import type { SagaStatus } from "sagaflow";
import { httpClient, type WorkflowStatus } from "sagaflow/client";
import { customer } from "../../examples/bank/customer.ts";
import { transfer } from "../../examples/bank/transfer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { carts } from "../../examples/shop/views.ts";

export async function typeChecks(): Promise<void> {
  const api = httpClient("http://127.0.0.1:3000");
  const w = api.call(wallet, "alice");

  // Commands and queries: inputs and replies come from the definition.
  const deposited: { balance: number } = await w.deposit({ amount: 5 }, { idempotencyKey: "k1" });
  const read: number = (await w.balance()).balance;
  void deposited, read;

  // @ts-expect-error no such command
  await w.withdrw({ amount: 1 });
  // @ts-expect-error amount must be a number
  await w.withdraw({ amount: "1" });
  // @ts-expect-error the input is required for commands that declare one
  await w.withdraw();
  // @ts-expect-error the reply's balance is a number
  const wrongReply: string = (await w.deposit({ amount: 1 })).balance;
  void wrongReply;
  // @ts-expect-error call options are checked too
  await w.deposit({ amount: 1 }, { idempotencyKey: 5 });
  // @ts-expect-error key-value inputs are typed from the handler
  await api.call(customer, "c1").addWallet({ wallet: "w1" });
  // @ts-expect-error a view is not a component with instances
  api.call(carts, "x");

  // Workflows: start's input is the workflow's start input; result's state its state.
  const t = api.workflow(transfer, "t1");
  const started: { status: "started" } = await t.start({ from: "a", to: "b", amount: 5 });
  const view = await t.result({ wait: 30 });
  const status: WorkflowStatus = view.status;
  const sagaStatus: SagaStatus = view.state.status;
  const amount: number = view.state.amount;
  void started, status, sagaStatus, amount;
  // @ts-expect-error a transfer's state has no field "total"
  void view.state.total;
  // @ts-expect-error a transfer's amount is a number
  await t.start({ from: "a", to: "b", amount: "5" });
  // @ts-expect-error from and to are required
  await t.start({ amount: 5 });
  // @ts-expect-error wait is a number of seconds
  await t.result({ wait: "30" });
  // @ts-expect-error an entity is not a workflow
  api.workflow(wallet, "w1");

  // Views: query names come from the definition.
  const carts1 = await api.view(carts).query("byUser", { userId: "u1" }, { waitForPosition: api.lastPosition ?? 0 });
  const token: string | undefined = carts1.nextPageToken;
  const typed = await api.view(carts).query<{ carts: Array<{ cartId: string }> }>("open");
  const firstId: string | undefined = typed.carts[0]?.cartId;
  void token, firstId;
  // @ts-expect-error no query "byUsr" in view carts
  await api.view(carts).query("byUsr", { userId: "u1" });
  // @ts-expect-error waitForPosition is a number
  await api.view(carts).query("open", {}, { waitForPosition: "5" });

  // By name, for a program that cannot import the definitions: the type still checks calls.
  const byName = api.call<typeof wallet>("wallet", "alice");
  const again: { balance: number } = await byName.deposit({ amount: 1 });
  void again;
  // @ts-expect-error no such command
  await byName.withdrw({ amount: 1 });
  // @ts-expect-error amount must be a number
  await api.workflow<typeof transfer>("transfer", "t2").start({ from: "a", to: "b", amount: "5" });
  // @ts-expect-error no query "byUsr" in view carts
  await api.view<typeof carts>("carts").query("byUsr");
  // @ts-expect-error by name, the definition's type must be given to call anything
  await api.call("wallet", "alice").deposit({ amount: 1 });
}
