import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connect } from "nats";
import { keyValue, topicConsumer, topicProducer } from "../src/index.ts";
import { natsBroker } from "../src/broker/nats-broker.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { until } from "../src/runtime/test-support.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { NatsServer, natsServerOrSay, testBroker } from "./support/nats-server.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { sleep } from "./support/server-process.ts";

/**
 * Topic consumers and producers on several nodes sharing one PostgreSQL schema (issue 16), with a
 * NATS server of the test's own. Node A starts alone; node B joins while messages flow (the nodes
 * even out their leases, so work may move); then the node delivering the stream stops and node C
 * starts. Through both hand-overs:
 *
 * - the consumer applies every message once, in stream order per key: each key's list (appends,
 *   which do no de-duplication of their own) ends as exactly its messages, in order;
 * - the producer publishes every committed change of the lists, in order per list, and the stream
 *   holds each once (a re-publish by the node taking over is dropped by its Nats-Msg-Id).
 *
 * A second test stalls the node delivering the stream (every database call it makes hangs, as in a
 * long GC pause or a partition): it loses its lease, the other node takes the stream over from its
 * ack floor, and when the stalled node wakes, the calls it had in flight land late. Still each
 * message once, in order per key.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL and SAGAFLOW_NATS_SERVER set.
 */

const url = postgresUrlOrSay("PostgreSQL NATS topics test");
const binary = natsServerOrSay("PostgreSQL NATS topics test");
const encoder = new TextEncoder();

const list = keyValue("list", {
  initial: (): number[] => [],
  commands: { append: (s, c: { v: number }, fx) => fx.update([...s, c.v]).reply((s) => s.length) },
});
const lines = topicConsumer("lines", {
  stream: { name: "LINES", subjects: ["lines.>"] },
  key: { subjectToken: 1 },
  maxInFlight: 64,
  handle: async (body: { v: number }, ctx) => {
    await ctx.call(list, ctx.key).append({ v: body.v });
  },
});
const listChanges = topicProducer("list-changes", {
  source: list,
  stream: { name: "LISTS", subjects: ["lists.>"] },
  subject: (c) => `lists.${c.id}`,
  message: (c) => ({ id: c.id, items: c.payload }),
});

/**
 * The store of a node that can be stalled: while `stalled()` gives a promise, every call (cluster
 * heartbeats and leases too) waits for it before it goes to the database.
 */
function stallable<T extends object>(inner: T, stalled: () => Promise<void> | undefined): T {
  return new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === "status" || prop === "poolStats") return typeof value === "function" ? value.bind(target) : value;
      if (typeof value === "function") {
        return async (...args: unknown[]) => {
          await stalled();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop === "cluster" || prop === "retention" || prop === "views") return value && stallable(value, stalled);
      return value;
    },
  });
}

const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
const perKey = 100;

