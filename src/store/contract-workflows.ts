/**
 * The workflow part of the store contract: records with optimistic versions, their transition
 * history and listing. `storeContract` (./contract.ts) registers it for every adapter; it speaks
 * only through the port.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { commitOk, conflictOutcome, dedup, eventsWrite, ev, kvWrite, transitionOf, workflowWrite, type WithStore } from "./contract-support.ts";
import type {
  InstanceWrite,
  Store,
  StoredWorkflow,
  WorkflowFilter,
  WorkflowRecord,
  WorkflowStatus,
  WorkflowTransition,
} from "./port.ts";

/** Registers the workflow tests; call inside the adapter's `describe`. */
export function workflowContract(withStore: WithStore): void {
  describe("workflows", () => {
    describe("records", () => {
      it("a-new-workflow-is-created-at-expected-version-0-and-loads-back-at-version-1", async () => {
        await withStore(async (store) => {
          assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
          const created = record();
          // The write's one feed entry (see ./contract-feed.ts) has a position.
          const [outcome, ...more] = await store.commit([workflowWrite("transfer", "t1", 0, created, "started")]);
          assert.equal(more.length, 0);
          assert.ok(outcome?.ok);
          assert.equal(outcome.positions.length, 1);
          assert.deepEqual(await store.loadWorkflow("transfer", "t1"), stored("transfer", "t1", 1, created));
          // Another id, another name: other records.
          assert.equal(await store.loadWorkflow("transfer", "t2"), undefined);
          assert.equal(await store.loadWorkflow("refund", "t1"), undefined);
        });
      });

      it("an-update-at-the-current-version-replaces-the-record-and-counts-up", async () => {
        await withStore(async (store) => {
          await commitOk(store, [workflowWrite("transfer", "t1", 0, record(), "started")]);
          const failed = record({
            step: "deposit",
            stepInput: { amount: 10, to: "b" },
            state: { withdrawn: true },
            attempt: 2,
            execId: 2,
            dueAt: 1_700_000_005_000,
            lastError: { code: "unavailable", message: "bank b is down" },
            updatedAt: 1_700_000_004_000,
          });
          await commitOk(store, [workflowWrite("transfer", "t1", 1, failed, "step deposit failed: bank b is down")]);
          assert.deepEqual(await store.loadWorkflow("transfer", "t1"), stored("transfer", "t1", 2, failed));

          const ended = record({ status: "ended", step: "deposit", execId: 2, updatedAt: 1_700_000_006_000 });
          await commitOk(store, [workflowWrite("transfer", "t1", 2, ended, "ended")]);
          assert.deepEqual(await store.loadWorkflow("transfer", "t1"), stored("transfer", "t1", 3, ended));
        });
      });

      it("a-stale-or-early-version-is-a-conflict-and-keeps-nothing-of-that-write", async () => {
        await withStore(async (store) => {
          const first = record();
          await commitOk(store, [workflowWrite("transfer", "t1", 0, first, "started")]);
          const second = record({ step: "deposit", execId: 2 });
          await commitOk(store, [workflowWrite("transfer", "t1", 1, second, "step withdraw done")]);

          const late = record({ status: "failed", step: "withdraw", state: { late: true } });
          const stale: InstanceWrite = {
            ...workflowWrite("transfer", "t1", 1, late, "late"),
            events: { expectedSeq: 0, append: [{ type: "noted", payload: 1 }] },
            dedup: [dedup("k-stale", 1000)],
          };
          const outcomes = await store.commit([
            workflowWrite("transfer", "t0", 0, record(), "started"),
            stale,
            // Creating what exists, and updating what does not exist, are conflicts too.
            { ...workflowWrite("transfer", "t1", 0, late, "again"), dedup: [dedup("k-again", 1000)] },
            { ...workflowWrite("transfer", "t9", 1, late, "nobody"), dedup: [dedup("k-nobody", 1000)] },
            { ...workflowWrite("transfer", "t8", 5, late, "ahead") },
            workflowWrite("transfer", "t2", 0, record(), "started"),
          ]);
          assert.deepEqual(
            outcomes.map((o) => o.ok),
            [true, false, false, false, false, true],
          );
          assert.deepEqual(outcomes[1], conflictOutcome);

          assert.deepEqual(await store.loadWorkflow("transfer", "t1"), stored("transfer", "t1", 2, second));
          assert.deepEqual((await store.workflowHistory("transfer", "t1", 10)).map((t) => t.detail), [
            "started",
            "step withdraw done",
          ]);
          assert.equal(await store.findDedup("transfer", "t1", "k-stale"), undefined);
          assert.equal(await store.findDedup("transfer", "t1", "k-again"), undefined);
          assert.deepEqual((await store.loadHistory("transfer", "t1")).events, []);
          assert.equal(await store.loadWorkflow("transfer", "t9"), undefined);
          assert.equal(await store.findDedup("transfer", "t9", "k-nobody"), undefined);
          assert.deepEqual(await store.workflowHistory("transfer", "t9", 10), []);
          assert.equal(await store.loadWorkflow("transfer", "t8"), undefined);
          assert.equal((await store.loadWorkflow("transfer", "t0"))?.version, 1);
          assert.equal((await store.loadWorkflow("transfer", "t2"))?.version, 1);
        });
      });

      it("later-writes-of-a-batch-see-the-earlier-ones", async () => {
        await withStore(async (store) => {
          const outcomes = await store.commit([
            workflowWrite("transfer", "t1", 0, record(), "started"),
            workflowWrite("transfer", "t1", 1, record({ execId: 2 }), "second"),
            workflowWrite("transfer", "t1", 1, record({ execId: 99 }), "stale"),
            workflowWrite("transfer", "t1", 2, record({ execId: 3 }), "third"),
          ]);
          assert.deepEqual(
            outcomes.map((o) => o.ok),
            [true, true, false, true],
          );
          const loaded = await store.loadWorkflow("transfer", "t1");
          assert.equal(loaded?.version, 3);
          assert.equal(loaded?.execId, 3);
          assert.deepEqual(
            (await store.workflowHistory("transfer", "t1", 10)).map((t) => [t.version, t.detail]),
            [[1, "started"], [2, "second"], [3, "third"]],
          );
          // Paged: after a version, at most `limit`.
          assert.deepEqual(
            (await store.workflowHistory("transfer", "t1", 1, 1)).map((t) => [t.version, t.detail]),
            [[2, "second"]],
          );
          assert.deepEqual(await store.workflowHistory("transfer", "t1", 10, 3), []);
        });
      });

      it("events-kv-and-workflow-of-one-write-stand-or-fall-together", async () => {
        await withStore(async (store) => {
          const outcomes = await store.commit([
            {
              ...workflowWrite("order", "o1", 0, record(), "started"),
              events: { expectedSeq: 3, append: [{ type: "x", payload: 1 }] },
            },
            {
              ...workflowWrite("order", "o2", 0, record(), "started"),
              kv: { expectedVersion: 2, state: "nope", deleted: false },
            },
          ]);
          assert.deepEqual(outcomes, [conflictOutcome, conflictOutcome]);
          assert.equal(await store.loadWorkflow("order", "o1"), undefined);
          assert.equal(await store.loadWorkflow("order", "o2"), undefined);
          assert.deepEqual(await store.workflowHistory("order", "o1", 10), []);
          assert.deepEqual(await store.workflowHistory("order", "o2", 10), []);

          // All of them right: all kept.
          await commitOk(store, [
            {
              ...workflowWrite("order", "o1", 0, record(), "started"),
              events: { expectedSeq: 0, append: [{ type: "x", payload: 1 }] },
              kv: { expectedVersion: 0, state: "yes", deleted: false },
            },
          ]);
          assert.equal((await store.loadWorkflow("order", "o1"))?.version, 1);
          assert.equal((await store.loadHistory("order", "o1")).events.length, 1);
          assert.equal((await store.loadKv("order", "o1"))?.state, "yes");
        });
      });
    });

    describe("idempotency", () => {
      it("a-workflow-write-may-carry-dedup-records-kept-and-refused-with-it", async () => {
        await withStore(async (store) => {
          const startReply = dedup("start-1", 1000, { ok: true, value: { transferId: "t1" } });
          await commitOk(store, [{ ...workflowWrite("transfer", "t1", 0, record(), "started"), dedup: [startReply] }]);
          assert.deepEqual(await store.findDedup("transfer", "t1", "start-1"), startReply);
          assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 1);

          // A known key refuses the write even at the right version, and the record stays as it was.
          const outcomes = await store.commit([
            {
              ...workflowWrite("transfer", "t1", 1, record({ status: "suspended" }), "suspended"),
              dedup: [dedup("start-1", 2000, { ok: true, value: "second" })],
            },
          ]);
          assert.deepEqual(outcomes, [conflictOutcome]);
          assert.deepEqual(await store.loadWorkflow("transfer", "t1"), stored("transfer", "t1", 1, record()));
          assert.deepEqual(await store.findDedup("transfer", "t1", "start-1"), startReply);
          assert.equal((await store.workflowHistory("transfer", "t1", 10)).length, 1);

          // A dedup record alone (a repeated command that changed nothing) leaves the record be.
          await commitOk(store, [{ component: "transfer", id: "t1", dedup: [dedup("status-1", 3000)] }]);
          assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 1);
          assert.ok(await store.findDedup("transfer", "t1", "status-1"));

          // A new key with the right version: both kept.
          await commitOk(store, [
            { ...workflowWrite("transfer", "t1", 1, record({ status: "suspended" }), "suspended"), dedup: [dedup("suspend-1", 4000)] },
          ]);
          assert.equal((await store.loadWorkflow("transfer", "t1"))?.status, "suspended");
          assert.ok(await store.findDedup("transfer", "t1", "suspend-1"));
        });
      });
    });

    describe("listing", () => {
      /** transfer/a..e, refund/a..b, in shuffled commit order. */
      async function seed(store: Store): Promise<void> {
        const rows: Array<[string, string, WorkflowStatus, string | null]> = [
          ["transfer", "c", "paused", "deposit"],
          ["refund", "b", "running", "pay"],
          ["transfer", "a", "running", "withdraw"],
          ["transfer", "e", "ended", "deposit"],
          ["transfer", "b", "running", "deposit"],
          ["refund", "a", "failed", null],
          ["transfer", "d", "running", "withdraw"],
        ];
        await commitOk(
          store,
          rows.map(([name, id, status, step]) => workflowWrite(name, id, 0, record({ status, step }), "started")),
        );
      }

      const keys = (list: StoredWorkflow[]) => list.map((w) => `${w.name}/${w.id}`);

      it("filters-by-name-statuses-and-step-ordered-by-name-then-id", async () => {
        await withStore(async (store) => {
          await seed(store);
          const list = (filter: Omit<WorkflowFilter, "limit">) => store.listWorkflows({ limit: 100, ...filter });

          assert.deepEqual(keys(await list({})), [
            "refund/a", "refund/b", "transfer/a", "transfer/b", "transfer/c", "transfer/d", "transfer/e",
          ]);
          assert.deepEqual(keys(await list({ name: "transfer" })), [
            "transfer/a", "transfer/b", "transfer/c", "transfer/d", "transfer/e",
          ]);
          // The start-up scan: every workflow still in progress.
          assert.deepEqual(keys(await list({ statuses: ["running", "paused"] })), [
            "refund/b", "transfer/a", "transfer/b", "transfer/c", "transfer/d",
          ]);
          assert.deepEqual(keys(await list({ name: "transfer", statuses: ["paused", "ended"] })), ["transfer/c", "transfer/e"]);
          assert.deepEqual(keys(await list({ step: "withdraw" })), ["transfer/a", "transfer/d"]);
          assert.deepEqual(keys(await list({ name: "transfer", statuses: ["running"], step: "deposit" })), ["transfer/b"]);
          assert.deepEqual(keys(await list({ name: "nobody" })), []);
          // An empty status list matches nothing; repeated statuses are harmless.
          assert.deepEqual(keys(await list({ statuses: [] })), []);
          assert.deepEqual(keys(await list({ name: "refund", statuses: ["failed", "failed"] })), ["refund/a"]);

          // The records come whole, as loadWorkflow gives them.
          const [first] = await list({ name: "refund", statuses: ["failed"] });
          assert.deepEqual(first, await store.loadWorkflow("refund", "a"));
        });
      });

      it("limit-and-after-id-page-through-one-name", async () => {
        await withStore(async (store) => {
          await seed(store);
          assert.deepEqual(keys(await store.listWorkflows({ limit: 3 })), ["refund/a", "refund/b", "transfer/a"]);
          assert.deepEqual(await store.listWorkflows({ limit: 0 }), []);
          assert.deepEqual(await store.listWorkflows({ limit: -1 }), []);

          const pages: string[][] = [];
          let afterId: string | undefined;
          for (;;) {
            const page = await store.listWorkflows({ name: "transfer", limit: 2, ...(afterId === undefined ? {} : { afterId }) });
            if (page.length === 0) break;
            pages.push(page.map((w) => w.id));
            afterId = page[page.length - 1]!.id;
          }
          assert.deepEqual(pages, [["a", "b"], ["c", "d"], ["e"]]);

          // After-id applies with the other filters, and needs not be an existing id.
          assert.deepEqual(
            keys(await store.listWorkflows({ name: "transfer", statuses: ["running", "paused"], afterId: "a", limit: 2 })),
            ["transfer/b", "transfer/c"],
          );
          assert.deepEqual(keys(await store.listWorkflows({ name: "transfer", afterId: "bb", limit: 10 })), [
            "transfer/c", "transfer/d", "transfer/e",
          ]);
          assert.deepEqual(await store.listWorkflows({ name: "transfer", afterId: "e", limit: 10 }), []);

          // Without a name an id alone has no place in (name, id) order: refused, not guessed.
          await assert.rejects(store.listWorkflows({ afterId: "a", limit: 10 }), /afterId needs a name, or afterName/);
          await assert.rejects(store.listWorkflows({ name: "transfer", afterName: "refund", afterId: "a", limit: 10 }), /afterName goes with afterId and without a name/);

          // With afterName, pages go on across names, in (name, id) order, with the other filters.
          const all: string[] = [];
          let after: { afterName: string; afterId: string } | undefined;
          for (;;) {
            const page = await store.listWorkflows({ limit: 3, ...after });
            if (page.length === 0) break;
            all.push(...keys(page));
            after = { afterName: page.at(-1)!.name, afterId: page.at(-1)!.id };
          }
          assert.deepEqual(all, keys(await store.listWorkflows({ limit: 100 })));
          assert.deepEqual(keys(await store.listWorkflows({ afterName: "refund", afterId: "b", limit: 2 })), ["transfer/a", "transfer/b"]);
          assert.deepEqual(keys(await store.listWorkflows({ afterName: "refund", afterId: "", statuses: ["running", "paused"], limit: 10 })),
            keys(await store.listWorkflows({ statuses: ["running", "paused"], limit: 10 })));
        });
      });

      it("ids-order-by-code-point", async () => {
        await withStore(async (store) => {
          // UTF-16 order would put the emoji (a surrogate pair) before U+FF5E; code points put it after.
          const ids = ["\u{1F600}", "\uFF5E", "é", "a", "B", "a1", "A"];
          await commitOk(store, ids.map((id) => workflowWrite("w", id, 0, record(), "started")));
          const expected = ["A", "B", "a", "a1", "é", "\uFF5E", "\u{1F600}"];
          assert.deepEqual((await store.listWorkflows({ name: "w", limit: 100 })).map((w) => w.id), expected);
          assert.deepEqual(
            (await store.listWorkflows({ name: "w", afterId: "\uFF5E", limit: 100 })).map((w) => w.id),
            ["\u{1F600}"],
          );
        });
      });
    });

    describe("history", () => {
      it("every-record-change-adds-a-line-with-the-version-it-produced-oldest-first", async () => {
        await withStore(async (store) => {
          assert.deepEqual(await store.workflowHistory("transfer", "t1", 10), []);
          const steps: Array<[WorkflowRecord, string]> = [
            [record({ updatedAt: 1000 }), "started"],
            [record({ step: "deposit", execId: 2, updatedAt: 2000 }), "step withdraw done"],
            [record({ step: "deposit", execId: 2, attempt: 1, updatedAt: 3000, lastError: { code: "x", message: "y" } }), "step deposit failed: y"],
            [record({ status: "ended", step: "deposit", execId: 2, attempt: 1, updatedAt: 4000 }), "ended"],
          ];
          for (const [i, [rec, detail]] of steps.entries()) {
            await commitOk(store, [workflowWrite("transfer", "t1", i, rec, detail)]);
          }
          // Another workflow's lines are its own.
          await commitOk(store, [workflowWrite("transfer", "t2", 0, record(), "other")]);

          const expected = steps.map(([rec, detail], i) => ({ version: i + 1, ...transitionOf(rec, detail) }));
          assert.deepEqual(await store.workflowHistory("transfer", "t1", 10), expected);
          assert.deepEqual(await store.workflowHistory("transfer", "t1", 2), expected.slice(0, 2));
          assert.deepEqual(await store.workflowHistory("transfer", "t1", 0), []);
          assert.deepEqual((await store.workflowHistory("transfer", "t2", 10)).map((t) => [t.version, t.detail]), [[1, "other"]]);
          assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, expected.length);
        });
      });

      it("each-versions-state-is-read-back-from-the-feed-oldest-first", async () => {
        await withStore(async (store) => {
          const states = [
            record({ state: { n: 1 }, updatedAt: 1000 }),
            record({ step: "deposit", state: { n: 2 }, updatedAt: 2000 }),
            record({ status: "ended", step: "deposit", state: undefined, updatedAt: 3000 }),
          ];
          for (const [i, rec] of states.entries()) await commitOk(store, [workflowWrite("transfer", "t1", i, rec)]);
          // Another instance, and a key-value entity and entity events of the same names, are not its states.
          await commitOk(store, [workflowWrite("transfer", "t2", 0, record({ state: { n: 9 } })), kvWrite("transfer", "t1", 0, { n: 8 }), eventsWrite("transfer", "t1", 0, ev("x", 1))]);
          const read = await store.workflowStates("transfer", "t1", 0, 10);
          assert.deepEqual(read.map(({ at: _at, ...s }) => s), [
            { version: 1, status: "running", step: "withdraw", state: { n: 1 } },
            { version: 2, status: "running", step: "deposit", state: { n: 2 } },
            { version: 3, status: "ended", step: "deposit" },
          ]);
          assert.ok(read.every((s) => typeof s.at === "number"));
          assert.deepEqual((await store.workflowStates("transfer", "t1", 1, 1)).map((s) => s.version), [2]);
          assert.deepEqual(await store.workflowStates("transfer", "t1", 3, 10), []);
          assert.deepEqual(await store.workflowStates("transfer", "t1", 0, 0), []);
          assert.deepEqual(await store.workflowStates("transfer", "nobody", 0, 10), []);
        });
      });

      it("the-line-is-the-transition-as-given-not-derived-from-the-record", async () => {
        await withStore(async (store) => {
          const transition: WorkflowTransition = { at: 42, status: "suspended", step: null, execId: 7, attempt: 3, detail: "suspended by operator" };
          await commitOk(store, [
            { component: "transfer", id: "t1", workflow: { expectedVersion: 0, record: record(), transition }, dedup: [] },
          ]);
          assert.deepEqual(await store.workflowHistory("transfer", "t1", 10), [{ version: 1, ...transition }]);
        });
      });
    });

    describe("values", () => {
      it("record-values-round-trip-as-json-with-nulls-and-absent-values", async () => {
        await withStore(async (store) => {
          const full = record({
            stepInput: { s: "zß😀\n\"", n: -1.5, list: [1, null, { deep: [[]] }] },
            state: [1, "two", { three: 3 }],
            startReply: "plain",
            lastError: { code: "timeout", message: "no answer in 5 s" },
          });
          const empty = record({
            step: null,
            stepInput: undefined,
            state: null,
            startReply: undefined,
            dueAt: null,
            deadlineAt: null,
            lastError: null,
          });
          await commitOk(store, [workflowWrite("w", "full", 0, full, "started"), workflowWrite("w", "empty", 0, empty, "started")]);
          assert.deepEqual(await store.loadWorkflow("w", "full"), stored("w", "full", 1, full));
          const loaded = await store.loadWorkflow("w", "empty");
          assert.deepEqual(loaded, stored("w", "empty", 1, empty));
          assert.equal(loaded.stepInput, undefined);
          assert.equal(loaded.state, null);
          assert.equal(loaded.lastError, null);
        });
      });

      it("a-workflow-value-json-cannot-hold-rejects-the-whole-batch-and-keeps-nothing", async () => {
        await withStore(async (store) => {
          await assert.rejects(
            store.commit([
              { ...workflowWrite("w", "fine", 0, record(), "started"), dedup: [dedup("k1", 1000)] },
              workflowWrite("w", "bad", 0, record({ state: { amount: 10n } }), "started"),
            ]),
          );
          assert.equal(await store.loadWorkflow("w", "fine"), undefined);
          assert.deepEqual(await store.workflowHistory("w", "fine", 10), []);
          assert.equal(await store.findDedup("w", "fine", "k1"), undefined);
          assert.deepEqual(await store.listWorkflows({ limit: 10 }), []);
          // The store is still usable and the workflows still start from version 0.
          await commitOk(store, [workflowWrite("w", "fine", 0, record(), "started")]);
        });
      });

      it("returned-and-given-values-are-copies", async () => {
        await withStore(async (store) => {
          const given = record({ stepInput: { items: ["a"] }, state: { total: 1 }, lastError: { code: "c", message: "m" } });
          const transition = transitionOf(given, "started");
          await commitOk(store, [{ component: "w", id: "a", workflow: { expectedVersion: 0, record: given, transition }, dedup: [] }]);
          // Mutating what was given after the commit changes nothing stored.
          (given.stepInput as { items: string[] }).items.push("given");
          (given.state as { total: number }).total = 99;
          given.lastError!.message = "given";
          given.status = "failed";
          transition.detail = "given";

          const loaded = (await store.loadWorkflow("w", "a"))!;
          (loaded.stepInput as { items: string[] }).items.push("returned");
          (loaded.state as { total: number }).total = -1;
          loaded.lastError!.message = "returned";
          loaded.version = 99;
          const [listed] = await store.listWorkflows({ name: "w", limit: 1 });
          (listed!.state as { total: number }).total = -2;
          listed!.status = "terminated";
          const [line] = await store.workflowHistory("w", "a", 1);
          line!.detail = "returned";
          line!.version = 99;

          const again = (await store.loadWorkflow("w", "a"))!;
          assert.deepEqual(again.stepInput, { items: ["a"] });
          assert.deepEqual(again.state, { total: 1 });
          assert.deepEqual(again.lastError, { code: "c", message: "m" });
          assert.equal(again.status, "running");
          assert.equal(again.version, 1);
          assert.deepEqual(await store.workflowHistory("w", "a", 10), [
            { version: 1, ...transitionOf(record({ stepInput: { items: ["a"] }, state: { total: 1 } }), "started") },
          ]);
        });
      });
    });
  });
}

/** A transfer at its first step; `over` changes any field. */
function record(over: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return {
    status: "running",
    step: "withdraw",
    stepInput: { amount: 10, from: "a" },
    state: { from: "a", to: "b", amount: 10 },
    attempt: 0,
    execId: 1,
    dueAt: null,
    deadlineAt: 1_700_000_600_000,
    lastError: null,
    startHash: "hash-of-start",
    startReply: { transferId: "t1" },
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...over,
  };
}

function stored(name: string, id: string, version: number, rec: WorkflowRecord): StoredWorkflow {
  return { ...rec, name, id, version };
}
