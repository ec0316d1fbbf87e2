import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Broker } from "../src/broker/port.ts";
import { brokerFor, createWallets, depositPlan, expectedBalances, publishAll, settledBalances } from "./support/bank-deposits.ts";
import { getJson } from "./support/http.ts";
import { NatsServer, natsServerOrSay } from "./support/nats-server.ts";
import { between, seededRandom, seedFrom } from "./support/random.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * The bank's deposits from NATS (issue 16), with real processes: a JetStream server of the
 * test's own and `sagaflow serve examples/bank` with NATS_URL set. 5,000 deposits over 100 wallets,
 * 5% repeating an earlier ref (a new message with the same body), are published while the
 * service is SIGKILLed 5 times: every balance is exact (each ref once). A deposit to a wallet that
 * does not exist and a body that is not JSON are parked and hold up nobody. Then the NATS server
 * itself is restarted twice while messages flow: nothing is lost or doubled.
 *
 * Replay with the printed seed: NATS_DEPOSITS_SEED=<seed>.
 */

const binary = natsServerOrSay("NATS bank deposits test");
const wallets = 100;

if (binary) {
  describe("bank deposits from NATS JetStream (real processes)", () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    });

    async function setUp(): Promise<{ nats: NatsServer; server: SagaflowProcess; broker: Broker }> {
      const nats = await NatsServer.start(binary!);
      cleanups.push(() => nats.cleanup());
      const server = await SagaflowProcess.start({ target: "examples/bank", env: { NATS_URL: nats.url } });
      cleanups.push(() => server.cleanup());
      const broker = await brokerFor(nats.url);
      cleanups.push(() => broker.close());
      await createWallets(server, wallets);
      return { nats, server, broker };
    }

    it("5,000 deposits, 5% duplicate refs, 5 SIGKILLs: every balance exact; bad messages parked", async () => {
      const seed = seedFrom("NATS_DEPOSITS_SEED");
      process.stderr.write(`NATS deposits seed: ${seed}\n`);
      const random = seededRandom(seed);
      const { server, broker } = await setUp();
      const plan = depositPlan(random, 5_000, wallets, 0.05);
      const bodies = plan.map((d) => JSON.stringify(d));
      // Two bad messages among the first ones: parked, and the wallets go on.
      bodies.splice(10, 0, JSON.stringify({ wallet: "nobody", amount: 5, ref: "x1" }), "{not json");
      const publishing = publishAll(broker, bodies, "d");
      for (let kill = 0; kill < 5; kill++) {
        await sleep(between(random, 200, 1_200));
        await server.restart("SIGKILL");
      }
      await publishing;
      const expected = expectedBalances(plan, wallets);
      const balances = await settledBalances(server, expected, 120_000);
      assert.deepEqual(balances, expected);
      const parked = await getJson(`${await server.admin()}/consumers/deposits/parked`);
      const codes = (parked.body.parked as Array<{ error: { code: string }; entry: { id: string } }>).map((p) => `${p.entry.id.startsWith("$") ? "?" : p.entry.id}:${p.error.code}`).sort();
      assert.deepEqual(codes, ["?:invalid_json", "nobody:not_found"]);
      assert.ok(server.starts >= 6);
    });

    it("the NATS server restarted twice while deposits flow: nothing lost or doubled", async () => {
      const random = seededRandom(seedFrom("NATS_DEPOSITS_SEED") + 1);
      const { nats, server, broker } = await setUp();
      const plan = depositPlan(random, 2_000, wallets, 0.05);
      const publishing = publishAll(broker, plan.map((d) => JSON.stringify(d)), "n", 100, 50);
      for (let restart = 0; restart < 2; restart++) {
        await sleep(between(random, 300, 800));
        await nats.restart(500);
      }
      await publishing;
      const expected = expectedBalances(plan, wallets);
      assert.deepEqual(await settledBalances(server, expected, 120_000), expected);
    });
  });
}
