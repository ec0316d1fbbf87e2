import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Broker, BrokerMessage } from "../../broker/port.ts";
import { consumer } from "../../define/consumer.ts";
import { entity } from "../../define/entity.ts";
import { keyValue } from "../../define/key-value.ts";
import { topicConsumer, topicProducer } from "../../define/topic.ts";
import { table, view } from "../../define/view.ts";
import { workflow } from "../../define/workflow.ts";
import { whenPostgresAsked, testbed } from "../../store/postgres/postgres-test-support.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { isCode, until } from "../test-support.ts";
import { postgresBackend, sqliteBackend, type Backend } from "./retention-test-support.ts";

/**
 * Issue 17 item 1 (Property 9): what retention removes, exactly when allowed and never earlier,
 * on SQLite and PostgreSQL. The runtime's clock is virtual (stepped by days); stores stamp feed
 * entries and idempotency records with the real time, which the virtual clock starts at.
 */

const day = 24 * 60 * 60 * 1000;
const minute = 60 * 1000;

const wallet = entity(
  "wallet",
  { initial: () => ({ balance: 0 }), events: { deposited: (s: { balance: number }, e: { amount: number }) => ({ balance: s.balance + e.amount }) } },
  {
    commands: { deposit: (_s, c: { amount: number }, fx) => fx.emit("deposited", c).reply((s) => s.balance) },
    queries: { balance: (s, _c: {}, fx) => fx.reply(s.balance) },
  },
);

const box = keyValue("box", {
  initial: () => ({ v: 0 }),
  commands: { set: (_s, c: { v: number }, fx) => fx.update(c).reply((s) => s) },
});

interface Env {
  /** `pay` steps fail for good after their call while set (the workflow waits for an operator). */
  failCharge: boolean;
  /** The box consumer waits here for instance "late", after its call. */
  lateGate: Promise<void>;
  lateCalled: boolean;
  /** Calls of the `pay` step's journaled side effect (`ctx.run`). */
  charges: number;
}

function components(env: Env) {
  const pay = workflow("pay", {
    start: (input: { wallet: string; amount: number }) => input,
    steps: {
      charge: async (s, _in, ctx) => {
        await ctx.run("charge-card", () => {
          env.charges++;
          return { receipt: `r-${ctx.workflowId}` };
        });
        await ctx.call(wallet, s.wallet).deposit({ amount: s.amount });
        // A second call commits the deposit on its own, with its idempotency record (committed
        // with the end instead, it would need none), which retention then has to remove.
        await ctx.call(wallet, s.wallet).balance({});
        if (env.failCharge) return ctx.fail("declined", "the bank said no");
        return ctx.end();
      },
    },
  });
  const archive = workflow("archive", {
    start: (input: { wallet: string }) => input,
    retentionMs: 0,
    steps: { only: async (_s, _in, ctx) => ctx.end() },
  });
  const watcher = consumer("watcher", {
    source: box,
    state: async (message: { state: unknown }, ctx) => {
      await ctx.call(wallet, `w-${ctx.id}`).deposit({ amount: 1 });
      if (ctx.id === "late") {
        env.lateCalled = true;
        await env.lateGate;
      }
      void message;
    },
  });
  // A view of the boxes that cannot apply b1's state: the entry is parked for the view, which
  // reads it from the feed again when retried, so it holds the feed back below it.
  const boxes = view("boxes", {
    version: 1,
    tables: {
      boxes: table<typeof box, { id: string; v: number }>(box, {
        state: (_row, state, { id }) => {
          if (id === "b1") throw new Error("b1 is not welcome");
          return state === null ? null : { id, v: state.v };
        },
      }),
    },
    queries: { all: "SELECT * FROM boxes ORDER BY id" },
  });
  return [wallet, box, pay, archive, watcher, boxes];
}

