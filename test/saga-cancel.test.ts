import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { transfer } from "../examples/bank/transfer.ts";
import { transferWorkflow } from "../examples/bank/transfer-workflow.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { createAdmin } from "../src/http/admin.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { EntityHistory } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { requestJson } from "./support/workflow-child.ts";

/**
 * Cancel versus terminate (issue 19, item 8). Transfers (the bank's saga) wait at step `deposit`
 * because their target wallets cannot be read (their store rows are out of reach, as behind a
 * lock): each deposit attempt times out after the saga's 5 s step timeout. Cancelled ones get
 * their withdrawal refunded; terminated ones stop at once and leave it withdrawn, as documented.
 */
class StuckWallets extends SqliteStore {
  readonly stuck = new Set<string>();
  private readonly waiting: Array<() => void> = [];

  override async loadHistory(component: string, id: string): Promise<EntityHistory> {
    if (component === "wallet" && this.stuck.has(id)) {
      await new Promise<void>((_resolve, reject) =>
        this.waiting.push(() => reject(Object.assign(new Error("connection lost"), { code: "57P01" }))),
      );
    }
    return super.loadHistory(component, id);
  }

  /** The stuck reads fail (nothing queued behind them is applied); later reads work. */
  unstick(): void {
    this.stuck.clear();
    for (const fail of this.waiting.splice(0)) fail();
  }
}

const count = 9;
const amountOf = (i: number) => i + 1;

describe("cancelling a saga", () => {
  it("cancelled-transfers-waiting-at-deposit-are-refunded-terminated-ones-keep-the-withdrawal", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-saga-cancel-"));
    const path = join(dir, "bank.db");
    try {
      // The wallets, created by an earlier run of the service (so none is cached by the next one).
      const setup = new Runtime({ store: new SqliteStore({ path }), components: [wallet, transfer], log: () => {} });
      await setup.start();
      for (const side of ["c", "t"]) {
        for (let i = 0; i < count; i++) {
          await setup.call("wallet", `${side}-from-${i}`, "create", { initialBalance: 100 });
          await setup.call("wallet", `${side}-to-${i}`, "create", { initialBalance: 0 });
        }
      }
      await setup.stop();

      const store = new StuckWallets({ path });
      for (const side of ["c", "t"]) for (let i = 0; i < count; i++) store.stuck.add(`${side}-to-${i}`);
      const runtime = new Runtime({ store, components: [wallet, transfer, transferWorkflow], log: () => {} });
      await runtime.start();
      const admin = createAdmin(runtime.admin, () => {});
      await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", resolve));
      const adminUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
      try {
        for (const side of ["c", "t"]) {
          for (let i = 0; i < count; i++) {
            await runtime.call("transfer", `${side}${i}`, "start", { from: `${side}-from-${i}`, to: `${side}-to-${i}`, amount: amountOf(i) });
          }
        }
        // Every transfer has withdrawn and waits at its deposit.
        const deadline = Date.now() + 10_000;
        for (const side of ["c", "t"]) {
          for (let i = 0; i < count; i++) {
            while ((await store.loadWorkflow("transfer", `${side}${i}`))?.step !== "deposit") {
              assert.ok(Date.now() < deadline, `transfer ${side}${i} never reached deposit`);
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        }
        const acted = await Promise.all([
          ...Array.from({ length: count }, (_, i) => requestJson(`${adminUrl}/workflows/transfer/c${i}/cancel`, { method: "POST", timeoutMs: 20_000 })),
          ...Array.from({ length: count }, (_, i) => requestJson(`${adminUrl}/workflows/transfer/t${i}/terminate`, { method: "POST", timeoutMs: 20_000 })),
        ]);
        for (const [n, res] of acted.entries()) {
          const cancelled = n < count;
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.deepEqual(res.body, cancelled ? { status: "running", step: "compensate" } : { status: "terminated", step: "deposit" });
        }

        for (let i = 0; i < count; i++) {
          const view = await runtime.workflowResult("transfer", `c${i}`, 15_000);
          assert.equal(view.status, "ended", JSON.stringify(view));
          const state = view.state as { status: string; compensated: string[]; failure: { code: string; step: string } };
          assert.equal(state.status, "compensated");
          assert.deepEqual(state.compensated, ["withdraw"]);
          assert.deepEqual([state.failure.code, state.failure.step], ["cancelled", "deposit"], "cancelled where it stood");
          assert.equal((await runtime.workflowResult("transfer", `t${i}`)).status, "terminated");
        }
        // A second cancel, and a cancel of an ended saga, are refused.
        const again = await requestJson(`${adminUrl}/workflows/transfer/c0/cancel`, { method: "POST" });
        assert.equal(again.status, 409);
        assert.equal(again.body.error.code, "invalid_status");
        // A plain workflow that declares no cancel step: 409, and nothing changes.
        await runtime.call("transfer-workflow", "w1", "start", { from: "nobody", to: "c-to-0", amount: 1 });
        const plain = await requestJson(`${adminUrl}/workflows/transfer-workflow/w1/cancel`, { method: "POST", timeoutMs: 20_000 });
        assert.equal(plain.status, 409, JSON.stringify(plain.body));
        assert.equal(plain.body.error.code, "no_cancel_step");

        store.unstick();
        const balance = async (id: string) => ((await runtime.call("wallet", id, "balance", {})) as { balance: number }).balance;
        let withdrawnForGood = 0;
        for (let i = 0; i < count; i++) {
          assert.equal(await balance(`c-from-${i}`), 100, `c-from-${i} refunded`);
          assert.equal(await balance(`c-to-${i}`), 0);
          // Terminate leaves the withdrawal in place: stop now, undo nothing.
          assert.equal(await balance(`t-from-${i}`), 100 - amountOf(i));
          assert.equal(await balance(`t-to-${i}`), 0);
          withdrawnForGood += amountOf(i);
        }
        console.log(`saga cancel: ${count} of ${count} cancelled transfers refunded; ${count} terminated ones left ${withdrawnForGood} units withdrawn`);
      } finally {
        store.unstick(); // or stop would wait for the stuck reads forever
        await new Promise((resolve) => admin.close(resolve));
        await runtime.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
