import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import {
  assertNoBugsLogged,
  checkStoredTransfers,
  checkTransfersEnded,
  countMidway,
  createWallets,
  planTransfers,
  resendingSend,
  startTransfersAmidKills,
} from "./support/bank-transfers.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { serveChild, type ServedChild } from "./support/workflow-child.ts";

/**
 * Crash test with a real process: examples/bank served on SQLite (FULL sync) in a child that is
 * SIGKILLed at random moments while 500 transfers (sagas and plain workflows) start and run.
 * Every transfer must end as its input dictates and every wallet must hold exactly what the
 * completed transfers say — no step effect lost, none applied twice — and the file shows that
 * steps' calls committed with their transitions (held step writes, the default on SQLite).
 */

const transferCount = 500;
const kills = 12;
const startConcurrency = 10;
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
        await countMidway(store, leftMidway);
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

    /** A request that survives the kills: sent again to whichever child serves by then. */
    const { send } = resendingSend(async () => (await up).url, why);
    // Wallets first, before any kill.
    await createWallets(send);

    const transfers = planTransfers(rand, transferCount);
    await startTransfersAmidKills(send, transfers, { rand, kills, concurrency: startConcurrency, killAndRestart, why });
    assert.equal(killed, kills, `the child was SIGKILLed ${killed} times ${why}`);
    const startedAt = Date.now() - started;

    // Every transfer must end, without any help.
    const counted = await checkTransfersEnded(send, transfers, why);

    // A clean stop, then the file itself: each withdrawal and deposit happened exactly once,
    // no refused deposit created a wallet, and no workflow is left unfinished.
    const last = await up;
    await last.kill("SIGTERM");
    childLogs.push(last.output());
    current = undefined;
    const store = new SqliteStore({ path: join(dataDir, "sagaflow.db") });
    try {
      await store.migrate();
      await checkStoredTransfers(store, transfers, why);
      // Held step writes (src/runtime/held-writes.ts, the default on SQLite): one commit wrote a
      // wallet's event and then the workflow's new state: same time, next position.
      const feed = await store.readFeed(0, 1_000_000);
      const together = feed.filter((entry, i) => {
        const next = feed[i + 1];
        return entry.component === "wallet" && next !== undefined && next.type === "$state" && next.component.startsWith("transfer") && next.at === entry.at;
      });
      assert.ok(together.length >= transfers.length / 2, `only ${together.length} steps' calls committed with their transitions ${why}`);
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
    assertNoBugsLogged(childLogs, why);
  });
});
