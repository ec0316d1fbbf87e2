import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { entity } from "../../define/entity.ts";
import { keyValue } from "../../define/key-value.ts";
import { table, view } from "../../define/view.ts";
import { workflow } from "../../define/workflow.ts";
import type { Store } from "../../store/port.ts";
import { testbed, whenPostgresAsked } from "../../store/postgres/postgres-test-support.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { isCode, until } from "../test-support.ts";

/**
 * Issue 17 item 1: a view rebuilds from the entities' current state when retention removed the
 * feed entries it needs. Key-value states and workflow states are pruned from the feed (events
 * never are); a rebuild from the feed is refused, saying why and what to do, and changes nothing;
 * a rebuild from current state gives the very rows the view had, on SQLite and PostgreSQL.
 */

const day = 24 * 60 * 60 * 1000;
const minute = 60 * 1000;

const wallet = entity(
  "wallet",
  { initial: () => ({ balance: 0 }), events: { deposited: (s: { balance: number }, e: { amount: number }) => ({ balance: s.balance + e.amount }) } },
  { commands: { deposit: (_s, c: { amount: number }, fx) => fx.emit("deposited", c).reply((s) => s.balance) } },
);
const box = keyValue("box", {
  initial: () => ({ v: 0 }),
  commands: {
    set: (_s, c: { v: number }, fx) => fx.update(c).reply((s) => s),
    remove: (_s, _c: {}, fx) => fx.delete().reply({ removed: true }),
  },
});
const job = workflow("job", {
  start: (input: { n: number }) => input,
  // Kept for ever: retention removes only its feed states.
  retentionMs: 0,
  steps: { only: async (_s, _in, ctx) => ctx.end() },
});
const summary = view("summary", {
  version: 1,
  tables: {
    boxes: table<typeof box, { id: string; v: number }>(box, { state: (_row, state, { id }) => (state === null ? null : { id, v: state.v }) }),
    jobs: table<typeof job, { id: string; status: string; n: number }>(job, {
      state: (_row, state, { id }) => ({ id, status: state.status, n: state.state.n }),
    }),
    wallets: table<typeof wallet, { id: string; balance: number }>(wallet, {
      events: { deposited: (row, e, { id }) => ({ id, balance: (row?.balance ?? 0) + e.amount }) },
    }),
  },
  queries: {
    boxes: "SELECT * FROM boxes ORDER BY id",
    jobs: "SELECT * FROM jobs ORDER BY id",
    wallets: "SELECT * FROM wallets ORDER BY id",
  },
});

