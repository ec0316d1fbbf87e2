import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { InstanceWrite, WorkflowRecord } from "../port.ts";
import { SqliteStore } from "./sqlite-store.ts";

/**
 * `InstanceWrite.together` on SQLite: a workflow's transition with its step's held entity writes.
 * The usual group, and an eager start's, are checked in full before anything is written; other
 * groups (a member writing another workflow, two writes to one entity) go through a SAVEPOINT. Either way: all or none, and a
 * refused group leaves the rest of the batch alone.
 */
describe("sqlite store: writes committed together", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-sqlite-together-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;

  async function open(): Promise<SqliteStore> {
    const store = new SqliteStore({ path: join(dir, `t-${++files}.db`) });
    await store.migrate();
    return store;
  }

  function deposit(id: string, expectedSeq: number, amount: number): InstanceWrite {
    return { component: "wallet", id, events: { expectedSeq, append: [{ type: "deposited", payload: { amount } }] }, dedup: [] };
  }

  function transition(id: string, expectedVersion: number, step: string, together?: InstanceWrite[]): InstanceWrite {
    const record: WorkflowRecord = {
      status: "running", step, stepInput: null, state: { step }, attempt: 0, execId: expectedVersion + 1,
      dueAt: null, deadlineAt: null, lastError: null, startHash: "h", startReply: { id }, createdAt: 1000, updatedAt: 1000 + expectedVersion,
    };
    const t = { at: record.updatedAt, status: record.status, step, execId: record.execId, attempt: 0, detail: step };
    return { component: "transfer", id, workflow: { expectedVersion, record, transition: t }, dedup: [], ...(together ? { together } : {}) };
  }

  async function amounts(store: SqliteStore, wallet: string): Promise<unknown[]> {
    return (await store.loadHistory("wallet", wallet)).events.map((e) => e.payload);
  }

  it("keeps-the-step's-writes-and-the-transition-and-answers-each-one's-feed-positions", async () => {
    const store = await open();
    try {
      const head = await store.feedHead();
      const [outcome] = await store.commit([transition("t1", 0, "pay", [deposit("w1", 0, 5)])]);
      assert.ok(outcome?.ok);
      assert.deepEqual(outcome.together, [[head + 1]]);
      assert.deepEqual(outcome.positions, [head + 2]);
      assert.deepEqual(await amounts(store, "w1"), [{ amount: 5 }]);
      assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 1);
    } finally {
      await store.close();
    }
  });

  it("keeps-nothing-of-the-group-when-the-transition-or-a-call's-write-is-refused,-and-the-rest-of-the-batch", async () => {
    const store = await open();
    try {
      await store.commit([transition("t1", 0, "start"), deposit("w1", 0, 1)]);
      const head = await store.feedHead();
      const outcomes = await store.commit([
        // The workflow is at version 1, not 0: refused, its member's deposit too.
        transition("t1", 0, "pay", [deposit("w2", 0, 5)]),
        // The wallet holds one event, not none: refused, the transition too.
        transition("t1", 1, "pay", [deposit("w1", 0, 5)]),
        deposit("w3", 0, 7),
      ]);
      assert.deepEqual(outcomes.map((o) => o.ok), [false, false, true]);
      assert.deepEqual(await amounts(store, "w2"), []);
      assert.deepEqual(await amounts(store, "w1"), [{ amount: 1 }]);
      assert.equal((await store.loadWorkflow("transfer", "t1"))?.step, "start");
      assert.deepEqual(await amounts(store, "w3"), [{ amount: 7 }]);
      assert.equal(await store.feedHead(), head + 1);
    } finally {
      await store.close();
    }
  });

  it("a-group-with-two-writes-to-one-instance-stands-or-falls-whole-through-a-savepoint", async () => {
    const store = await open();
    try {
      // The second deposit's check sees the first one's event.
      const [kept] = await store.commit([transition("t1", 0, "pay", [deposit("w1", 0, 1), deposit("w1", 1, 2)])]);
      assert.ok(kept?.ok);
      assert.deepEqual(await amounts(store, "w1"), [{ amount: 1 }, { amount: 2 }]);
      const head = await store.feedHead();
      // The first write passes and is written, the second is refused: the first is rolled back.
      const [refused, other] = await store.commit([transition("t1", 1, "more", [deposit("w1", 2, 3), deposit("w1", 2, 4)]), deposit("w9", 0, 9)]);
      assert.equal(refused?.ok, false);
      assert.ok(other?.ok);
      assert.deepEqual(await amounts(store, "w1"), [{ amount: 1 }, { amount: 2 }]);
      assert.equal((await store.loadWorkflow("transfer", "t1"))?.step, "pay");
      assert.equal(await store.feedHead(), head + 1);
    } finally {
      await store.close();
    }
  });

  it("an-eager-start's-group-keeps-the-start-the-call-and-the-transition-or-nothing", async () => {
    const store = await open();
    try {
      const eager = (id: string, wallet: string, seq: number) => transition(id, 1, "deposit", [transition(id, 0, "withdraw"), deposit(wallet, seq, 5)]);
      const [kept] = await store.commit([eager("t1", "w1", 0)]);
      assert.ok(kept?.ok);
      assert.deepEqual(kept.together?.map((p) => p.length), [1, 1]);
      assert.deepEqual((await store.workflowHistory("transfer", "t1", 10)).map((h) => [h.version, h.step]), [[1, "withdraw"], [2, "deposit"]]);
      // The call's write is stale: no start either. The start is a repeat: no call either.
      const [staleCall, repeated] = await store.commit([eager("t2", "w1", 0), eager("t1", "w2", 0)]);
      assert.deepEqual([staleCall?.ok, repeated?.ok], [false, false]);
      assert.equal(await store.loadWorkflow("transfer", "t2"), undefined);
      assert.deepEqual(await amounts(store, "w2"), []);
      assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 2);
    } finally {
      await store.close();
    }
  });

  it("a-group-whose-member-writes-a-workflow-stands-or-falls-whole-through-a-savepoint", async () => {
    const store = await open();
    try {
      await store.commit([transition("t2", 0, "start")]);
      // The member (another workflow's transition) is written before the main write's check fails.
      const [refused] = await store.commit([transition("t1", 5, "pay", [transition("t2", 1, "next")])]);
      assert.equal(refused?.ok, false);
      assert.equal((await store.loadWorkflow("transfer", "t2"))?.step, "start");
      assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
    } finally {
      await store.close();
    }
  });
});
