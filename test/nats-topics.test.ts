import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connect, type JetStreamManager } from "nats";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { consumer, createSagaflow, deferred, keyValue, memoryStore, service, sqlite, topicConsumer, topicProducer, type Sagaflow } from "../src/index.ts";
import { runtimeOf } from "../src/host/create-sagaflow.ts";
import { until } from "../src/runtime/test-support.ts";
import { NatsServer, natsServerOrSay, publishText, testBroker } from "./support/nats-server.ts";
import { sleep } from "./support/server-process.ts";

/**
 * Topic consumers and producers in process, against a NATS server of the test's own: per-key
 * order with other keys in parallel, a poison message and a bad body parked (holding back only
 * their key) and released by retry and skip; the producer's per-instance order, and a broker
 * outage during which commands are still accepted and after which everything is published once;
 * consumers publishing their own messages (`ctx.publish`), once each, through retries and an outage.
 */

const binary = natsServerOrSay("NATS topics test");

const list = keyValue("list", {
  initial: (): string[] => [],
  commands: { append: (s, c: { v: string }, fx) => fx.update([...s, c.v]).reply((s) => s.length) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
});

async function streamBodies(jsm: JetStreamManager, stream: string) {
  const info = await jsm.streams.info(stream);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push({ subject: m.subject, body: m.json<{ id: string; items: string[] }>(), msgId: m.header.get("Nats-Msg-Id") });
  }
  return out;
}

