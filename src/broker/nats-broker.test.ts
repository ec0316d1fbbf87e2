import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { freePort, NatsServer, natsServerOrSay } from "../../test/support/nats-server.ts";
import { connect, type JetStreamManager } from "nats";
import { connectNats, NatsBroker, natsBroker } from "./nats-broker.ts";
import type { Broker, BrokerMessage } from "./port.ts";

/**
 * The NATS JetStream adapter against a server of the test's own: a message id published twice is
 * stored once; a durable subscription resumes at its ack floor, delivering again (in stream order)
 * every message it had not acknowledged, and never one below the floor. The background connection
 * waits out a server that is not there yet, and gives up for good once the broker is closed.
 */

const binary = natsServerOrSay("NATS broker adapter test");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function take(broker: Broker, count: number): Promise<{ messages: BrokerMessage[]; close: () => Promise<void> }> {
  const subscription = await broker.subscribe({ stream: "T", durable: "d", maxInFlight: 100, ackWaitMs: 30_000 });
  const messages: BrokerMessage[] = [];
  for await (const m of subscription.messages()) {
    messages.push(m);
    if (messages.length === count) break;
  }
  return { messages, close: () => subscription.close() };
}

/**
 * A process whose broker never connected and was closed: it must stop trying (a retry loop left
 * behind would keep it alive for ever) and refuse the call that waited for the connection.
 */
const closedBeforeConnect = `
const { natsBroker } = await import(process.env.BROKER_MODULE);
const lines = [];
const broker = natsBroker(process.env.BROKER_URL, (line) => lines.push(line));
const waiting = broker.publish("t.a", new Uint8Array(), { msgId: "m" }).then(() => "published", (e) => "refused: " + e.message);
while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
await broker.close();
console.log(JSON.stringify({ waiting: await waiting, lines }));
`;

describe("NATS broker, connecting in the background", () => {
  it("a-broker-closed-before-it-ever-connected-stops-trying-and-refuses-the-waiting-calls", { timeout: 30_000 }, async () => {
    // With credentials in the URL: no line or error may hold them.
    const url = `nats://sagaflow:hunter2-secret@127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", closedBeforeConnect], {
      env: { ...process.env, BROKER_MODULE: fileURLToPath(new URL("./nats-broker.ts", import.meta.url)), BROKER_URL: url },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    // Exiting on its own is the point: give it far longer than it needs, then call it stuck.
    const exited = await new Promise<boolean>((resolve) => {
      const stuck = setTimeout(() => resolve(false), 20_000);
      child.once("exit", () => {
        clearTimeout(stuck);
        resolve(true);
      });
    });
    if (!exited) child.kill("SIGKILL");
    assert.equal(exited, true, `the process still runs after close (still connecting?): ${out}`);
    const report = JSON.parse(out) as { waiting: string; lines: string[] };
    assert.match(report.waiting, /^refused: .*closed before it connected/);
    assert.match(report.lines[0]!, /CONNECTION_REFUSED.*trying again/);
    assert.match(report.lines[0]!, /broker nats:\/\/127\.0\.0\.1:\d+:/);
    assert.doesNotMatch(`${report.waiting}\n${report.lines.join("\n")}`, /hunter2|sagaflow:hunter/);
  });
});

if (binary) {
  describe("NATS JetStream adapter", () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    });

    it("drops a re-published message id and resumes a durable at its ack floor", async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const broker = await connectNats(nats.url, () => {});
      cleanups.push(() => broker.close());
      await broker.ensureStream({ name: "T", subjects: ["t.>"] });
      await broker.ensureStream({ name: "T", subjects: ["t.>"] }); // already there: fine
      const first = await broker.publish("t.a", encoder.encode("1"), { msgId: "m1", headers: { "ce-type": "x" } });
      const again = await broker.publish("t.a", encoder.encode("1"), { msgId: "m1" });
      assert.deepEqual([first.duplicate, again.duplicate, again.seq], [false, true, first.seq]);
      for (let i = 2; i <= 5; i++) await broker.publish("t.b", encoder.encode(String(i)), { msgId: `m${i}` });

      const one = await take(broker, 5);
      assert.deepEqual(one.messages.map((m) => decoder.decode(m.data)), ["1", "2", "3", "4", "5"]);
      assert.equal(one.messages[0]!.headers["ce-type"], "x");
      // Acknowledge 1, 2 and 4 (not 3 or 5), then "crash".
      for (const m of [one.messages[0]!, one.messages[1]!, one.messages[3]!]) m.ack();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await one.close();

      const two = await take(broker, 3);
      // From the ack floor (2): 3, then 4 (acknowledged, above the floor: again), then 5.
      assert.deepEqual(two.messages.map((m) => decoder.decode(m.data)), ["3", "4", "5"]);
      for (const m of two.messages) m.ack();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await two.close();
      // Two restarts in which nothing is acknowledged keep the floor (a new consumer reports 0).
      for (let restart = 0; restart < 2; restart++) {
        const subscription = await broker.subscribe({ stream: "T", durable: "d", maxInFlight: 100, ackWaitMs: 30_000 });
        assert.deepEqual(await subscription.lag(), { pending: 0, inFlight: 0, ackFloor: 5, head: 5 });
        await subscription.close();
      }
    });

    it("a-broker-started-before-its-server-connects-once-the-server-answers", async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      await nats.stop();
      const lines: string[] = [];
      const broker = natsBroker(nats.url, (line) => lines.push(line));
      cleanups.push(() => broker.close());
      const streamMade = broker.ensureStream({ name: "LATE", subjects: ["late.>"] });
      while (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(lines[0]!, /trying again/);
      await nats.start();
      await streamMade;
      const ack = await broker.publish("late.a", encoder.encode("x"), { msgId: "late-1" });
      assert.deepEqual(ack, { seq: 1, duplicate: false });
    });

    // A consumer and a producer of one stream start together, or two nodes do: both find no
    // stream, both add it, and JetStream may refuse the second add as "subjects overlap".
    it("a-stream-another-caller-makes-while-it-adds-it-is-used-with-the-subjects-it-lacks", async () => {
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const connection = await connect({ servers: nats.url });
      cleanups.push(() => connection.close());
      const manager = await connection.jetstreamManager();
      const losing = Object.create(manager.streams) as JetStreamManager["streams"];
      losing.add = async (config) => {
        await manager.streams.add({ ...config, subjects: config.subjects!.slice(0, 1) }); // the other caller's
        throw new Error("subjects overlap with an existing stream");
      };
      const racing = Object.create(manager, { streams: { value: losing } }) as JetStreamManager;
      const broker = new NatsBroker(nats.url, connection, racing, connection.jetstream());
      await broker.ensureStream({ name: "RACE", subjects: ["race.a", "race.b"] });
      assert.deepEqual((await manager.streams.info("RACE")).config.subjects, ["race.a", "race.b"]);
      losing.add = async () => {
        throw new Error("a refusal with no stream made");
      };
      await assert.rejects(broker.ensureStream({ name: "NONE", subjects: ["none.a"] }), /a refusal with no stream made/);
    });
  });
}
