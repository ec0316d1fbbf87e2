/**
 * A fixed, repeatable workload for bench/transfer-instructions.ts: BENCH_WARMUP transfer sagas of
 * the bank example, then BENCH_TRANSFERS more (the measured ones), in process on SQLite (a
 * temporary file), BENCH_CONCURRENCY in flight, between BENCH_WALLETS wallets chosen by a seeded
 * generator (every run makes the same transfers, 5% of them to a missing wallet, compensated).
 * Each is started, then awaited to its end. Prints one JSON line: the measured transfers, how they
 * ended, the store's commits (timing shapes how commits group, and valgrind slows everything
 * ~50×: two runs compare well only with like commits), the rate and the process's CPU time per
 * transfer (run it without valgrind, `node --conditions=sagaflow-source --import tsx <this file>`,
 * for native figures).
 *
 * With BENCH_PHASE_HANDSHAKE=1 it writes `workload: measure` to stderr before the measured
 * transfers and `workload: measured` after them, and each time waits for a line on stdin: the
 * driver zeroes and dumps valgrind's counters there.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bank from "../../examples/bank/index.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { seededRandom } from "../../test/support/random.ts";
import { countCommits, newCommitCounts } from "./commit-counts.ts";

const transfers = Number(process.env["BENCH_TRANSFERS"] ?? 500);
const warmup = Number(process.env["BENCH_WARMUP"] ?? 200);
const handshake = process.env["BENCH_PHASE_HANDSHAKE"] === "1";
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 1);
const walletCount = Number(process.env["BENCH_WALLETS"] ?? 200);

/** Says where the run stands and, with the handshake, waits for the driver's line on stdin. */
async function phase(name: string): Promise<void> {
  if (!handshake) return;
  process.stderr.write(`workload: ${name}\n`);
  // Resumed for the line, paused after it: a flowing stdin would keep the process from ending.
  await new Promise((resolve) => process.stdin.once("data", resolve).resume());
  process.stdin.pause();
}

const dir = mkdtempSync(join(tmpdir(), "sagaflow-transfer-workload-"));
const store = new SqliteStore({ path: join(dir, "bank.db") });
const counts = newCommitCounts();
countCommits(store, counts);
const runtime = new Runtime({ store, components: bank.components, log: () => {} });
try {
  await runtime.start();
  for (let w = 0; w < walletCount; w++) await runtime.call("wallet", `w${w}`, "create", { initialBalance: 1_000_000 });
  const random = seededRandom(42);
  const planOf = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => {
    const from = Math.floor(random() * walletCount);
    const to = (from + 1 + Math.floor(random() * (walletCount - 1))) % walletCount;
    return { id: `${prefix}${i}`, from: `w${from}`, to: random() < 0.05 ? "missing" : `w${to}`, amount: 1 + Math.floor(random() * 100) };
  });
  const ended: Record<string, number> = {};
  const drive = async (plan: ReturnType<typeof planOf>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < plan.length) {
          const t = plan[next++]!;
          await runtime.call("transfer", t.id, "start", { from: t.from, to: t.to, amount: t.amount });
          const view = (await runtime.workflowResult("transfer", t.id, 30_000)) as { state: { status: string } };
          ended[view.state.status] = (ended[view.state.status] ?? 0) + 1;
        }
      }),
    );
  };
  await drive(planOf("warm-", warmup));
  for (const key of Object.keys(ended)) delete ended[key];
  await phase("measure");
  const commitsBefore = counts.commits;
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  await drive(planOf("t", transfers));
  const elapsedMs = performance.now() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  const commits = counts.commits - commitsBefore;
  await phase("measured");
  // CPU time is of every thread (V8 compiles and collects garbage on its own threads when not --predictable).
  const cpuMsPerTransfer = Math.round(((cpu.user + cpu.system) / 1000 / transfers) * 1000) / 1000;
  const perSecond = Math.round((transfers / elapsedMs) * 1000);
  process.stdout.write(`${JSON.stringify({ transfers, concurrency, wallets: walletCount, ended, commits, perSecond, cpuMsPerTransfer })}\n`);
} finally {
  await runtime.stop();
  rmSync(dir, { recursive: true, force: true });
}
