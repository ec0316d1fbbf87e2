/**
 * Sagas on a few busy wallets, in process on SQLite (fsync on every commit): the bank's transfer
 * saga (withdraw, then deposit; the withdrawal compensated if the deposit is refused) between
 * BENCH_HOT_WALLETS wallets, BENCH_CONCURRENCY at a time, with a short step timeout, once with
 * `eagerStart` and once without. Nearly every call finds its wallet busy, so it commits unheld,
 * batched with the commands queued there (src/runtime/mailbox-turns.ts); a step not settled within
 * BENCH_STEP_TIMEOUT_MS fails and is retried, as a user's saga on a hot entity would.
 *
 * Figures per mode and round: sagas/s; p50 and p99 from the start's call to the saga's end; step
 * attempts that failed (timeouts, the retries a user sees in `sagaflow_workflow_steps_total`) per
 * 1,000 sagas, by step; commits per saga; and whether the wallets' sum is unchanged (it must be).
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SAGAS=5000             sagas per mode and round
 *   BENCH_HOT_WALLETS=4          wallets every saga moves money between
 *   BENCH_CONCURRENCY=128        sagas in flight
 *   BENCH_STEP_TIMEOUT_MS=30     each step's timeout (5,000 by default in a user's saga)
 *   BENCH_EAGER=off,on           the modes, run in this order each round
 *   BENCH_ROUNDS=2               rounds, the modes alternated within each
 *   BENCH_SYNC=FULL              SQLite synchronous mode
 *   BENCH_DIR=<dir>              where the temporary data folders go (default: the OS temp dir)
 *
 * Run: npm run bench:hot-sagas
 */
import { join } from "node:path";
import { wallet } from "../examples/bank/wallet.ts";
import { saga } from "../src/define/saga.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { countCommits, newCommitCounts } from "./support/commit-counts.ts";
import { choicesEnv, numberEnv, quantiles, round, syncModeEnv } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("hot-sagas");
const { log, emit } = program;
const sagaCount = Math.max(1, Math.floor(numberEnv("BENCH_SAGAS", 5000)));
const walletCount = Math.max(2, Math.floor(numberEnv("BENCH_HOT_WALLETS", 4)));
const concurrency = Math.max(1, Math.floor(numberEnv("BENCH_CONCURRENCY", 128)));
const stepTimeoutMs = numberEnv("BENCH_STEP_TIMEOUT_MS", 30);
const modes = choicesEnv("BENCH_EAGER", "off,on", ["off", "on"]);
const rounds = Math.max(1, Math.floor(numberEnv("BENCH_ROUNDS", 2)));
const synchronous = syncModeEnv();
const initialBalance = 1_000_000_000;

const transferSaga = (eagerStart: boolean) =>
  saga("transfer", {
    eagerStart,
    stepTimeoutMs,
    start: (input: { from: string; to: string; amount: number }) => input,
    steps: [
      {
        name: "withdraw",
        run: (s, ctx) => ctx.call(wallet, s.from).withdraw({ amount: s.amount }),
        compensate: (s, ctx) => ctx.call(wallet, s.from).deposit({ amount: s.amount }),
      },
      { name: "deposit", run: (s, ctx) => ctx.call(wallet, s.to).deposit({ amount: s.amount }) },
    ],
  });

/** Failed step attempts by step, read from the runtime's `sagaflow_workflow_steps_total{outcome="retry"|"failed"}`. */
async function failedAttempts(runtime: Runtime): Promise<Record<string, number>> {
  const failed: Record<string, number> = {};
  const { text } = await runtime.observer.metrics.text();
  for (const line of text.split("\n")) {
    const match = /^sagaflow_workflow_steps_total\{[^}]*step="([^"]+)",outcome="(retry|failed)"\} (\d+)/.exec(line);
    if (match) failed[match[1]!] = (failed[match[1]!] ?? 0) + Number(match[3]);
  }
  return failed;
}

async function runMode(mode: (typeof modes)[number], round_: number): Promise<void> {
  const store = new SqliteStore({ path: join(program.newDataDir(mode), "sagaflow.db"), synchronous });
  const counts = newCommitCounts();
  countCommits(store, counts); // before the runtime, which binds the store's commit when made
  const runtime = new Runtime({ store, components: [wallet, transferSaga(mode === "on")] });
  const stop = program.defer(() => runtime.stop());
  await runtime.start();
  const wallets = Array.from({ length: walletCount }, (_, i) => `w${i}`);
  for (const id of wallets) await runtime.call("wallet", id, "create", { initialBalance });
  const setupCommits = counts.commits;
  log(`eager ${mode}, round ${round_}: ${sagaCount} sagas on ${walletCount} wallets, ${concurrency} in flight, steps time out after ${stepTimeoutMs} ms`);
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let k = next++; k < sagaCount; k = next++) {
        const from = k % walletCount;
        const to = (from + 1 + (k % (walletCount - 1))) % walletCount;
        const t0 = performance.now();
        await runtime.call("transfer", `t${k}`, "start", { from: wallets[from], to: wallets[to], amount: 1 + (k % 100) });
        const end = (await runtime.workflowResult("transfer", `t${k}`, 60_000)) as { status: string };
        if (end.status !== "ended") throw new Error(`saga t${k} is ${end.status}, not ended`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const commits = counts.commits - setupCommits;
  let sum = 0;
  for (const id of wallets) sum += ((await runtime.call("wallet", id, "balance", {})) as { balance: number }).balance;
  const failed = await failedAttempts(runtime);
  await stop();
  latencies.sort((a, b) => a - b);
  const { p50, p99 } = quantiles(latencies, 1);
  emit({
    eagerStart: mode === "on",
    round: round_,
    sagas: sagaCount,
    wallets: walletCount,
    concurrency,
    stepTimeoutMs,
    sagasPerSecond: Math.round((sagaCount * 1000) / elapsedMs),
    p50Ms: p50,
    p99Ms: p99,
    failedAttemptsPer1000: Object.fromEntries(Object.entries(failed).map(([step, n]) => [step, round((1000 * n) / sagaCount, 1)])),
    commitsPerSaga: round(commits / sagaCount, 3),
    sumUnchanged: sum === walletCount * initialBalance,
    durability: synchronous,
  });
  program.removeDataDirs();
}

await program.run(async () => {
  for (let r = 1; r <= rounds; r++) for (const mode of modes) await runMode(mode, r);
});