function retentionSuite(makeBackend: () => Backend) {
  it("removes-feed-states-finished-workflows-and-idempotency-records-exactly-when-allowed", { timeout: 60_000 }, async () => {
    const backend = makeBackend();
    let releaseLate = () => {};
    const env: Env = { failCharge: false, lateGate: new Promise((resolve) => (releaseLate = resolve)), lateCalled: false, charges: 0 };
    const clock = new VirtualClock(Date.now());
    const store = backend.open();
    const runtime = new Runtime({ store, components: components(env), clock, log: () => {}, snapshotEvery: 2, retention: { intervalMs: 24 * 60 * minute } });
    await runtime.start();
    try {
      // A workflow that ends, first: its states in the feed are below what the view parks below.
      await runtime.call("pay", "p-ended", "start", { wallet: "we", amount: 10 });
      await runtime.workflowResult("pay", "p-ended", 10_000);
      // Entity events (kept forever), with snapshots every 2 events.
      for (let i = 0; i < 5; i++) await runtime.call("wallet", "snap", "deposit", { amount: 1 });
      // Key-value states, read by the consumer.
      for (let i = 0; i < 3; i++) await runtime.call("box", `b${i}`, "set", { v: i });
      await runtime.call("box", "late", "set", { v: 1 }, { idempotencyKey: "client-key" });
      await until("the consumer's call for late", () => env.lateCalled, 15_000);
      // States after "late" wait behind it in the feed: the consumer's offset stays below.
      await runtime.call("box", "after-late", "set", { v: 1 });
      // Workflows: one fails after its call (waits for an operator), one is kept forever.
      env.failCharge = true;
      await runtime.call("pay", "p-failed", "start", { wallet: "wf", amount: 10 });
      await until("p-failed to fail", async () => (await store.loadWorkflow("pay", "p-failed"))?.status === "failed", 15_000);
      env.failCharge = false;
      await runtime.call("archive", "a1", "start", { wallet: "x" });
      await until("a1 to end", async () => (await store.loadWorkflow("archive", "a1"))?.status === "ended", 15_000);
      const head = await store.feedHead();
      const watcher = runtime.consumers.get("watcher")!;
      await until("the consumer to stop at late", async () => (await store.loadOffset("watcher")) === watcher.position && watcher.position > 0, 15_000);
      const consumerOffset = await store.loadOffset("watcher");
      await until("the view to park b1", async () => (await store.views!.listViewParked("boxes", 10)).length === 1, 15_000);
      const b1 = (await store.views!.listViewParked("boxes", 10))[0]!.position;
      const offset = b1 - 1;
      assert.ok(offset < consumerOffset);
      const statesBefore = await backend.count("events", "kind > 0");
      const dedupBefore = await backend.count("dedup");

      const keys = async (like: string) => backend.count("dedup", `key LIKE '${like}' AND component <> '$journal'`);
      const journaled = async (id: string) => backend.count("dedup", `component = '$journal' AND id = 'pay/${id}'`);
      assert.deepEqual([await keys("client-key"), await keys("wf:pay:p-ended:%"), await keys("wf:pay:p-failed:%")], [1, 1, 1]);
      // Each: its ctx.run result, and the mark of its deposit committed on its own (a step done in part).
      assert.deepEqual([await journaled("p-ended"), await journaled("p-failed"), env.charges], [2, 2, 2]);
      assert.equal(await backend.count("dedup", "component = 'wallet' AND id = 'w-b0'"), 1);
      assert.equal(await backend.count("workflow_history", "name = 'pay' AND id = 'p-ended'") > 0, true);
      assert.equal(await backend.count("events", `kind > 0 AND position <= ${offset}`) > 0, true);
      assert.equal(await backend.count("snapshots", "component = 'wallet' AND id = 'snap'"), 1, "one snapshot per instance: a newer one replaces the older");

      // Just before the periods end: nothing goes.
      clock.stepWall(7 * day - minute);
      let run = await runtime.retention.runOnce();
      assert.deepEqual(run.removed, { feed: 0, workflows: 0, idempotency: 0, tombstones: 0, history: 0 }, "nothing before its time");
      assert.equal(await backend.count("events", "kind > 0"), statesBefore);
      assert.equal(await backend.count("dedup"), dedupBefore);

      // Past them: what nothing may need goes.
      clock.stepWall(2 * minute);
      run = await runtime.retention.runOnce();
      assert.equal(run.error, null);
      assert.equal(run.complete, true);
      assert.equal(run.feedFloor, offset);
      assert.equal(run.feedHeldBy, "view:boxes", "the view's parked entry holds the feed lower than the consumer");

      // Feed: states at or below the consumer's offset went; those above it (it fell behind) stay; events stay.
      assert.equal(await backend.count("events", `kind > 0 AND position <= ${offset}`), 0);
      assert.equal(await backend.count("events", `kind > 0 AND position > ${offset}`), statesBefore - run.removed.feed);
      assert.ok(run.removed.feed > 0);
      assert.equal(await backend.count("events", "kind = 0 AND component = 'wallet' AND id = 'snap'"), 5, "entity events are never removed");
      assert.equal(await store.feedHead(), head, "the feed head stays");
      assert.equal(await store.retention.feedPrunedThrough() <= offset, true);
      const pending = await store.readFeed(offset, 100, ["box"]);
      assert.deepEqual(pending.map((e) => e.id), ["b1", "b2", "late", "after-late"], "the view's parked entry and what follows stay");
      const consumerPending = await store.readFeed(consumerOffset, 100, ["box"]);
      assert.deepEqual(consumerPending.map((e) => e.id), ["late", "after-late"], "the lagging consumer keeps its entries");

      // Workflows: the ended one went (with its history), leaving a tombstone; the failed one and the kept-forever one stay.
      assert.equal(await store.loadWorkflow("pay", "p-ended"), undefined);
      assert.equal(await backend.count("workflow_history", "name = 'pay' AND id = 'p-ended'"), 0);
      await assert.rejects(runtime.admin.showWorkflow("pay", "p-ended"), isCode("workflow_removed", 410));
      await assert.rejects(runtime.admin.showWorkflow("pay", "never"), isCode("not_found", 404));
      assert.equal((await store.loadWorkflow("pay", "p-failed"))?.status, "failed");
      assert.equal((await store.loadWorkflow("archive", "a1"))?.status, "ended", "retentionMs 0 keeps it forever");
      assert.equal(run.removed.workflows, 1);

      // Idempotency records: the client's key, the ended workflow's and the passed consumer messages' went;
      // the failed workflow's and the unpassed consumer message's stay.
      assert.equal(await keys("client-key"), 0);
      assert.equal(await keys("wf:pay:p-ended:%"), 0);
      assert.equal(await keys("wf:pay:p-failed:%"), 1, "a failed workflow may run its step again");
      assert.equal(await journaled("p-ended"), 0, "an ended workflow's ctx.run results go with its other records");
      assert.equal(await journaled("p-failed"), 2, "a failed workflow's journal stays: a retry of its step must find its ctx.run results");
      const lateKeys = await backend.count("dedup", "component = 'wallet' AND id = 'w-late'");
      assert.equal(lateKeys, 1, "a consumer message not yet passed may be delivered again");
      assert.equal(await backend.count("dedup", "component = 'wallet' AND id = 'w-b0'"), 0);

      // The failed workflow, retried by an operator more than 7 days after its call, does not deposit twice.
      await runtime.admin.operateWorkflow("pay", "p-failed", "retry");
      await until("p-failed to end", async () => (await store.loadWorkflow("pay", "p-failed"))?.status === "ended", 15_000);
      assert.equal(await runtime.call("wallet", "wf", "balance", {}), 10, "the call was applied once");
      assert.equal(env.charges, 2, "the journaled side effect was not run again, 7 days on");

      const report = await runtime.admin.retention();
      assert.equal(report.lastRun?.removed.workflows, 1);
      assert.deepEqual(report.workflows, [{ name: "pay", retentionMs: 7 * day }, { name: "archive", retentionMs: 0 }]);
      assert.equal(report.runningHere, true);
    } finally {
      releaseLate();
      await runtime.stop();
      await backend.cleanup();
    }
  });

  it("a-removed-workflow's-start-is-refused-while-its-tombstone-lasts-and-started-again-after-it-meets-none-of-its-old-keys-or-versions", { timeout: 60_000 }, async () => {
    const backend = makeBackend();
    // Kept 1 day, under idempotency records kept 7: its second call commits the first alone, with
    // its record `wf:tip:t1:1:0`, and each version is a state in the feed. A second run of t1 sends
    // that key again and writes those versions again, from 1.
    const tip = workflow("tip", {
      start: (input: { wallet: string }) => input,
      retentionMs: day,
      steps: {
        give: async (s, _in, ctx) => {
          await ctx.call(wallet, s.wallet).deposit({ amount: 1 });
          await ctx.call(wallet, s.wallet).balance({});
          return ctx.end();
        },
      },
    });
    // A reader of tip's states that stops at t1's end until let go: it holds t1's states in the feed.
    let letGo = () => {};
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    let seen = 0;
    const tips = consumer("tips", {
      source: tip,
      state: async (message) => {
        if (message.status === "ended") await gate;
        seen++;
      },
    });
    const clock = new VirtualClock(Date.now());
    const store = backend.open();
    const runtime = new Runtime({ store, components: [wallet, tip, tips], clock, log: () => {}, retention: { intervalMs: 24 * 60 * minute } });
    await runtime.start();
    try {
      await runtime.call("tip", "t1", "start", { wallet: "wt" });
      await runtime.workflowResult("tip", "t1", 10_000);
      // The feed's newest entry is never pruned: another write moves it past t1's states.
      await runtime.call("wallet", "other", "deposit", { amount: 1 });
      // The call's record, and the journal's mark that it was kept on its own (a step done in part).
      assert.deepEqual([await backend.count("dedup", "key LIKE 'wf:tip:t1:%' AND component <> '$journal'"), await backend.count("dedup", "key LIKE 'wf:tip:t1:%'")], [1, 2]);
      const states = () => backend.count("events", "component = 'tip' AND id = 't1' AND kind > 0");
      assert.equal(await states() > 0, true);
      const stays = async (why: string) => {
        const run = await runtime.retention.runOnce();
        assert.equal(run.error, null);
        assert.equal(run.removed.workflows, 0, why);
        assert.equal((await store.loadWorkflow("tip", "t1"))?.status, "ended");
      };

      clock.stepWall(day + minute);
      await stays("not removed while its idempotency records are there");
      clock.stepWall(6 * day + minute);
      await stays("not removed while a reader has not passed its states");
      assert.equal(await backend.count("dedup", "key LIKE 'wf:tip:t1:%'"), 0);

      // The reader passes them: the workflow goes, and its states with it.
      const heldAt = await store.loadOffset("tips");
      letGo();
      await until("the reader to pass t1", async () => seen >= 2 && (await store.loadOffset("tips")) > heldAt, 15_000);
      const run = await runtime.retention.runOnce();
      assert.equal(run.removed.workflows, 1);
      assert.equal(await store.loadWorkflow("tip", "t1"), undefined);
      assert.equal(await states(), 0);

      // Its start repeated (a client's retry, a queue's redelivery) would run it again: refused while
      // its tombstone lasts, and nothing is stored (the store refuses a record over a tombstone).
      for (let i = 0; i < 2; i++) {
        await assert.rejects(runtime.call("tip", "t1", "start", { wallet: "wt" }), isCode("workflow_removed", 410));
      }
      assert.equal(await store.loadWorkflow("tip", "t1"), undefined);
      assert.equal(await runtime.call("wallet", "wt", "balance", {}), 1);

      // Once the tombstone is gone, a start is a new workflow, and its call a new one: the deposit is applied again.
      clock.stepWall(90 * day + minute);
      assert.equal((await runtime.retention.runOnce()).removed.tombstones, 1);
      await runtime.call("tip", "t1", "start", { wallet: "wt" });
      assert.equal((await runtime.workflowResult("tip", "t1", 10_000)).status, "ended");
      assert.equal(await runtime.call("wallet", "wt", "balance", {}), 2);
    } finally {
      await runtime.stop();
      await backend.cleanup();
    }
  });
}

