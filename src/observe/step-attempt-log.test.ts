import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { wallet } from "../../examples/bank/wallet.ts";
import { saga, type SagaStep } from "../define/saga.ts";
import { Runtime } from "../runtime/runtime.ts";
import { until } from "../runtime/test-support.ts";
import { openPayerAndPayee, payerAndPayeeBalances } from "../runtime/workflow/wallets-test-support.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { structuredLog, type LogFields, type LogLevel, type StructuredLogFunction } from "./log-event.ts";

/**
 * A step that fails over to its saga's compensation is logged as `step_attempt_failed`: a warning
 * when something went wrong (a throw, a timeout), an info line with `refused: true` when the step
 * was refused (an error retrying cannot change): that is the saga's own path, not a fault.
 */

type Transfer = { payer: string; payee: string };
const withdraw: SagaStep<Transfer> = {
  name: "withdraw",
  run: (s, ctx) => ctx.call(wallet, s.payer).withdraw({ amount: 1 }),
  compensate: (s, ctx) => ctx.call(wallet, s.payer).deposit({ amount: 1 }),
};
/**
 * The deposit goes to the payee named: "missing" is a wallet never created, which refuses it;
 * "broken" makes the step throw, as a bug or a failing library would: a fault.
 */
const transfer = saga("transfer", {
  start: (input: Transfer) => input,
  retry: { maxAttempts: 1 },
  steps: [
    withdraw,
    {
      name: "deposit",
      run: async (s, ctx) => {
        if (s.payee === "broken") throw new Error("the deposit's library broke");
        await ctx.call(wallet, s.payee).deposit({ amount: 1 });
      },
    },
  ],
});

interface Logged {
  level: LogLevel;
  fields: LogFields;
  message: string;
}

describe("a step attempt failing over to the compensation", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-step-attempt-log-"));
  const logged: Logged[] = [];
  const log: StructuredLogFunction = () => {};
  log[structuredLog] = (level, fields, message) => logged.push({ level, fields, message });
  const rt = new Runtime({ store: new SqliteStore({ path: join(dir, "log.db") }), components: [wallet, transfer], log });
  after(async () => {
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const attemptOf = (id: string) =>
    until(`${id}'s failed attempt to be logged`, () => logged.find((l) => l.fields.event === "step_attempt_failed" && l.fields["id"] === id), 10_000);
  const compensated = (id: string) => until(`${id} to end compensated`, async () => (await rt.admin.showWorkflow("transfer", id)).workflow.status === "ended", 10_000);
  const fieldsOf = (line: Logged) => ({ outcome: line.fields["outcome"], next_step: line.fields["next_step"], refused: line.fields["refused"], error_code: line.fields["error_code"] });

  it("is an info line saying refused when the step was refused", async () => {
    await rt.start();
    await openPayerAndPayee(rt);
    await rt.call("transfer", "t1", "start", { payer: "payer", payee: "missing" });
    await compensated("t1");
    const line = await attemptOf("t1");
    assert.equal(line.level, "info");
    assert.deepEqual(fieldsOf(line), { outcome: "failover", next_step: "compensate", refused: true, error_code: "not_found" });
    assert.match(line.message, /step deposit attempt 1 was refused, failover to compensate/);
    assert.deepEqual(await payerAndPayeeBalances(rt), [10, 0], "the withdrawal was given back");
  });

  it("is a warning, without refused, when the step failed, also right after a refusal of the same step", async () => {
    // Within 10 s of t1's line: lines of one step are held back then, but a refusal holds back no warning.
    await rt.call("transfer", "t2", "start", { payer: "payer", payee: "broken" });
    await compensated("t2");
    const line = await attemptOf("t2");
    assert.equal(line.level, "warn");
    assert.deepEqual(fieldsOf(line), { outcome: "failover", next_step: "compensate", refused: undefined, error_code: "step_error" });
    assert.match(line.message, /step deposit attempt 1 failed, failover to compensate/);
    assert.deepEqual(await payerAndPayeeBalances(rt), [10, 0]);
  });
});
