import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { wallet } from "../../examples/bank/wallet.ts";
import { consumer } from "../define/consumer.ts";
import { saga } from "../define/saga.ts";
import type { Store } from "../store/port.ts";
import { testbed, whenPostgresAsked } from "../store/postgres/postgres-test-support.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { until } from "./test-support.ts";

/**
 * "Fix the cause, then retry": a call refused under one of the runtime's keys (a saga's
 * compensation, a consumer's message) is decided again when an operator retries the work, while
 * a call that succeeded under its key is still answered from its record (done once).
 */

/** Takes 1 from `payer`, then asks for 1,000 (refused); compensating, refunds the payer and pays `fee` 1. */
const refund = saga("refund", {
  start: (input: { fee: string }) => ({ fee: input.fee }),
  steps: [
    {
      name: "take",
      run: (_s, ctx) => ctx.call(wallet, "payer").withdraw({ amount: 1 }),
      compensate: async (s, ctx) => {
        await ctx.call(wallet, "payer").deposit({ amount: 1 });
        await ctx.call(wallet, s.fee).deposit({ amount: 1 });
      },
    },
    { name: "give", run: (_s, ctx) => ctx.call(wallet, "payer").withdraw({ amount: 1_000 }) },
  ],
});

/** Each deposit to `source` pays the same into `mirror` (refused while `mirror` does not exist). */
const mirror = consumer("mirror", {
  source: wallet,
  ignoreUnknown: true,
  events: {
    deposited: async (e: { amount: number }, ctx) => {
      if (ctx.id === "source") await ctx.call(wallet, "mirror").deposit({ amount: e.amount });
    },
  },
});

/** `newStore(name)`: a new, empty store of the backend under test. */
function operatorRetrySuite(newStore: (name: string) => Store, cleanup: () => Promise<void>) {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    await cleanup();
  });

  async function open(name: string) {
    const rt = new Runtime({ store: newStore(name), components: [wallet, refund, mirror], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    return rt;
  }

  /** Was 400 polls 10 ms apart (at least 4 s, plus the reads): 5 s. */
  const waitMs = 5_000;

  it("a-saga-whose-compensation-was-refused-compensates-once-the-cause-is-fixed-and-repeats-no-call-that-succeeded", async () => {
    const rt = await open("saga");
    await rt.call("wallet", "payer", "create", { initialBalance: 10 });
    await rt.call("refund", "r1", "start", { fee: "ghost" });
    const stuck = await until("the saga to need an operator", async () => {
      const result = await rt.workflowResult("refund", "r1");
      return result.status === "failed" && result;
    }, waitMs);
    assert.equal((stuck.state as { status: string }).status, "requires_manual_intervention");
    assert.deepEqual(await rt.call("wallet", "payer", "balance", {}), { balance: 10 }, "the payer was refunded before the refused deposit");

    // The cause: the fee wallet did not exist. Fixed, then retried by an operator.
    await rt.call("wallet", "ghost", "create", { initialBalance: 0 });
    await rt.admin.operateWorkflow("refund", "r1", "retry");
    const done = await until("the saga to end", async () => {
      const result = await rt.workflowResult("refund", "r1");
      return result.status === "ended" && result;
    }, waitMs);
    assert.equal((done.state as { status: string }).status, "compensated");
    assert.deepEqual(await rt.call("wallet", "ghost", "balance", {}), { balance: 1 });
    assert.deepEqual(await rt.call("wallet", "payer", "balance", {}), { balance: 10 }, "the payer's refund, which had succeeded, was not made twice");
  });

  it("a-parked-message-whose-call-was-refused-is-delivered-once-the-cause-is-fixed", async () => {
    const rt = await open("consumer");
    await rt.call("wallet", "source", "create", { initialBalance: 0 });
    await rt.call("wallet", "source", "deposit", { amount: 7 });
    const parked = await until("the message to park", async () => {
      const list = await rt.admin.parked("mirror", 10);
      return list.length === 1 && list;
    }, waitMs);
    assert.equal(parked[0]!.error.code, "not_found");

    await rt.call("wallet", "mirror", "create", { initialBalance: 0 });
    assert.deepEqual(await rt.admin.releaseParked("mirror", parked[0]!.entry.position, "retry"), { delivered: 1, parked: 0 });
    assert.deepEqual(await rt.call("wallet", "mirror", "balance", {}), { balance: 7 });
    // Delivered again (as after a crash before its offset was stored): the deposit is answered from its record.
    await rt.call("wallet", "source", "deposit", { amount: 1 });
    await until("the second deposit to be mirrored", async () => ((await rt.call("wallet", "mirror", "balance", {})) as { balance: number }).balance === 8, waitMs);
  });
}

describe("an operator's retry decides refused calls again (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-operator-retry-"));
  operatorRetrySuite((name) => new SqliteStore({ path: join(dir, `${name}.db`) }), async () => rmSync(dir, { recursive: true, force: true }));
});

whenPostgresAsked((url) => {
  describe("an operator's retry decides refused calls again (PostgreSQL)", () => {
    const bed = testbed(url);
    operatorRetrySuite(() => bed.newStore(), () => bed.dropSchemas());
  });
});