function rebuildSuite(open: () => Store) {
  it("a-rebuild-from-current-state-gives-the-rows-the-view-had-after-retention-removed-states", { timeout: 60_000 }, async () => {
    const clock = new VirtualClock(Date.now());
    const store = open();
    const runtime = new Runtime({ store, components: [wallet, box, job, summary], clock, log: () => {}, retention: { intervalMs: 24 * 60 * minute } });
    await runtime.start();
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 12; i++) await runtime.call("box", `b${i}`, "set", { v: round * 100 + i });
      }
      await runtime.call("box", "gone", "set", { v: 1 });
      await runtime.call("box", "gone", "remove", {});
      for (let i = 0; i < 4; i++) {
        await runtime.call("job", `j${i}`, "start", { n: i });
        await runtime.workflowResult("job", `j${i}`, 10_000);
      }
      for (let i = 0; i < 5; i++) await runtime.call("wallet", `w${i % 2}`, "deposit", { amount: i + 1 });
      const caughtUp = async () => {
        const head = await store.feedHead();
        return (await runtime.admin.views()).views.every((v) => v.active !== null && v.active.offset >= head && v.rebuilding === null);
      };
      await until("the view to catch up", caughtUp, 20_000);

      // Past the feed's retention period every state the view passed goes.
      clock.stepWall(7 * day + minute);
      const run = await runtime.retention.runOnce();
      assert.equal(run.error, null);
      assert.ok(run.removed.feed > 30, `removed ${run.removed.feed} states`);
      const pruned = await store.retention.feedPrunedThrough();
      assert.ok(pruned > 0);
      assert.deepEqual((await store.readFeed(0, 1_000, ["box"])).filter((e) => e.position <= pruned), [], "box states were removed");
      // Changes after the pruning stay in the feed: an instance ends at its latest state.
      await runtime.call("box", "b3", "set", { v: 333 });
      await runtime.call("box", "late", "set", { v: 7 });
      await until("the view to catch up", caughtUp, 20_000);
      const query = async (name: string) => ((await runtime.views.query("summary", name, {})) as { rows: unknown[] }).rows;
      const rows = async () => ({ boxes: await query("boxes"), jobs: await query("jobs"), wallets: await query("wallets") });
      const before = await rows();
      const boxes = before.boxes as Array<{ id: string; v: number }>;
      assert.equal(boxes.length, 13, "b0…b11 and late; gone was deleted");
      assert.deepEqual(boxes.find((b) => b.id === "b3"), { id: "b3", v: 333 });
      assert.equal((before.jobs).length, 4);
      const generation = (await runtime.admin.views()).views[0]!.active!.generation;

      // From the feed: refused, saying what to do, and nothing changes.
      await assert.rejects(runtime.admin.rebuildView("summary"), (error: Error) => {
        assert.ok(isCode("feed_entries_removed", 409)(error));
        assert.match(error.message, /retention removed key-value and workflow states up to position \d+/);
        assert.match(error.message, /box, job/);
        assert.match(error.message, /--from current/);
        return true;
      });
      const unchanged = (await runtime.admin.views()).views[0]!;
      assert.equal(unchanged.active!.generation, generation);
      assert.equal(unchanged.rebuilding, null);

      // From current state: the same rows.
      const rebuilding = await runtime.admin.rebuildView("summary", "current");
      assert.equal(rebuilding.generation, generation + 1);
      await until("the rebuild to finish", async () => (await runtime.admin.views()).views[0]!.active!.generation === rebuilding.generation, 20_000);
      assert.deepEqual(await rows(), before);
    } finally {
      await runtime.stop();
    }
  });
}

describe("view rebuild from current state (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-view-current-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  rebuildSuite(() => new SqliteStore({ path: join(dir, "sagaflow.db") }));
});

describe("a view put back after retention removed states while it was out of the code (SQLite)", () => {
  it("is-built-again-from-current-state-not-read-on-from-its-old-offset", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-view-back-"));
    const clock = new VirtualClock(Date.now());
    const open = (components: Array<typeof box | typeof summary>) =>
      new Runtime({ store: new SqliteStore({ path: join(dir, "sagaflow.db") }), components, clock, log: () => {}, retention: { intervalMs: 24 * 60 * minute } });
    const boxes = async (runtime: Runtime) => ((await runtime.views.query("summary", "boxes", {})) as { rows: unknown[] }).rows;
    try {
      const first = open([box, summary]);
      await first.start();
      for (let i = 0; i < 3; i++) await first.call("box", `b${i}`, "set", { v: i });
      await until("the view to catch up", async () => (await boxes(first)).length === 3, 20_000);
      await first.stop();

      // Without the view: its states change, and retention removes them (nothing waits for it).
      const without = open([box]);
      await without.start();
      await without.call("box", "b1", "set", { v: 111 });
      await without.call("box", "late", "set", { v: 7 });
      clock.stepWall(7 * day + minute);
      await without.call("box", "newest", "set", { v: 9 }); // the feed's newest entry is never removed
      const run = await without.retention.runOnce();
      assert.equal(run.error, null);
      assert.ok(run.removed.feed >= 2, `removed ${run.removed.feed} states`);
      await without.stop();

      const back = open([box, summary]);
      await back.start();
      try {
        await until("the view to show the current states", async () => (await boxes(back)).length === 5, 20_000);
        assert.deepEqual(await boxes(back), [
          { id: "b0", v: 0 },
          { id: "b1", v: 111 },
          { id: "b2", v: 2 },
          { id: "late", v: 7 },
          { id: "newest", v: 9 },
        ]);
      } finally {
        await back.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

whenPostgresAsked((url) => {
  describe("view rebuild from current state (PostgreSQL)", () => {
    const bed = testbed(url);
    after(() => bed.dropSchemas());
    rebuildSuite(() => bed.newStore({ schema: bed.freshSchema() }));
  });
});
