/**
 * Start-up with a backlog (issue 17, item 4): a store holding thousands of workflows that were
 * running when the process died. `start()` resolves before any of them is read (the due ones are
 * read afterwards, a page at a time, while the service serves), a call is answered meanwhile, and
 * every one of them still ends, its step's call applied exactly once.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { entity } from "../src/define/entity.ts";
import { workflow } from "../src/define/workflow.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { workflowWrite } from "../src/store/contract-support.ts";
import type { Store, WorkflowRecord } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { testbed, whenPostgresAsked } from "../src/store/postgres/postgres-test-support.ts";

const backlog = 3_000;

const tally = entity(
  "tally",
  { initial: () => ({ count: 0 }), events: { added: (s: { count: number }, _e: {}) => ({ count: s.count + 1 }) } },
  { commands: { add: (_s, _c: {}, fx) => fx.emit("added", {}).reply((s) => s) }, queries: { get: (s, _: {}, fx) => fx.reply(s) } },
);
const job = workflow("job", {
  start: (_input: {}) => ({}),
  steps: {
    work: async (_s, _in, ctx) => {
      await ctx.call(tally, "all").add({});
      return ctx.end();
    },
  },
  // All 3,000 call one instance, one at a time: beside other tests on 2 cores, a call waited in its
  // mailbox past the default 5 s step timeout five times, and the workflow failed (not what this tests).
  defaults: { timeoutMs: 60_000 },
});

/** What a crash mid-step leaves: `backlog` instances running at step "work", due now. */
async function seed(store: Store): Promise<void> {
  await store.migrate();
  const record: WorkflowRecord = {
    status: "running", step: "work", stepInput: null, state: {}, attempt: 0, execId: 1, dueAt: null, deadlineAt: null,
    lastError: null, startHash: "h", startReply: null, createdAt: Date.now(), updatedAt: Date.now(),
  };
  for (let from = 0; from < backlog; from += 500) {
    const writes = Array.from({ length: 500 }, (_, i) => workflowWrite("job", `j-${String(from + i).padStart(5, "0")}`, 0, record));
    const outcomes = await store.commit(writes);
    assert.ok(outcomes.every((o) => o.ok));
  }
}

/**
 * The store, counting the workflow rows it hands out by query (loading one by id is not counted,
 * nor start-up's look for workflows the code lacks: one row per stored name, a listing of limit 1).
 */
function counting(store: Store) {
  const read = { rows: 0, largestPage: 0 };
  const proxy = new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      if (key === "dueWorkflows" || key === "listWorkflows") {
        return async (...args: unknown[]) => {
          const rows = (await (value as (...a: unknown[]) => Promise<unknown[]>).apply(target, args));
          if (key === "listWorkflows" && (args[0] as { limit: number }).limit === 1) return rows;
          read.rows += rows.length;
          if (key === "dueWorkflows") read.largestPage = Math.max(read.largestPage, rows.length);
          return rows;
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { store: proxy, read };
}

async function runBacklog(store: Store, read: { rows: number; largestPage: number }): Promise<void> {
  const runtime = new Runtime({ store, components: [tally, job], log: () => {} });
  try {
    await runtime.start();
    // Started, and not one of the backlog's rows read: they come after, in pages.
    assert.equal(read.rows, 0, "rows read before start() resolved");
    // Served at once, backlog or not.
    assert.deepEqual(await runtime.call("tally", "other", "add", {}), { count: 1 });
    let ended = 0;
    // Up to 150 s: on a shared 2-core machine beside other tests, 3,000 workflows through PostgreSQL took over 60.
    for (let i = 0; i < 1_500 && ended < backlog; i++) {
      ended = (await runtime.store.listWorkflows({ name: "job", statuses: ["ended"], limit: backlog })).length;
      if (ended < backlog) await new Promise((r) => setTimeout(r, 100));
    }
    if (ended < backlog) {
      // Which ones did not, and why: a failing run says more than a count.
      const others = await runtime.store.listWorkflows({ name: "job", statuses: ["running", "paused", "suspended", "failed", "terminated"], limit: 5 });
      assert.fail(`${backlog - ended} of the backlog did not end, e.g. ${JSON.stringify(others.map((w) => [w.id, w.status, w.step, w.attempt, w.dueAt, w.lastError]))}`);
    }
    assert.deepEqual(await runtime.call("tally", "all", "get", {}), { count: backlog }, "each step's call applied once");
    // The engine read the due ones a page at a time (a page plus as many as were acting, never the whole backlog).
    assert.ok(read.largestPage < backlog, `largest page ${read.largestPage}`);
  } finally {
    await runtime.stop();
  }
}

describe("start-up with thousands of workflows due", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-startup-backlog-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("sqlite-serves-before-reading-the-backlog-and-every-workflow-ends", { timeout: 120_000 }, async () => {
    const path = join(dir, "backlog.db");
    const seedStore = new SqliteStore({ path });
    await seed(seedStore);
    await seedStore.close();
    const { store, read } = counting(new SqliteStore({ path }));
    await runBacklog(store, read);
  });
});

whenPostgresAsked((url) => {
  describe("start-up with thousands of workflows due: PostgreSQL", () => {
    const bed = testbed(url);
    after(() => bed.dropSchemas());

    it("postgres-serves-before-reading-the-backlog-and-every-workflow-ends", { timeout: 180_000 }, async () => {
      const schema = bed.freshSchema();
      const seedStore = bed.newStore({ schema });
      await seed(seedStore);
      await seedStore.close();
      const { store, read } = counting(bed.newStore({ schema }));
      await runBacklog(store, read);
    });
  });
});
