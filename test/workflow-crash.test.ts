import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { requestJson, serveChild, sleep, type JsonResponse, type ServedChild } from "./support/workflow-child.ts";

/**
 * Crash test with a real process: examples/bank served on SQLite (FULL sync) in a child that is
 * SIGKILLed at random moments while 500 transfers (sagas and plain workflows) start and run.
 * Every transfer must end as its input dictates and every wallet must hold exactly what the
 * completed transfers say — no step effect lost, none applied twice.
 */

const walletCount = 20;
const initialBalance = 10_000;
const transferCount = 500;
const kills = 12;
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
    // Small amounts: at most 500 × 5 = 2,500 can ever leave a wallet holding 10,000, so a
    // normal transfer (or the withdrawal of a compensated one) can never be refused.
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

describe("workflows survive SIGKILL of a real process", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sagaflow-workflow-crash-"));
  let current: ServedChild | undefined;
  after(async () => {
    await current?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("500-transfers-end-as-their-inputs-dictate-and-balances-add-up-across-12-kills", { timeout: 120_000 }, async () => {
    const seed = seedFrom("SAGAFLOW_CRASH_SEED");
    const rand = seededRandom(seed);
    const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
    const started = Date.now();
    const target = "examples/bank";
    const childLogs: string[] = [];

    const launch = async () => {
      const child = await serveChild(target, { dataDir });
      current = child;
      return child;
    };
    /** The child serving now, or the one being started; replaced synchronously on each kill. */
    let up: Promise<ServedChild> = launch();
    let killed = 0;
    /** Workflows each kill left mid-way (by step), which the next child must resume. */
    const leftMidway = new Map<string, number>();
    const countUnfinished = async () => {
      const store = new SqliteStore({ path: join(dataDir, "sagaflow.db") });
      try {
        for (const name of ["transfer", "transfer-workflow"]) {
          for (const w of await store.listWorkflows({ name, statuses: ["running", "paused"], limit: 1000 })) {
            const key = `${name}.${w.step}`;
            leftMidway.set(key, (leftMidway.get(key) ?? 0) + 1);
          }
        }
      } finally {
        await store.close();
      }
    };
    const killAndRestart = () => {
      const victim = up;
      killed++;
      up = (async () => {
        const child = await victim;
        await child.kill("SIGKILL");
        childLogs.push(child.output());
        await countUnfinished();
        return launch();
      })();
      return up;
    };

    /**
     * A request that survives the kills: a failed connection or a 503 (shutting down) is sent
     * again, to whichever child serves by then, with the same body.
     */
    const send = async (path: string, body?: unknown, timeoutMs = 40_000): Promise<JsonResponse> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const server = await up;
        try {
          const res = await requestJson(server.url + path, body === undefined ? { timeoutMs } : { body, timeoutMs });
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
      const res = await requestJson(`${(await up).url}/wallet/${walletId(i)}/create`, { body: { initialBalance } });
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
    assert.ok(counted.completed > 300 && counted.rejected >= 40 && counted.compensated >= 40, JSON.stringify(counted));

    for (let i = 0; i < walletCount; i++) {
      const res = await send(`/wallet/${walletId(i)}/balance`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.balance, initialBalance + (moved.get(walletId(i)) ?? 0), `balance of ${walletId(i)} ${why}`);
    }

    // A clean stop, then the file itself: each withdrawal and deposit happened exactly once,
    // no refused deposit created a wallet, and no workflow is left unfinished.
    const last = await up;
    await last.kill("SIGTERM");
    childLogs.push(last.output());
    current = undefined;
    const store = new SqliteStore({ path: join(dataDir, "sagaflow.db") });
    try {
      await store.migrate();
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
      }
      for (const name of ["transfer", "transfer-workflow"]) {
        const unfinished = await store.listWorkflows({ name, statuses: ["running", "paused", "suspended", "failed", "terminated"], limit: 10 });
        assert.deepEqual(unfinished.map((w) => `${w.id}:${w.status}:${w.step}`), [], `${name} instances not ended ${why}`);
        const ended = await store.listWorkflows({ name, statuses: ["ended"], limit: 1000 });
        assert.equal(ended.length, transferCount / 2, `${name} instances ended ${why}`);
      }
    } finally {
      await store.close();
    }

    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    const midway = Object.fromEntries([...leftMidway].sort());
    console.log(
      `workflow crash test ${why}: ${kills} kills, ${JSON.stringify(counted)}, left mid-way by the kills ${JSON.stringify(midway)}, ` +
        `starts done after ${seconds(startedAt)} s, all checked after ${seconds(Date.now() - started)} s`,
    );
    assert.ok(leftMidway.size > 0, `no kill caught a workflow mid-way: nothing was resumed ${why}`);
    const internalErrors = childLogs.join("\n").split("\n").filter((line) => /internal error|TypeError|ReferenceError/.test(line));
    assert.deepEqual(internalErrors, [], `the child logged bugs ${why}`);
  });
});
