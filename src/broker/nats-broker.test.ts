import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { NatsServer, natsServerOrSay } from "../../test/support/nats-server.ts";
import { connectNats } from "./nats-broker.ts";
import type { Broker, BrokerMessage } from "./port.ts";

/**
 * The NATS JetStream adapter against a server of the test's own: a message id published twice is
 * stored once; a durable subscription resumes at its ack floor, delivering again (in stream order)
 * every message it had not acknowledged, and never one below the floor.
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
  });
}
