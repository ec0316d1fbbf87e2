/**
 * The `together` part of the store contract (InstanceWrite.together): a write and the writes of
 * other instances that commit with it (a workflow step's calls to entities, with the step's
 * transition) are all kept, or none of them. `storeContract` (./contract.ts) registers it for every
 * adapter; each must say it honours `together` (`commitsTogether`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { commitOk, conflictOutcome, dedup, ev, eventsWrite, kvWrite, transitionOf, type WithStore } from "./contract-support.ts";
import type { InstanceWrite, WorkflowRecord } from "./port.ts";

/** Registers the tests; call inside the adapter's `describe`. */
export function togetherContract(withStore: WithStore): void {
  describe("together writes", () => {
    it("a-write-and-its-together-writes-are-all-kept-each-with-its-feed-positions", async () => {
      await withStore(async (store) => {
        assert.equal(store.commitsTogether, true);
        await commitOk(store, [kvWrite("account", "b", 0, { balance: 5 })]);
        const step = stepWrite("transfer", "t1", 0, [
          { ...eventsWrite("wallet", "a", 0, ev("withdrawn", 10), ev("noted", 1)), dedup: [dedup("t1:1:0", 1)] },
          kvWrite("account", "b", 1, { balance: 15 }),
        ]);
        const [outcome] = await store.commit([step]);
        assert.ok(outcome?.ok);
        assert.equal(outcome.positions.length, 1, "the workflow's own feed entry");
        assert.deepEqual(outcome.together?.map((p) => p.length), [2, 1], "each together write's feed entries, in order");
        // Together writes come first in the feed, then the write they go with.
        const all = [...outcome.together.flat(), ...outcome.positions];
        assert.deepEqual(all, [...all].sort((x, y) => x - y));
        assert.deepEqual((await store.loadHistory("wallet", "a")).events.map((e) => e.type), ["withdrawn", "noted"]);
        assert.deepEqual((await store.loadKv("account", "b"))?.state, { balance: 15 });
        assert.equal((await store.findDedup("wallet", "a", "t1:1:0"))?.key, "t1:1:0");
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 1);
      });
    });

    // A workflow journal's mark that a call was kept commits with the call (DedupRecord.ifAbsent):
    // one left from before under the same key must not refuse the call, nor be overwritten.
    it("a-record-kept-only-if-absent-leaves-a-taken-key-as-it-is-and-its-group-is-kept", async () => {
      await withStore(async (store) => {
        const mark = (key: string, at: number): InstanceWrite => ({ component: "$journal", id: "transfer/t1", dedup: [{ ...dedup(key, at), ifAbsent: true }] });
        const call = (seq: number, key: string, marks: InstanceWrite[]): InstanceWrite => ({
          ...eventsWrite("wallet", "a", seq, ev("withdrawn", 10)),
          dedup: [dedup(key, 2)],
          together: marks,
        });
        await commitOk(store, [mark("t1:1:0:kept", 1)]);
        const [outcome] = await store.commit([call(0, "t1:1:0", [mark("t1:1:0:kept", 2)])]);
        assert.ok(outcome?.ok, "the taken key is no conflict");
        assert.equal((await store.findDedup("$journal", "transfer/t1", "t1:1:0:kept"))?.at, 1, "the record from before, as it was");
        assert.equal((await store.findDedup("wallet", "a", "t1:1:0"))?.at, 2);
        // Two of one batch under one key: the first is kept.
        const both = await store.commit([call(1, "t1:1:1", [mark("t1:1:1:kept", 3)]), call(2, "t1:1:2", [mark("t1:1:1:kept", 4)])]);
        assert.ok(both.every((o) => o.ok));
        assert.equal((await store.findDedup("$journal", "transfer/t1", "t1:1:1:kept"))?.at, 3);
        assert.equal((await store.loadHistory("wallet", "a")).events.length, 3);
        // Any other record under a taken key is still a conflict.
        assert.deepEqual(await store.commit([{ ...eventsWrite("wallet", "a", 3, ev("withdrawn", 10)), dedup: [dedup("t1:1:0", 5)] }]), [conflictOutcome]);
      });
    });

    it("a-refused-together-write-keeps-nothing-of-its-group-and-the-rest-of-the-batch-goes-on", async () => {
      await withStore(async (store) => {
        await commitOk(store, [eventsWrite("wallet", "a", 0, ev("opened", 1))]);
        const outcomes = await store.commit([
          stepWrite("transfer", "t1", 0, [
            { ...kvWrite("account", "b", 0, { balance: 1 }), dedup: [dedup("t1:1:0", 1)] },
            // Stale: the wallet is at seq 1.
            eventsWrite("wallet", "a", 0, ev("withdrawn", 10)),
          ]),
          // Of the same batch, on the instances of the refused group, at what is stored: kept.
          eventsWrite("wallet", "a", 1, ev("deposited", 3)),
          { ...kvWrite("account", "b", 0, { balance: 2 }), dedup: [dedup("t1:1:0", 2)] },
        ]);
        assert.deepEqual(outcomes[0], conflictOutcome);
        assert.ok(outcomes[1]?.ok && outcomes[2]?.ok);
        assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
        assert.deepEqual((await store.loadHistory("wallet", "a")).events.map((e) => e.type), ["opened", "deposited"]);
        assert.deepEqual(await store.loadKv("account", "b"), { version: 1, state: { balance: 2 }, deleted: false });
        assert.equal((await store.findDedup("account", "b", "t1:1:0"))?.at, 2);
        const feed = await store.readFeed(0, 100);
        assert.deepEqual(feed.map((f) => [f.component, f.type]), [["wallet", "opened"], ["wallet", "deposited"], ["account", "$state"]]);
      });
    });

    it("a-refused-write-keeps-none-of-its-together-writes", async () => {
      await withStore(async (store) => {
        await commitOk(store, [stepWrite("transfer", "t1", 0, [])]);
        // The workflow is at version 1: expecting 0 is a conflict.
        const [outcome] = await store.commit([stepWrite("transfer", "t1", 0, [eventsWrite("wallet", "a", 0, ev("withdrawn", 10))])]);
        assert.deepEqual(outcome, conflictOutcome);
        assert.deepEqual((await store.loadHistory("wallet", "a")).events, []);
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 1);
        assert.equal((await store.workflowHistory("transfer", "t1", 10)).length, 1);
      });
    });

    it("a-workflow's-start-and-its-next-transition-commit-in-one-group-as-two-versions", async () => {
      // An eager start (WorkflowOptions.eagerStart): the start, the first step's call and the step's transition.
      await withStore(async (store) => {
        const start = stepWrite("transfer", "t1", 0, []);
        const [outcome] = await store.commit([stepWrite("transfer", "t1", 1, [start, eventsWrite("wallet", "a", 0, ev("withdrawn", 10))])]);
        assert.ok(outcome?.ok);
        assert.deepEqual(outcome.together?.map((p) => p.length), [1, 1]);
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 2);
        assert.deepEqual((await store.workflowHistory("transfer", "t1", 10)).map((h) => [h.version, h.execId]), [[1, 1], [2, 2]]);
        const feed = (await store.readFeed(0, 100)).filter((f) => f.component === "transfer");
        assert.deepEqual(feed.map((f) => f.seq), [1, 2], "a feed entry for each version");
        assert.deepEqual((await store.loadHistory("wallet", "a")).events.map((e) => e.type), ["withdrawn"]);

        // Stored already: the group keeps nothing.
        const again = await store.commit([stepWrite("transfer", "t1", 1, [start, eventsWrite("wallet", "a", 1, ev("withdrawn", 10))])]);
        assert.deepEqual(again[0], conflictOutcome);
        assert.equal((await store.loadHistory("wallet", "a")).events.length, 1);
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 2);
      });
    });

    it("an-eager-start's-steps-commit-in-one-group-as-consecutive-versions-or-not-at-all", async () => {
      // The start, the first step's call and transition, the second step's call and transition.
      await withStore(async (store) => {
        const group = (seqA: number) => [
          stepWrite("transfer", "t1", 0, []),
          eventsWrite("wallet", "a", seqA, ev("withdrawn", 10)),
          stepWrite("transfer", "t1", 1, []),
          eventsWrite("wallet", "b", 0, ev("deposited", 10)),
        ];
        const [outcome] = await store.commit([stepWrite("transfer", "t1", 2, group(0))]);
        assert.ok(outcome?.ok);
        assert.deepEqual(outcome.together?.map((p) => p.length), [1, 1, 1, 1]);
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 3);
        assert.deepEqual((await store.workflowHistory("transfer", "t1", 10)).map((h) => [h.version, h.execId]), [[1, 1], [2, 2], [3, 3]]);
        const feed = (await store.readFeed(0, 100)).filter((f) => f.component === "transfer");
        assert.deepEqual(feed.map((f) => f.seq), [1, 2, 3], "a feed entry for each version");
        const states = await store.workflowStates("transfer", "t1", 0, 10);
        assert.deepEqual(states.map((s) => s.state), [{ n: 0 }, { n: 1 }, { n: 2 }], "each version's feed entry holds its own state");
        assert.deepEqual((await store.loadHistory("wallet", "b")).events.map((e) => e.type), ["deposited"]);

        // Stored already, or a call's write refused: the group keeps nothing.
        for (const [id, seqA] of [["t1", 1], ["t2", 0]] as const) {
          const again = group(seqA).map((w) => (w.component === "transfer" ? { ...w, id } : w));
          const [refused] = await store.commit([{ ...stepWrite("transfer", id, 2, again) }]);
          assert.deepEqual(refused, conflictOutcome);
        }
        assert.equal(await store.loadWorkflow("transfer", "t2"), undefined);
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 3);
        assert.equal((await store.loadHistory("wallet", "a")).events.length, 1);
        assert.equal((await store.loadHistory("wallet", "b")).events.length, 1);
      });
    });

    it("later-writes-of-a-batch-see-a-kept-group", async () => {
      await withStore(async (store) => {
        const outcomes = await store.commit([
          stepWrite("transfer", "t1", 0, [eventsWrite("wallet", "a", 0, ev("withdrawn", 10))]),
          eventsWrite("wallet", "a", 0, ev("late", 1)),
          eventsWrite("wallet", "a", 1, ev("next", 1)),
        ]);
        assert.ok(outcomes[0]?.ok);
        assert.deepEqual(outcomes[1], conflictOutcome);
        assert.ok(outcomes[2]?.ok);
        assert.deepEqual((await store.loadHistory("wallet", "a")).events.map((e) => e.type), ["withdrawn", "next"]);
      });
    });
  });
}

/** A workflow's transition carrying `together` writes (an empty list: none). */
function stepWrite(name: string, id: string, expectedVersion: number, together: InstanceWrite[]): InstanceWrite {
  const record: WorkflowRecord = {
    status: "running", step: "deposit", stepInput: null, state: { n: expectedVersion }, attempt: 0, execId: expectedVersion + 1,
    dueAt: null, deadlineAt: null, lastError: null, startHash: "h", startReply: null, createdAt: 1, updatedAt: 2,
  };
  const write: InstanceWrite = { component: name, id, workflow: { expectedVersion, record, transition: transitionOf(record, "step") }, dedup: [] };
  return together.length > 0 ? { ...write, together } : write;
}
