import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connect } from "nats";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { brokerFor, depositPlan, publishAll } from "./support/bank-deposits.ts";
import { assertNoBugsLogged, checkTransfersEnded, createWallets, planTransfers, resendingSend, startTransfers } from "./support/bank-transfers.ts";
import { NatsServer, natsServerOrSay } from "./support/nats-server.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { between, seededRandom, seedFrom } from "./support/random.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * The bank's topics on two real node processes sharing one PostgreSQL schema (issue 16), with a
 * NATS server of the test's own: 2,000 deposits (5% repeating an earlier ref) arrive on
 * `bank.deposits` and 300 transfers are started over HTTP, while the nodes are SIGKILLed in turn
 * 4 times (the survivor takes the dead node's leases: the deposits consumer and the transfer
 * producers move between processes mid-stream). Then:
 *
 * - each deposit wallet holds exactly one `deposited` event per distinct ref (read from the store;
 *   per-key order across hand-overs is checked in test/postgres-nats-topics.test.ts);
 * - every ended transfer is in `BANK_TRANSFERS` exactly once (a re-publish by the node taking
 *   over is dropped by its Nats-Msg-Id within the stream's duplicate window), with its status.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL and SAGAFLOW_NATS_SERVER set. Replay: NATS_PG_SEED=<seed>.
 */

const url = postgresUrlOrSay("PostgreSQL NATS bank test");
const binary = natsServerOrSay("PostgreSQL NATS bank test");
const depositWallets = 50;
const leaseMs = 1_000;

if (url && binary) {
  describe("the bank's topics on two PostgreSQL nodes (real processes)", () => {
    const schemas = new SchemaPool(url);
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      await schemas.dropAll();
    });

    it("2,000 deposits and 300 transfers, nodes SIGKILLed in turn: each ref once, each ending published once", { timeout: 300_000 }, async () => {
      await assertPostgresReachable(url);
      const seed = seedFrom("NATS_PG_SEED");
      const why = `(seed ${seed}; rerun with NATS_PG_SEED=${seed})`;
      const random = seededRandom(seed);
      const schema = schemas.fresh("natsbank");
      const nats = await NatsServer.start(binary);
      cleanups.push(() => nats.cleanup());
      const nodes = [0, 1].map((i) =>
        SagaflowProcess.create({
          target: "examples/bank",
          args: ["--postgres", url, "--postgres-schema", schema, "--lease-ms", String(leaseMs), "--node-name", `n${i}`],
          env: { NATS_URL: nats.url },
        }),
      );
      cleanups.push(async () => {
        await Promise.all(nodes.map((n) => n.cleanup()));
      });
      await nodes[0]!.start();
      await nodes[1]!.start();
      const store = new PostgresStore({ connectionString: url, schema, poolSize: 2 });
      cleanups.push(() => store.close());

      let next = 0;
      const nextLiveNode = () => {
        for (let tries = 0; tries < nodes.length; tries++) {
          const node = nodes[next++ % nodes.length]!;
          if (node.running) return node.url;
        }
        throw new Error("no node runs");
      };
      const { send } = resendingSend(nextLiveNode, why);
      await createWallets(send);
      for (let w = 0; w < depositWallets; w++) {
        const res = await send(`/wallet/d${w}/create`, { initialBalance: 0 });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }

      const broker = await brokerFor(nats.url);
      cleanups.push(() => broker.close());
      const plan = depositPlan(random, 2_000, depositWallets, 0.05).map((d) => ({ ...d, wallet: `d${d.wallet.slice(1)}` }));
      const publishing = publishAll(broker, plan.map((d) => JSON.stringify(d)), "pg", 100, 100);
      const transfers = planTransfers(random, 300);
      const starting = startTransfers(send, transfers, 6, () => {}, why);
      for (let kill = 0; kill < 4; kill++) {
        await sleep(between(random, 500, 1_500));
        const exit = await nodes[kill % 2]!.restart("SIGKILL");
        assert.equal(exit.signal, "SIGKILL", why);
      }
      await Promise.all([publishing, starting]);

      // Deposits: one `deposited` event per distinct ref, read from the store.
      const expected = new Map<string, number[]>();
      const seen = new Set<string>();
      for (const d of plan) {
        if (seen.has(d.ref)) continue;
        seen.add(d.ref);
        expected.set(d.wallet, [...(expected.get(d.wallet) ?? []), d.amount]);
      }
      const deposited = async (wallet: string) =>
        (await store.readEvents("wallet", wallet, 0, 10_000)).filter((e) => e.type === "deposited").map((e) => (e.payload as { amount: number }).amount);
      const deadline = Date.now() + 120_000;
      for (let w = 0; w < depositWallets; w++) {
        const wallet = `d${w}`;
        const want = expected.get(wallet) ?? [];
        let got = await deposited(wallet);
        while (got.length < want.length && Date.now() < deadline) {
          await sleep(250);
          got = await deposited(wallet);
        }
        // Published 100 at a time, the stream's order is not the plan's: compare the amounts as sets.
        const sorted = (amounts: number[]) => [...amounts].sort((a, b) => a - b);
        assert.deepEqual(sorted(got), sorted(want), `deposits into ${wallet}: each ref once ${why}`);
      }

      // Transfers: every ended one published once, with its status.
      await checkTransfersEnded(send, transfers, why);
      const connection = await connect({ servers: nats.url });
      cleanups.push(() => connection.close());
      const jsm = await connection.jetstreamManager();
      const ids = new Map<string, string[]>();
      const collect = async () => {
        ids.clear();
        const info = await jsm.streams.info("BANK_TRANSFERS");
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const body = (await jsm.streams.getMessage("BANK_TRANSFERS", { seq })).json<{ id: string; status: string }>();
          ids.set(body.id, [...(ids.get(body.id) ?? []), body.status]);
        }
      };
      for (let i = 0; i < 240; i++) {
        await collect().catch(() => {});
        if (ids.size >= transfers.length) break;
        await sleep(500);
      }
      await sleep(1_000);
      await collect();
      for (const t of transfers) assert.deepEqual(ids.get(t.id), [t.expected], `transfer ${t.id} published once, as ${t.expected} ${why}`);
      assert.equal(ids.size, transfers.length, why);
      assertNoBugsLogged(nodes.map((n) => n.allOutput()), why);
    });
  });
}