describe("retention (SQLite)", () => retentionSuite(sqliteBackend));

describe("retention and topics", () => {
  it("a-parked-topic-message-keeps-its-calls-records-so-a-retry-weeks-later-changes-nothing-twice", { timeout: 30_000 }, async () => {
    const backend = sqliteBackend();
    let failAfterDeposit = true;
    let delivered = false;
    const message: BrokerMessage = {
      stream: "PAY_IN",
      seq: 1,
      subject: "pay.in",
      headers: {},
      data: new TextEncoder().encode(JSON.stringify({ wallet: "w1", amount: 5, ref: "r1" })),
      redelivered: false,
      ack: () => {},
      working: () => {},
    };
    // A broker that delivers one message, once.
    const broker: Broker = {
      url: "test://broker",
      ensureStream: async () => {},
      streamMaking: async () => ({ created: 1, consumerExists: false }),
      subscribe: async () => {
        let end = () => {};
        const ended = new Promise<void>((resolve) => (end = resolve));
        return {
          async *messages() {
            if (!delivered) {
              delivered = true;
              yield message;
            }
            await ended;
          },
          lag: async () => ({ pending: 0, inFlight: 0, ackFloor: 1, head: 1 }),
          close: async () => end(),
        };
      },
      publish: () => Promise.reject(new Error("not used")),
      close: async () => {},
    };
    const payIn = topicConsumer("pay-in", {
      stream: { name: "PAY_IN", subjects: ["pay.in"] },
      idempotencyKey: (body: { wallet: string; amount: number; ref: string }) => `ref:${body.ref}`,
      retry: { maxAttempts: 1 },
      handle: async (body: { wallet: string; amount: number; ref: string }, ctx) => {
        await ctx.call(wallet, body.wallet).deposit({ amount: body.amount });
        if (failAfterDeposit) throw new Error("the ledger is down");
      },
    });
    const clock = new VirtualClock(Date.now());
    const store = backend.open();
    const runtime = new Runtime({ store, components: [wallet, payIn], clock, broker, log: () => {}, retention: { intervalMs: 24 * 60 * minute } });
    await runtime.start();
    try {
      await until("the message parked after its deposit", async () => (await store.listParked("pay-in", 10)).length === 1, 15_000);
      assert.equal(await runtime.call("wallet", "w1", "balance", {}), 5);
      clock.stepWall(8 * day);
      await runtime.retention.runOnce();
      assert.equal(await backend.count("dedup", "key = 'topic:pay-in:ref:r1:0'"), 1, "the parked message's call record stays");
      failAfterDeposit = false;
      assert.deepEqual(await runtime.admin.releaseParked("pay-in", 1, "retry"), { delivered: 1, parked: 0 });
      assert.equal(await runtime.call("wallet", "w1", "balance", {}), 5, "the deposit was not made again");
      // Handled: its records go with the period like any other.
      clock.stepWall(8 * day);
      await runtime.retention.runOnce();
      assert.equal(await backend.count("dedup", "key = 'topic:pay-in:ref:r1:0'"), 0);
    } finally {
      await runtime.stop();
      await backend.cleanup();
    }
  });


  it("states-a-topic-producer-has-not-published-stay-until-it-has", { timeout: 30_000 }, async () => {
    const backend = sqliteBackend();
    // A broker away until `up`: the producer cannot publish, its offset stays where it was.
    let up = false;
    const published: string[] = [];
    const broker: Broker = {
      url: "test://broker",
      ensureStream: async () => {
        if (!up) throw new Error("broker away");
      },
      streamMaking: () => Promise.reject(new Error("not used")),
      subscribe: () => Promise.reject(new Error("not used")),
      publish: async (_subject, _data, options) => {
        if (!up) throw new Error("broker away");
        published.push(options.msgId);
        return { seq: published.length, duplicate: false };
      },
      close: async () => {},
    };
    const boxChanges = topicProducer("box-changes", {
      source: box,
      stream: { name: "BOXES", subjects: ["boxes.>"] },
      subject: (c) => `boxes.${c.id}`,
      message: (c) => c.payload,
    });
    const clock = new VirtualClock(Date.now());
    const store = backend.open();
    const runtime = new Runtime({ store, components: [box, boxChanges], clock, broker, log: () => {}, retention: { intervalMs: 24 * 60 * minute } });
    await runtime.start();
    try {
      for (let i = 0; i < 3; i++) await runtime.call("box", `b${i}`, "set", { v: i });
      await runtime.call("box", "last", "set", { v: 9 });
      const states = await backend.count("events", "kind > 0");
      clock.stepWall(8 * day);
      let run = await runtime.retention.runOnce();
      assert.equal(run.removed.feed, 0, "nothing the producer has not published goes");
      assert.equal(run.feedHeldBy, "producer:box-changes");
      assert.equal(await backend.count("events", "kind > 0"), states);
      // The broker comes back: every state is published, then retention may remove them.
      up = true;
      await until("every state published", () => published.length === 4, 15_000);
      await until("the producer's offset stored", async () => (await store.loadOffset("box-changes")) === (await store.feedHead()), 15_000);
      run = await runtime.retention.runOnce();
      assert.equal(run.removed.feed, 3, "the states the producer passed go (the feed head stays)");
    } finally {
      await runtime.stop();
      await backend.cleanup();
    }
  });
});

