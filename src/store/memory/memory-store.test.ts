import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { storeContract } from "../contract.ts";
import { MemoryStore } from "./memory-store.ts";

storeContract("memory", async () => new MemoryStore());

describe("memory store", () => {
  it("positions-start-at-1-and-count-up-across-instances", async () => {
    const store = new MemoryStore();
    await store.migrate();
    const outcomes = await store.commit([
      { component: "c", id: "a", events: { expectedSeq: 0, append: [{ type: "x", payload: 1 }, { type: "x", payload: 2 }] }, dedup: [] },
      { component: "c", id: "b", events: { expectedSeq: 1, append: [{ type: "x", payload: 1 }] }, dedup: [] },
      { component: "c", id: "b", events: { expectedSeq: 0, append: [{ type: "x", payload: 1 }] }, dedup: [] },
    ]);
    assert.deepEqual(outcomes, [
      { ok: true, positions: [1, 2] },
      { ok: false, reason: "conflict" },
      { ok: true, positions: [3] },
    ]);
  });

  it("refuses-work-before-migrate", async () => {
    const store = new MemoryStore();
    await assert.rejects(store.loadHistory("c", "a"), /migrate/);
  });
});
