import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { journalOf } from "./journal-entries.ts";
import { journalComponent, keptCall } from "./journal.ts";

/** How a workflow's journal reads back for an operator, whatever wrote its records. */
describe("a workflow's journal, read", () => {
  it("reads-calls-runs-and-marks-of-an-earlier-version-in-execution-order", async () => {
    const store = new MemoryStore();
    await store.migrate();
    const record = (key: string, requestHash: string, value: unknown, at: number) => ({
      component: journalComponent,
      id: "order/o:1",
      dedup: [{ key, requestHash, reply: { ok: true as const, value }, at }],
    });
    await store.commit([
      record("wf:order:o:1:10:0:kept", "kept", { step: "ship", call: keptCall("stock", "s1", "release", { n: 1 }) }, 30),
      record("wf:order:o:1:2:run:charge:card:0", "run", { charged: 5 }, 20),
      record("wf:order:o:1:2:kept", "kept", null, 10),
      record("wf:other:o:1:2:0:kept", "kept", null, 5),
    ]);
    const history = [{ at: 1, status: "running" as const, step: "pay", execId: 2, attempt: 0, detail: "" }];
    const { entries, full } = await journalOf(store, "order", "o:1", history);
    assert.equal(full, false);
    assert.deepEqual(entries, [
      { execution: 2, at: 10, key: "wf:order:o:1:2", step: "pay", effect: "unnamed" },
      { execution: 2, at: 20, key: "wf:order:o:1:2:run:charge:card:0", step: "pay", run: { name: "charge:card", result: { charged: 5 } } },
      { execution: 10, at: 30, key: "wf:order:o:1:10:0", step: "ship", call: { component: "stock", id: "s1", command: "release", input: { n: 1 } } },
    ]);
  });

  it("keeps-a-call's-input-up-to-2-kb-and-its-size-beyond", () => {
    assert.deepEqual(keptCall("wallet", "w", "deposit", { amount: 1 }), { component: "wallet", id: "w", command: "deposit", input: { amount: 1 } });
    const big = { note: "x".repeat(3_000) };
    assert.deepEqual(keptCall("wallet", "w", "deposit", big), { component: "wallet", id: "w", command: "deposit", inputBytes: JSON.stringify(big).length });
  });
});