whenPostgresAsked((url) => {
  describe("retention (PostgreSQL)", () => {
    retentionSuite(() => postgresBackend(url));

    it("on-several-nodes-one-node-at-a-time-runs-retention-under-its-lease", { timeout: 30_000 }, async () => {
      const bed = testbed(url);
      const schema = bed.freshSchema();
      const env: Env = { failCharge: false, lateGate: Promise.resolve(), lateCalled: false, charges: 0 };
      // Node b was started with another workflows period: each node names the other as disagreeing.
      const nodes = ["a", "b"].map(
        (nodeName) =>
          new Runtime({ store: bed.newStore({ schema }), components: components(env), nodeName, leaseMs: 1_000, log: () => {}, ...(nodeName === "b" ? { retention: { workflowsMs: 60_000 } } : {}) }),
      );
      try {
        for (const node of nodes) await node.start();
        const disagreeing = await nodes[0]!.admin.retention();
        assert.deepEqual(
          disagreeing.otherSettings?.map((o) => [o.node.startsWith("b"), o.settings.workflowsMs]),
          [[true, 60_000]],
        );
        assert.equal((await nodes[1]!.admin.retention()).otherSettings?.[0]?.settings.workflowsMs, disagreeing.settings.workflowsMs);
        const runningHere = async () => Promise.all(nodes.map(async (n) => (await n.admin.retention()).runningHere));
        await until("a node to hold the retention lease", async () => (await runningHere()).includes(true), 15_000);
        assert.deepEqual((await runningHere()).filter(Boolean), [true], "exactly one node runs retention");
        // The holder stops: the other takes retention over.
        const holder = (await runningHere()).indexOf(true);
        await nodes[holder]!.stop();
        const other = nodes[1 - holder]!;
        await until("the other node to take retention over", async () => (await other.admin.retention()).runningHere, 15_000);
      } finally {
        for (const node of nodes) await node.stop();
        await bed.dropSchemas();
      }
    });
  });
});
