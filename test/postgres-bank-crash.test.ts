import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { requestJson, type JsonResponse } from "./support/http.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { describeExit, SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * Crash test with a real process on PostgreSQL: examples/bank served by `sagaflow serve
 * --postgres $SAGAFLOW_POSTGRES_URL --postgres-schema <fresh>` in a child that is SIGKILLed at
 * random moments while 300 transfers (sagas and plain workflows, alternating) start and run, and
 * restarted each time on the same schema (one node at a time). Every transfer must end as its
 * input dictates and every wallet must hold exactly what the completed transfers say: no step
 * effect lost, none applied twice. The PostgreSQL twin of test/workflow-crash.test.ts (SQLite).
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts). The seed is
 * printed; SAGAFLOW_CRASH_SEED=<seed> replays the same plan (the kill moments still vary).
 */

const walletCount = 20;
const initialBalance = 10_000;
const transferCount = 300;
const kills = 8;
const startConcurrency = 10;
/** Larger than all the money in the system: such a transfer is refused whatever ran before. */
const hugeAmount = walletCount * initialBalance + 1;

type Outcome = "completed" | "rejected" | "compensated";

interface Planned {
  workflow: "transfer" | "transfer-workflow";
  id: string;
  input: { from: string; to: string; amount: number };
  expected: Outcome;
}

const walletId = (i: number) => `w${i}`;

function plan(rand: () => number): Planned[] {
  const pick = () => Math.floor(rand() * walletCount);
  const planned: Planned[] = [];
  for (let i = 0; i < transferCount; i++) {
    // Alternate the saga and the plain workflow; the category cycles independently of that.
    const workflow = i % 2 === 0 ? "transfer" : "transfer-workflow";
    const category = Math.floor(i / 2) % 10;
    const from = pick();
    let to = pick();
    if (to === from) to = (to + 1) % walletCount;
    // Small amounts: at most 300 × 5 = 1,500 can ever leave a wallet holding 10,000, so a normal
    // transfer (or the withdrawal of a compensated one) can never be refused.
    const small = 1 + Math.floor(rand() * 5);
    const input =
      category === 0
        ? { from: walletId(from), to: `ghost-${i}`, amount: small } // deposit refused → refunded
        : category === 5
          ? { from: walletId(from), to: walletId(to), amount: hugeAmount } // withdrawal refused
          : { from: walletId(from), to: walletId(to), amount: small };
    const expected: Outcome = category === 0 ? "compensated" : category === 5 ? "rejected" : "completed";
    planned.push({ workflow, id: `t${i}`, input, expected });
  }
  return planned;
}

const url = postgresUrlOrSay("PostgreSQL bank crash test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("bank on PostgreSQL survives SIGKILL of a real process", () => {
    const schemas = new SchemaPool(connectionString);
    let server: SagaflowProcess | undefined;
    let inspector: PostgresStore | undefined;
    after(async () => {
      await server?.cleanup();
      await inspector?.close();
      await schemas.dropAll();
    });

    it(`${transferCount}-transfers-end-as-their-inputs-dictate-and-balances-add-up-across-${kills}-kills`, { timeout: 90_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const seed = seedFrom("SAGAFLOW_CRASH_SEED");
      const rand = seededRandom(seed);
      const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
      const started = Date.now();
      const schema = schemas.fresh("bank");

      server = SagaflowProcess.create({
        target: "examples/bank",
        args: ["--postgres", connectionString, "--postgres-schema", schema, "--admin-port", "-1"],
      });
      const child = server;
      /** The URL of the child serving now, or of the one being started; replaced synchronously on each kill. */
      let up: Promise<string> = child.start().then(() => child.url);
      await up;
      // The child says where its data is (right after the URL): PostgreSQL, in the fresh schema.
      await child.waitForOutput(new RegExp(`data in PostgreSQL \\(schema ${schema}\\)`), 5_000);
      // A look at the schema from outside, alongside the child (it never writes).
      inspector = new PostgresStore({ connectionString, schema, poolSize: 2 });
      const store = inspector;

      let killed = 0;
      /** Workflows each kill left mid-way (by step), which the next child must resume. */
      const leftMidway = new Map<string, number>();
      const countUnfinished = async () => {
        for (const name of ["transfer", "transfer-workflow"]) {
          for (const w of await store.listWorkflows({ name, statuses: ["running", "paused"], limit: 1000 })) {
            const key = `${name}.${w.step}`;
            leftMidway.set(key, (leftMidway.get(key) ?? 0) + 1);
          }
        }
      };
      const killAndRestart = () => {
        const previous = up;
        killed++;
        up = (async () => {
          await previous;
          const exit = await child.kill("SIGKILL");
          assert.equal(exit.signal, "SIGKILL", `the child was killed, not ${describeExit(exit)}`);
          await countUnfinished();
          await child.start();
          return child.url;
        })();
        return up;
      };

      /**
       * A request that survives the kills: a failed connection or a 503 (shutting down) is sent
       * again, to whichever child serves by then, with the same body.
       */
      let resent = 0;
      const send = async (path: string, body?: unknown, timeoutMs = 40_000): Promise<JsonResponse> => {
        const deadline = Date.now() + 60_000;
        for (let attempt = 0; ; attempt++) {
          if (attempt > 0) resent++;
          const base = await up;
          try {
            const res = await requestJson(base + path, body === undefined ? { timeoutMs } : { body, timeoutMs });
            if (res.status !== 503) return res;
          } catch (error) {
            if (Date.now() > deadline) throw new Error(`${path} kept failing: ${String(error)} ${why}`);
          }
          if (Date.now() > deadline) throw new Error(`${path} kept answering 503 ${why}`);
          await sleep(20);
        }
      };

      // Wallets first, before any kill.
      for (let i = 0; i < walletCount; i++) {
        const res = await requestJson(`${await up}/wallet/${walletId(i)}/create`, { body: { initialBalance } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }

      const transfers = plan(rand);
      // Kill when the number of acknowledged starts crosses these marks (the last one right after
      // the last start, while many transfers are still mid-step), after a random few milliseconds.
      const marks = Array.from({ length: kills - 1 }, () => 10 + Math.floor(rand() * (transferCount - 20)));
      marks.push(transferCount);
      marks.sort((a, b) => a - b);
      let acknowledged = 0;
      let chaos = Promise.resolve();
      const progressed = () => {
        acknowledged++;
        while (marks.length > 0 && marks[0]! <= acknowledged) {
          marks.shift();
          const delay = Math.floor(rand() * 40);
          chaos = chaos.then(async () => {
            await sleep(delay);
            await killAndRestart();
          });
        }
      };

      let next = 0;
      const starter = async () => {
        while (next < transfers.length) {
          const t = transfers[next++]!;
          const res = await send(`/${t.workflow}/${t.id}/start`, t.input);
          assert.equal(res.status, 200, `start ${t.workflow} ${t.id}: ${JSON.stringify(res.body)} ${why}`);
          assert.deepEqual(res.body, { status: "started" }, `start ${t.workflow} ${t.id} ${why}`);
          progressed();
        }
      };
      await Promise.all(Array.from({ length: startConcurrency }, starter));
      await chaos;
      assert.equal(killed, kills, `the child was SIGKILLed ${killed} times ${why}`);
      const startedAt = Date.now() - started;

      // Every transfer must end, without any help.
      const views = new Map<string, any>();
      let waited = 0;
      const waiter = async () => {
        while (waited < transfers.length) {
          const t = transfers[waited++]!;
          const res = await send(`/${t.workflow}/${t.id}?wait=30`, undefined, 40_000);
          assert.equal(res.status, 200, `GET ${t.workflow} ${t.id}: ${JSON.stringify(res.body)} ${why}`);
          views.set(t.id, res.body);
        }
      };
      await Promise.all(Array.from({ length: 20 }, waiter));

      const moved = new Map<string, number>();
      const add = (wallet: string, amount: number) => moved.set(wallet, (moved.get(wallet) ?? 0) + amount);
      const counted = { completed: 0, rejected: 0, compensated: 0 };
      for (const t of transfers) {
        const view = views.get(t.id);
        assert.equal(view.id, t.id);
        assert.equal(view.status, "ended", `${t.workflow} ${t.id} is ${view.status} at ${view.step}: ${JSON.stringify(view)} ${why}`);
        assert.equal(view.state.status, t.expected, `${t.workflow} ${t.id}: ${JSON.stringify(view)} ${why}`);
        counted[t.expected]++;
        if (t.expected === "completed") {
          add(t.input.from, -t.input.amount);
          add(t.input.to, t.input.amount);
        }
      }
      assert.deepEqual(counted, { completed: 240, rejected: 30, compensated: 30 }, why);

      let total = 0;
      for (let i = 0; i < walletCount; i++) {
        const res = await send(`/wallet/${walletId(i)}/balance`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.balance, initialBalance + (moved.get(walletId(i)) ?? 0), `balance of ${walletId(i)} ${why}`);
        total += res.body.balance as number;
      }
      assert.equal(total, walletCount * initialBalance, `no money created or lost ${why}`);

      // A clean stop, then the schema itself: each withdrawal and deposit happened exactly once,
      // no refused deposit created a wallet, and no workflow is left unfinished.
      await up;
      const exit = await child.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `the last child stopped gracefully ${why}`);
      const expectedCounts = new Map<string, { withdrawn: number; deposited: number }>();
      const bump = (wallet: string, kind: "withdrawn" | "deposited") => {
        const counts = expectedCounts.get(wallet) ?? { withdrawn: 0, deposited: 0 };
        counts[kind]++;
        expectedCounts.set(wallet, counts);
      };
      for (const t of transfers) {
        if (t.expected === "completed") {
          bump(t.input.from, "withdrawn");
          bump(t.input.to, "deposited");
        } else if (t.expected === "compensated") {
          bump(t.input.from, "withdrawn");
          bump(t.input.from, "deposited");
          const ghost = await store.readEvents("wallet", t.input.to, 0, 10);
          assert.deepEqual(ghost, [], `wallet ${t.input.to} must never exist ${why}`);
        }
      }
      for (let i = 0; i < walletCount; i++) {
        const events = await store.readEvents("wallet", walletId(i), 0, 10_000);
        const count = (type: string) => events.filter((e) => e.type === type).length;
        const want = expectedCounts.get(walletId(i)) ?? { withdrawn: 0, deposited: 0 };
        assert.equal(count("created"), 1, `${walletId(i)} created ${why}`);
        assert.equal(count("withdrawn"), want.withdrawn, `withdrawals from ${walletId(i)} ${why}`);
        assert.equal(count("deposited"), want.deposited, `deposits into ${walletId(i)} ${why}`);
        assert.deepEqual(events.map((e) => e.seq), events.map((_, k) => k + 1), `${walletId(i)}: seqs without gap ${why}`);
      }
      for (const name of ["transfer", "transfer-workflow"]) {
        const unfinished = await store.listWorkflows({ name, statuses: ["running", "paused", "suspended", "failed", "terminated"], limit: 10 });
        assert.deepEqual(unfinished.map((w) => `${w.id}:${w.status}:${w.step}`), [], `${name} instances not ended ${why}`);
        const ended = await store.listWorkflows({ name, statuses: ["ended"], limit: 1000 });
        assert.equal(ended.length, transferCount / 2, `${name} instances ended ${why}`);
      }
      assert.equal((await store.listTimers(undefined, 10)).length, 0, `no timer left behind ${why}`);

      const seconds = (ms: number) => (ms / 1000).toFixed(1);
      const midway = Object.fromEntries([...leftMidway].sort());
      console.log(
        `postgres bank crash test ${why}: ${kills} kills (${child.starts} starts), ${JSON.stringify(counted)}, ` +
          `requests re-sent after a kill ${resent}, left mid-way by the kills ${JSON.stringify(midway)}, ` +
          `starts done after ${seconds(startedAt)} s, all checked after ${seconds(Date.now() - started)} s`,
      );
      assert.ok(leftMidway.size > 0, `no kill caught a workflow mid-way: nothing was resumed ${why}`);
      const internalErrors = child.allOutput().split("\n").filter((line) => /internal error|TypeError|ReferenceError/.test(line));
      assert.deepEqual(internalErrors, [], `the child logged bugs ${why}`);
    });
  });
}