if (binary) {
  describe("topic consumers and producers on NATS JetStream", () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    });

    it("orders per key, parks a poison message and a bad body, and releases them", async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      let poisonCured = false;
      const lines = topicConsumer("lines", {
        stream: { name: "LINES", subjects: ["lines.>"] },
        key: { subjectToken: 1 },
        retry: { maxAttempts: 2, initialBackoffMs: 1 },
        handle: async (body: { v: string }, ctx) => {
          if (body.v === "poison" && !poisonCured) throw new Error("poisoned");
          await ctx.call(list, ctx.key).append({ v: body.v });
        },
      });
      const logs: string[] = [];
      const app: Sagaflow = createSagaflow(service("lines", [list, lines]), { store: memoryStore(), natsUrl: nats.url, log: (l) => logs.push(l) });
      cleanups.push(() => app.stop());
      await app.start();
      const broker = await testBroker(nats.url);
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "LINES", subjects: ["lines.>"] });
      const send = (subject: string, text: string, id: string) => publishText(broker, subject, text, id);
      for (let i = 0; i < 20; i++) {
        await send("lines.a", JSON.stringify({ v: `a${i}` }), `a${i}`);
        await send("lines.b", JSON.stringify({ v: i === 5 ? "poison" : `b${i}` }), `b${i}`);
        await send("lines.c", i === 3 ? "{not json" : JSON.stringify({ v: `c${i}` }), `c${i}`);
      }
      const get = (id: string) => app.client.call(list, id).get({});
      await until("key a done", async () => (await get("a")).length === 20, 30_000, { everyMs: 50 });
      assert.deepEqual(await get("a"), Array.from({ length: 20 }, (_, i) => `a${i}`));
      const admin = runtimeOf(app)!.admin;
      await until("b and c parked", async () => (await admin.parked("lines", 100)).length === 15 + 17, 30_000, { everyMs: 50 });
      // b stopped at the poison message, c at the bad body: each holds back only its own key.
      assert.deepEqual(await get("b"), ["b0", "b1", "b2", "b3", "b4"]);
      assert.deepEqual(await get("c"), ["c0", "c1", "c2"]);
      const parked = await admin.parked("lines", 100);
      assert.deepEqual(parked.filter((p) => p.blockedBy === null).map((p) => p.entry.id).sort(), ["b", "c"]);
      assert.equal(parked.find((p) => p.entry.id === "c" && p.blockedBy === null)!.error.code, "invalid_json");
      assert.match(parked.find((p) => p.entry.id === "b" && p.blockedBy === null)!.error.message, /poisoned/);
      const bHead = parked.find((p) => p.entry.id === "b" && p.blockedBy === null)!.entry.position;
      const cHead = parked.find((p) => p.entry.id === "c" && p.blockedBy === null)!.entry.position;

      // Retrying the poison message while it still fails parks it again, with those behind it.
      assert.deepEqual(await admin.releaseParked("lines", bHead, "retry"), { delivered: 0, parked: 15 });
      poisonCured = true;
      assert.deepEqual(await admin.releaseParked("lines", bHead, "retry"), { delivered: 15, parked: 0 });
      assert.deepEqual(await get("b"), Array.from({ length: 20 }, (_, i) => (i === 5 ? "poison" : `b${i}`)));
      // The bad body cannot be fixed: skipped, the rest of c follows in order.
      assert.deepEqual(await admin.releaseParked("lines", cHead, "skip"), { delivered: 16, parked: 0 });
      assert.deepEqual(await get("c"), Array.from({ length: 20 }, (_, i) => `c${i}`).filter((v) => v !== "c3"));
      assert.deepEqual(await admin.parked("lines", 100), []);
      // Later messages of a released key are not held any more.
      await send("lines.b", JSON.stringify({ v: "b20" }), "b20");
      await until("b20", async () => (await get("b")).length === 21, 30_000, { everyMs: 50 });
      const report = (await admin.consumers()).consumers.find((c) => c.name === "lines");
      assert.equal(report?.parked, 0);
      assert.equal(report?.source, "stream LINES");
    });

    it("a timer a redelivered message starts again, after the first fired, changes its target once", async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const counter = keyValue("counter", {
        initial: () => ({ n: 0 }),
        commands: { inc: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply((after) => after) },
        queries: { get: (s, _: {}, fx) => fx.reply(s) },
      });
      let deliveries = 0;
      const bells = topicConsumer("bells", {
        stream: { name: "BELLS", subjects: ["bells.>"] },
        retry: { maxAttempts: 3, initialBackoffMs: 300 },
        handle: async (_body: {}, ctx) => {
          await ctx.timers.start("ring", 0, deferred(counter, "c").inc({}));
          // The first delivery fails after its timer started (and, due at once, fired).
          if (deliveries++ === 0) throw new Error("flaky after starting the timer");
        },
      });
      const app: Sagaflow = createSagaflow(service("bells", [counter, bells]), { store: memoryStore(), natsUrl: nats.url, log: () => {} });
      cleanups.push(() => app.stop());
      await app.start();
      const broker = await testBroker(nats.url);
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "BELLS", subjects: ["bells.>"] });
      await publishText(broker, "bells.x", "{}", "ring-1");
      const timers = runtimeOf(app)!.store;
      await until("delivered again and its timers fired", async () => deliveries >= 2 && (await timers.listTimers(undefined, 10)).length === 0, 30_000, { everyMs: 50 });
      await sleep(300);
      assert.deepEqual(await app.client.call(counter, "c").get({}), { n: 1 });
    });

    it("publishes each instance's changes in order, and waits out a broker outage", async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const changes = topicProducer("list-changes", {
        source: list,
        stream: { name: "LISTS", subjects: ["lists.>"] },
        subject: (c) => `lists.${c.id}`,
        message: (c) => ({ id: c.id, items: c.payload }),
      });
      const app = createSagaflow(service("lists", [list, changes]), { store: memoryStore(), natsUrl: nats.url, log: () => {} });
      cleanups.push(() => app.stop());
      await app.start();
      const appendAll = (from: number, to: number) =>
        Promise.all(["x", "y", "z"].map(async (id) => {
          for (let i = from; i < to; i++) await app.client.call(list, id).append({ v: String(i) });
        }));
      await appendAll(0, 30);
      await nats.stop();
      // The broker is away: commands are still accepted (they only write the feed).
      await appendAll(30, 60);
      await sleep(300);
      await nats.start();
      const connection = await connect({ servers: nats.url });
      cleanups.push(() => connection.close());
      const jsm = await connection.jetstreamManager();
      let bodies: Awaited<ReturnType<typeof streamBodies>> = [];
      await until("180 messages", async () => {
        bodies = await streamBodies(jsm, "LISTS").catch(() => []);
        return bodies.length >= 180;
      }, 30_000, { everyMs: 50 });
      await sleep(500);
      bodies = await streamBodies(jsm, "LISTS");
      assert.equal(bodies.length, 180, "each change once (re-publishes dropped by Nats-Msg-Id)");
      // Listed with the consumers, a producer's parked list is empty, not 404 (the console links to it).
      assert.deepEqual(await runtimeOf(app)!.admin.parked("list-changes", 10), []);
      for (const id of ["x", "y", "z"]) {
        const lengths = bodies.filter((b) => b.body.id === id).map((b) => b.body.items.length);
        assert.deepEqual(lengths, Array.from({ length: 60 }, (_, i) => i + 1), `order of ${id}`);
      }
      assert.equal(new Set(bodies.map((b) => b.msgId)).size, 180);
    });

    it("consumers publish their own messages once each, in order, through retries and an outage", { timeout: 60_000 }, async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const failedOnce = new Set<string>();
      // A feed consumer: each list state, as {id, length}; the first delivery of every 5th fails after publishing.
      const echo = consumer("list-echo", {
        source: list,
        publishTo: { name: "ECHOES", subjects: ["echoes.>"] },
        retry: { maxAttempts: 3, initialBackoffMs: 1 },
        state: async ({ state }: { state: string[] }, ctx) => {
          const subject = ctx.id === "bad" ? "elsewhere.bad" : `echoes.${ctx.id}`;
          await ctx.publish(subject, { id: ctx.id, length: state.length }, { type: "list.length" });
          const once = `${ctx.id}:${state.length}`;
          if (state.length % 5 === 0 && !failedOnce.has(once)) {
            failedOnce.add(once);
            throw new Error("failed after publishing");
          }
        },
      });
      // A topic consumer relaying `in.*` to `relayed.*`, keyed by the body's ref: the same ref twice is relayed once.
      const relay = topicConsumer("relay", {
        stream: { name: "IN", subjects: ["in.>"] },
        publishTo: { name: "RELAYED", subjects: ["relayed.>"] },
        idempotencyKey: (body: { ref: string }) => body.ref,
        handle: async (body: { ref: string }, ctx) => {
          await ctx.publish(`relayed.${ctx.subject.split(".")[1]}`, body);
        },
      });
      const app = createSagaflow(service("echo", [list, echo, relay]), { store: memoryStore(), natsUrl: nats.url, log: () => {} });
      cleanups.push(() => app.stop());
      await app.start();
      const appendAll = (from: number, to: number) =>
        Promise.all(["x", "y"].map(async (id) => {
          for (let i = from; i < to; i++) await app.client.call(list, id).append({ v: String(i) });
        }));
      await appendAll(0, 20);
      await app.client.call(list, "bad").append({ v: "0" });
      const broker = await testBroker(nats.url);
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "IN", subjects: ["in.>"] });
      for (const [i, ref] of ["r1", "r2", "r1", "r3"].entries()) await publishText(broker, `in.k${i}`, JSON.stringify({ ref }), `in-${i}`);
      await sleep(300);
      await nats.stop();
      // Away: the consumer waits with its message in hand; commands go on.
      await appendAll(20, 30);
      await sleep(300);
      await nats.start();

      const connection = await connect({ servers: nats.url });
      cleanups.push(() => connection.close());
      const jsm = await connection.jetstreamManager();
      const read = async (stream: string) => {
        const info = await jsm.streams.info(stream);
        const out = [];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const m = await jsm.streams.getMessage(stream, { seq });
          out.push({ subject: m.subject, body: m.json<{ id: string; length: number; ref: string }>(), msgId: m.header.get("Nats-Msg-Id"), type: m.header.get("ce-type") });
        }
        return out;
      };
      await until("60 echoes", async () => ((await jsm.streams.info("ECHOES").catch(() => undefined))?.state.messages ?? 0) >= 60, 30_000, { everyMs: 50 });
      await sleep(500);
      const echoes = await read("ECHOES");
      assert.equal(echoes.length, 60, "each state once: the retries' re-publishes were dropped");
      for (const id of ["x", "y"]) {
        assert.deepEqual(echoes.filter((e) => e.body.id === id).map((e) => e.body.length), Array.from({ length: 30 }, (_, i) => i + 1), `order of ${id}`);
      }
      assert.ok(echoes.every((e) => e.type === "list.length" && /^list-echo:\d+:0$/.test(e.msgId)));
      // A subject outside the stream is the handler's failure: parked, with a clear error.
      const parked = await runtimeOf(app)!.admin.parked("list-echo", 10);
      assert.deepEqual(parked.map((p) => p.entry.id), ["bad"]);
      assert.match(parked[0]!.error.message, /subject "elsewhere.bad" is not in stream ECHOES/);

      const relayed = await read("RELAYED");
      assert.deepEqual(relayed.map((m) => m.body.ref), ["r1", "r2", "r3"], "the same ref relayed once");
      assert.deepEqual(relayed.map((m) => m.msgId), ["relay:r1:0", "relay:r2:0", "relay:r3:0"]);
    });

    it("while the broker is away, a topic consumer's report keeps the figures last seen and says they are old (not zeros)", { timeout: 60_000 }, async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const tally = topicConsumer("tally", {
        stream: { name: "TALLY", subjects: ["tally.>"] },
        key: { subjectToken: 1 },
        handle: async (body: { v: string }, ctx) => void (await ctx.call(list, ctx.key).append({ v: body.v })),
      });
      const app = createSagaflow(service("tally", [list, tally]), { store: memoryStore(), natsUrl: nats.url, log: () => {} });
      cleanups.push(() => app.stop());
      await app.start();
      const broker = await testBroker(nats.url);
      await broker.ensureStream({ name: "TALLY", subjects: ["tally.>"] });
      for (const v of ["1", "2", "3"]) await publishText(broker, "tally.t", JSON.stringify({ v }), v);
      await broker.close();
      await until("3 handled", async () => (await app.client.call(list, "t").get({})).length === 3, 30_000, { everyMs: 50 });
      const report = async () => (await runtimeOf(app)!.admin.consumers()).consumers.find((c) => c.name === "tally")!;
      await until("the ack floor at 3", async () => (await report()).offset === 3, 30_000, { everyMs: 50 });
      await nats.stop();
      const away = await report();
      assert.deepEqual([away.offset, away.head, away.lag], [3, 3, 0]);
      assert.match(away.lastError ?? "", /the broker does not answer: figures as of \d{4}-/);
      await nats.start();
    });

    it("a stream deleted and made again: new messages at the sequences of parked ones are handled, not dropped", { timeout: 60_000 }, async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const dir = mkdtempSync(join(tmpdir(), "sagaflow-topics-recreated-"));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const notes = topicConsumer("notes", {
        stream: { name: "NOTES", subjects: ["notes.>"] },
        key: { subjectToken: 1 },
        handle: async (body: { v: string }, ctx) => void (await ctx.call(list, ctx.key).append({ v: body.v })),
      });
      const open = (logs: string[]) => createSagaflow(service("notes", [list, notes]), { store: sqlite(join(dir, "db.sqlite")), natsUrl: nats.url, log: (l) => logs.push(l) });
      const broker = await testBroker(nats.url);
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "NOTES", subjects: ["notes.>"] });

      const first = open([]);
      await first.start();
      await publishText(broker, "notes.x", "oops", "oops"); // sequence 1: parked
      await until("oops parked", async () => (await runtimeOf(first)!.admin.parked("notes", 10)).length === 1, 30_000, { everyMs: 50 });
      await first.stop();

      const nc = await connect({ servers: nats.url });
      cleanups.push(() => nc.close());
      await (await nc.jetstreamManager()).streams.delete("NOTES");
      await broker.ensureStream({ name: "NOTES", subjects: ["notes.>"] });
      const logs: string[] = [];
      const second = open(logs);
      cleanups.push(() => second.stop());
      await second.start();
      await publishText(broker, "notes.y", JSON.stringify({ v: "y1" }), "y1"); // sequence 1 again
      await publishText(broker, "notes.y", JSON.stringify({ v: "y2" }), "y2");
      await until("y1 and y2 handled", async () => (await second.client.call(list, "y").get({})).length === 2, 30_000, { everyMs: 50 });
      assert.deepEqual(await second.client.call(list, "y").get({}), ["y1", "y2"]);
      assert.ok(logs.some((l) => /stream NOTES holds another message at sequence 1 than the one parked there/.test(l)), logs.join("\n"));
    });

    it("a handler that hangs is given up on after timeoutMs and parked as handler_timeout, holding back only its key", { timeout: 60_000 }, async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const slow = topicConsumer("slow", {
        stream: { name: "SLOW", subjects: ["slow.>"] },
        key: { subjectToken: 1 },
        timeoutMs: 200,
        retry: { maxAttempts: 2, initialBackoffMs: 1 },
        handle: async (body: { v: string }, ctx) => {
          if (body.v === "hang") await new Promise(() => {});
          await ctx.call(list, ctx.key).append({ v: body.v });
        },
      });
      const app = createSagaflow(service("slow", [list, slow]), { store: memoryStore(), natsUrl: nats.url, log: () => {} });
      cleanups.push(() => app.stop());
      await app.start();
      const broker = await testBroker(nats.url);
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "SLOW", subjects: ["slow.>"] });
      await publishText(broker, "slow.h", JSON.stringify({ v: "hang" }), "h1");
      await publishText(broker, "slow.h", JSON.stringify({ v: "behind" }), "h2");
      await publishText(broker, "slow.o", JSON.stringify({ v: "other" }), "o1");
      const admin = runtimeOf(app)!.admin;
      await until("the hung message parked", async () => (await admin.parked("slow", 10)).some((p) => p.entry.position === 1), 30_000, { everyMs: 50 });
      const head = (await admin.parked("slow", 10)).find((p) => p.entry.position === 1)!;
      assert.deepEqual([head.error.code, head.attempts], ["handler_timeout", 2]);
      await until("the other key handled", async () => (await app.client.call(list, "o").get({})).length === 1, 30_000, { everyMs: 50 });
      assert.deepEqual(await app.client.call(list, "h").get({}), [], "the message behind the hung one waits for it");
    });

    it("a stream deleted and made again: a message at a handled one's sequence, with the same body, is handled again, not taken for a repeat", { timeout: 60_000 }, async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const seen: string[] = [];
      const ticks = topicConsumer("ticks", {
        stream: { name: "TICKS", subjects: ["ticks.>"] },
        key: { subjectToken: 1 },
        handle: async (body: { v: string }, ctx) => {
          seen.push(ctx.idempotencyKey);
          await ctx.call(list, ctx.key).append({ v: body.v });
        },
      });
      const app = createSagaflow(service("ticks", [list, ticks]), { store: memoryStore(), natsUrl: nats.url, log: () => {} });
      cleanups.push(() => app.stop());
      await app.start();
      const broker = await testBroker(nats.url);
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "TICKS", subjects: ["ticks.>"] });
      await publishText(broker, "ticks.t", JSON.stringify({ v: "tick" }), "first"); // sequence 1
      await until("the first tick handled", async () => (await app.client.call(list, "t").get({})).length === 1, 30_000, { everyMs: 50 });

      const nc = await connect({ servers: nats.url });
      cleanups.push(() => nc.close());
      await (await nc.jetstreamManager()).streams.delete("TICKS");
      await broker.ensureStream({ name: "TICKS", subjects: ["ticks.>"] });
      await publishText(broker, "ticks.t", JSON.stringify({ v: "tick" }), "second"); // sequence 1 again, the same call
      await until("the second tick handled", async () => (await app.client.call(list, "t").get({})).length === 2, 20_000, { everyMs: 50 });
      assert.deepEqual(await app.client.call(list, "t").get({}), ["tick", "tick"]);
      assert.equal(seen.length, 2);
      // The first stream's messages keep the bare sequence (the keys of before epochs were kept); the next stream's name its epoch.
      assert.deepEqual(seen, ["1", "1@1"]);
    });
  });
}