if (url && binary) {
  describe("topic consumers and producers on two PostgreSQL nodes", () => {
    const schemas = new SchemaPool(url);
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      await schemas.dropAll();
    });

    /** A NATS server and a schema of the test's own, nodes on them, and the checks of the outcome. */
    async function setUp(label: string) {
      await assertPostgresReachable(url!);
      const schema = schemas.fresh(label);
      const nats = await NatsServer.start(binary!);
      cleanups.push(() => nats.cleanup());
      const running = new Set<Runtime>();
      cleanups.push(async () => {
        for (const runtime of running) await runtime.stop();
      });
      const startNode = async (nodeName: string, stalled: () => Promise<void> | undefined = () => undefined) => {
        const runtime = new Runtime({
          store: stallable(new PostgresStore({ connectionString: url!, schema, poolSize: 4 }), stalled),
          components: [list, lines, listChanges],
          broker: natsBroker(nats.url, () => {}),
          nodeName,
          leaseMs: 1_000,
          log: () => {},
        });
        await runtime.start();
        running.add(runtime);
        return runtime;
      };
      const stopNode = async (runtime: Runtime) => {
        running.delete(runtime);
        await runtime.stop();
      };
      const delivering = () => [...running].filter((r) => r.topics.consumers.get("lines")!.delivering);

      const publisher = await testBroker(nats.url);
      cleanups.push(() => publisher.close());
      await publisher.ensureStream({ name: "LINES", subjects: ["lines.>"] });
      let sent = 0;
      const publishUpTo = async (v: number) => {
        for (; sent < v; sent++) {
          for (const key of keys) await publisher.publish(`lines.${key}`, encoder.encode(JSON.stringify({ v: sent })), { msgId: `${key}-${sent}` });
        }
      };

      const reader = new PostgresStore({ connectionString: url!, schema, poolSize: 2 });
      cleanups.push(() => reader.close());
      const applied = async () => Promise.all(keys.map(async (key) => ((await reader.loadKv("list", key))?.state as number[] | undefined) ?? []));
      const total = async () => (await applied()).reduce((n, items) => n + items.length, 0);

      /** Every message applied once, in stream order per key; every change published once, in order per list. */
      const checkOutcome = async () => {
        await until("every message applied", async () => (await total()) >= keys.length * perKey, 90_000, { everyMs: 100 });
        await sleep(500);
        for (const [i, items] of (await applied()).entries()) {
          assert.deepEqual(items, Array.from({ length: perKey }, (_, v) => v), `list ${keys[i]}: each message once, in stream order`);
        }
        assert.deepEqual(await reader.listParked("lines", 10), [], "nothing parked");

        const connection = await connect({ servers: nats.url });
        cleanups.push(() => connection.close());
        const jsm = await connection.jetstreamManager();
        const expected = keys.length * perKey;
        await until("every change published", async () => ((await jsm.streams.info("LISTS").catch(() => undefined))?.state.messages ?? 0) >= expected, 90_000, { everyMs: 100 });
        await sleep(1_000);
        const info = await jsm.streams.info("LISTS");
        assert.equal(info.state.messages, expected, "each change once: re-publishes were dropped");
        const lengths = new Map<string, number[]>();
        const msgIds = new Set<string>();
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const m = await jsm.streams.getMessage("LISTS", { seq });
          const body = m.json<{ id: string; items: number[] }>();
          lengths.set(body.id, [...(lengths.get(body.id) ?? []), body.items.length]);
          msgIds.add(m.header.get("Nats-Msg-Id"));
        }
        assert.equal(msgIds.size, expected);
        for (const key of keys) {
          assert.deepEqual(lengths.get(key), Array.from({ length: perKey }, (_, i) => i + 1), `changes of ${key} in order, each once`);
        }
      };
      return { startNode, stopNode, delivering, publishUpTo, total, checkOutcome };
    }

    it("applies each message once in per-key order and publishes each change once, through hand-overs", { timeout: 180_000 }, async () => {
      const { startNode, stopNode, delivering, publishUpTo, total, checkOutcome } = await setUp("topics");
      await startNode("a");
      await publishUpTo(30);
      await until("node a to apply some", async () => (await total()) > 0, 90_000, { everyMs: 100 });
      // Node B joins while messages flow: the nodes even out their leases.
      await startNode("b");
      await publishUpTo(60);
      await until("a node delivering the stream", async () => delivering().length === 1, 90_000, { everyMs: 100 });
      await until("more applied", async () => (await total()) >= 300, 90_000, { everyMs: 100 });
      // The node delivering the stream stops mid-stream; node C starts.
      await stopNode(delivering()[0]!);
      await startNode("c");
      await publishUpTo(perKey);
      await checkOutcome();
    });

    it("a node stalled mid-stream loses the stream to the other, and its late calls change nothing twice", { timeout: 180_000 }, async () => {
      const { startNode, delivering, publishUpTo, total, checkOutcome } = await setUp("stall");
      // Each node can be stalled; whichever takes the stream first is the one to stall.
      const gates = ["a", "b"].map(() => ({ stalled: undefined as Promise<void> | undefined, wake: () => {} }));
      const nodes = [await startNode("a", () => gates[0]!.stalled), await startNode("b", () => gates[1]!.stalled)];
      await until("a node delivering the stream", async () => delivering().length === 1, 90_000, { everyMs: 100 });
      const stallerIndex = nodes.indexOf(delivering()[0]!);
      const other = nodes[1 - stallerIndex]!;
      const gate = gates[stallerIndex]!;
      await publishUpTo(40);
      await until("some applied", async () => (await total()) >= 100, 90_000, { everyMs: 100 });
      // Stall it with messages in hand (its database calls wait; its NATS connection lives on).
      gate.stalled = new Promise<void>((resolve) => (gate.wake = resolve));
      await until("the other node to take the stream over", async () => other.topics.consumers.get("lines")!.delivering, 90_000, { everyMs: 100 });
      await publishUpTo(70);
      // It wakes: the calls it had in flight go to the database, late.
      gate.stalled = undefined;
      gate.wake();
      await publishUpTo(perKey);
      await checkOutcome();
    });
  });
}
