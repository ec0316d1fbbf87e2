import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connect, type JetStreamManager } from "nats";
import { checkTransfersEnded, createWallets, planTransfers, resendingSend, startTransfersAmidKills } from "./support/bank-transfers.ts";
import { NatsServer, natsServerOrSay } from "./support/nats-server.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { SagaflowProcess } from "./support/server-process.ts";

/**
 * The bank's transfer endings published to NATS (issue 16), real processes: 1,000 transfers
 * (completed, rejected, compensated; saga and plain workflow) started while `sagaflow serve
 * examples/bank` is SIGKILLed 5 times. Afterwards every ended transfer is in stream
 * `BANK_TRANSFERS` at least once, on `bank.transfers.{id}`, with its status, from, to and amount
 * (every copy alike), and the CloudEvents headers set. Per-instance order with many changes per
 * instance is checked in test/nats-topics.test.ts.
 *
 * Replay with the printed seed: NATS_TRANSFERS_SEED=<seed>.
 */

const binary = natsServerOrSay("NATS bank transfers test");

async function streamMessages(jsm: JetStreamManager, stream: string) {
  const info = await jsm.streams.info(stream);
  const messages = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    messages.push({ seq: m.seq, subject: m.subject, body: m.json<Record<string, unknown>>(), headers: m.header });
  }
  return messages;
}

if (binary) {
  describe("bank transfers published to NATS JetStream (real processes)", () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    });

    it("1,000 transfers amid 5 SIGKILLs: each ended transfer in BANK_TRANSFERS with its status", { timeout: 300_000 }, async () => {
      const seed = seedFrom("NATS_TRANSFERS_SEED");
      const why = `(seed ${seed}; rerun with NATS_TRANSFERS_SEED=${seed})`;
      const rand = seededRandom(seed);
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const server = await SagaflowProcess.start({ target: "examples/bank", env: { NATS_URL: nats.url } });
      cleanups.push(() => server.cleanup());
      const { send } = resendingSend(() => server.url, why);
      await createWallets(send);
      const transfers = planTransfers(rand, 1_000);
      await startTransfersAmidKills(send, transfers, { rand, kills: 5, concurrency: 10, killAndRestart: () => server.restart("SIGKILL"), why });
      await checkTransfersEnded(send, transfers, why);
      assert.ok(server.starts >= 6);

      const connection = await connect({ servers: nats.url });
      cleanups.push(() => connection.close());
      const jsm = await connection.jetstreamManager();
      const expected = new Map(transfers.map((t) => [t.id, { id: t.id, status: t.expected, ...t.input }]));
      let messages: Awaited<ReturnType<typeof streamMessages>> = [];
      // Publishing follows the commits: wait until every transfer is there.
      for (let i = 0; i < 120; i++) {
        messages = await streamMessages(jsm, "BANK_TRANSFERS").catch(() => []);
        if (new Set(messages.map((m) => m.body.id)).size >= expected.size) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const seen = new Map<string, Array<{ seq: number; body: unknown }>>();
      for (const m of messages) {
        const id = String(m.body.id);
        assert.equal(m.subject, `bank.transfers.${id}`, why);
        assert.deepEqual(m.body, expected.get(id), `message ${m.seq} ${why}`);
        assert.equal(m.headers?.get("ce-type"), `bank.transfer.${String(m.body.status)}`);
        assert.match(m.headers?.get("ce-id") ?? "", /^transfer(-workflow)?-events:\d+$/);
        assert.ok(!Number.isNaN(Date.parse(m.headers?.get("ce-time") ?? "")));
        seen.set(id, [...(seen.get(id) ?? []), { seq: m.seq, body: m.body }]);
      }
      assert.deepEqual([...seen.keys()].sort(), [...expected.keys()].sort(), `every ended transfer published ${why}`);
      process.stderr.write(`BANK_TRANSFERS: ${messages.length} messages for ${seen.size} transfers\n`);
    });
  });
}
