/**
 * The bucket part of the store contract: what a node that holds some buckets reads of the
 * workflows (src/store/buckets.ts). `storeContract` (./contract.ts) registers it for every adapter.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { allBuckets, workflowBucket } from "./buckets.ts";
import { commitOk, workflowWrite, type WithStore } from "./contract-support.ts";
import type { Store, WorkflowRecord } from "./port.ts";

const now = 1_700_000_100_000;

/** One instance per case, many times over, so that every bucket gets some of each. */
const cases: Array<{ label: string; record: Partial<WorkflowRecord>; due: boolean; nextAt?: number }> = [
  { label: "running-now", record: { status: "running", dueAt: null }, due: true },
  { label: "running-retry-past", record: { status: "running", dueAt: now - 1 }, due: true },
  { label: "running-retry-at-now", record: { status: "running", dueAt: now }, due: true },
  { label: "running-retry-later", record: { status: "running", dueAt: now + 5_000 }, due: false, nextAt: now + 5_000 },
  { label: "paused-timeout-past", record: { status: "paused", dueAt: now - 10, stepInput: { then: "expire" } }, due: true },
  { label: "paused-timeout-later", record: { status: "paused", dueAt: now + 7_000, stepInput: { then: "expire" } }, due: false, nextAt: now + 7_000 },
  { label: "paused-no-timeout", record: { status: "paused", dueAt: null }, due: false },
  { label: "paused-deadline-past", record: { status: "paused", dueAt: null, deadlineAt: now - 1 }, due: true },
  { label: "running-later-deadline-past", record: { status: "running", dueAt: now + 9_000, deadlineAt: now - 1 }, due: true, nextAt: now + 9_000 },
  { label: "suspended", record: { status: "suspended", dueAt: null }, due: false },
  { label: "failed", record: { status: "failed", dueAt: null }, due: false },
  { label: "ended", record: { status: "ended", dueAt: null, deadlineAt: now - 1 }, due: false },
];

function record(over: Partial<WorkflowRecord>): WorkflowRecord {
  return {
    status: "running", step: "withdraw", stepInput: null, state: {}, attempt: 0, execId: 1, dueAt: null,
    deadlineAt: null, lastError: null, startHash: "h", startReply: null, createdAt: now - 60_000, updatedAt: now - 60_000,
    ...over,
  };
}

export function bucketContract(withStore: WithStore): void {
  describe("workflows by bucket", () => {
    async function fill(store: Store) {
      const expected: Array<{ id: string; bucket: number; due: boolean; nextAt?: number }> = [];
      const writes = [];
      for (let n = 0; n < 8; n++) {
        for (const c of cases) {
          const id = `${c.label}-${n}`;
          writes.push(workflowWrite("transfer", id, 0, record(c.record)));
          expected.push({ id, bucket: workflowBucket("transfer", id), due: c.due, ...(c.nextAt === undefined ? {} : { nextAt: c.nextAt }) });
          // The same ids of a workflow this code no longer defines: never read.
          writes.push(workflowWrite("retired", id, 0, record(c.record)));
        }
      }
      await commitOk(store, writes);
      return expected;
    }

    it("due-workflows-of-one-bucket-are-exactly-that-buckets-due-ones", async () => {
      await withStore(async (store) => {
        const expected = await fill(store);
        assert.ok(new Set(expected.map((e) => e.bucket)).size > 8, "the ids spread over the buckets");
        for (const bucket of allBuckets) {
          const found = await store.dueWorkflows(now, 1_000, { buckets: [bucket], names: ["transfer"] });
          const ids = [...new Set(found.map((w) => `${w.name}/${w.id}`))].sort();
          const want = expected.filter((e) => e.bucket === bucket && e.due).map((e) => `transfer/${e.id}`).sort();
          assert.deepEqual(ids, want, `bucket ${bucket}`);
        }
        const two = await store.dueWorkflows(now, 1_000, { buckets: [2, 9], names: ["transfer", "retired"] });
        for (const w of two) assert.ok([2, 9].includes(workflowBucket(w.name, w.id)), `${w.name}/${w.id}`);
        assert.deepEqual(await store.dueWorkflows(now, 1_000, { buckets: [], names: ["transfer"] }), []);
        assert.deepEqual(await store.dueWorkflows(now, 1_000, { buckets: [1], names: [] }), []);
      });
    });

    it("due-workflows-stop-at-the-limit", async () => {
      await withStore(async (store) => {
        const expected = await fill(store);
        const found = await store.dueWorkflows(now, 5, { buckets: allBuckets, names: ["transfer"] });
        assert.equal(found.length, 5);
        for (const w of found) assert.ok(expected.some((e) => e.id === w.id && e.due), w.id);
      });
    });

    it("the-next-due-time-is-the-earliest-after-now-of-the-buckets", async () => {
      await withStore(async (store) => {
        const expected = await fill(store);
        for (const bucket of allBuckets) {
          const times = expected.filter((e) => e.bucket === bucket && e.nextAt !== undefined).map((e) => e.nextAt!);
          assert.equal(await store.nextWorkflowDue(now, [bucket]), times.length === 0 ? undefined : Math.min(...times), `bucket ${bucket}`);
        }
        assert.equal(await store.nextWorkflowDue(now, allBuckets), now + 5_000);
        assert.equal(await store.nextWorkflowDue(now + 8_000, allBuckets), now + 9_000);
        assert.equal(await store.nextWorkflowDue(now + 9_000, allBuckets), undefined);
        assert.equal(await store.nextWorkflowDue(now, []), undefined);
      });
    });

    it("a-bucket-out-of-range-is-refused", async () => {
      await withStore(async (store) => {
        await assert.rejects(store.dueWorkflows(now, 10, { buckets: [16], names: ["transfer"] }), RangeError);
        await assert.rejects(store.nextWorkflowDue(now, [-1]), RangeError);
      });
    });

    it("steps-to-run-group-the-instances-not-over-by-the-step-they-run-next", async () => {
      await withStore(async (store) => {
        await fill(store);
        await commitOk(store, [workflowWrite("transfer", "x-old", 0, record({ status: "failed", step: "old" }))]);
        const steps = await store.stepsToRun("transfer");
        // 5 running cases, suspended and failed at "withdraw"; 2 of the 4 paused cases have a `then`.
        assert.deepEqual(steps.map((s) => [s.step, s.count]), [["expire", 16], ["old", 1], ["withdraw", 56]]);
        assert.deepEqual(steps.find((s) => s.step === "old")!.examples, ["x-old"]);
        assert.deepEqual(steps.find((s) => s.step === "expire")!.examples, ["paused-timeout-later-0", "paused-timeout-past-7"]);
        assert.deepEqual(await store.stepsToRun("nobody"), []);
      });
    });
  });
}
