/**
 * CPU per transfer saga as instructions, counted by valgrind (callgrind): a figure that does not
 * move with the load of a shared machine, so that a change to the command or commit path can be
 * judged on a VM whose timings swing 2× within minutes. bench/support/transfer-workload.ts makes
 * BENCH_WARMUP transfers, then BENCH_TRANSFERS measured ones, in process on SQLite; the counters
 * are zeroed before the measured ones and read after them (callgrind_control), so start-up,
 * module loading and warm-up are not counted. V8 runs with --predictable (one thread: no
 * concurrent compilation or GC threads to count) and --predictable-gc-schedule (no time-driven
 * GC). On a 2-core VM a run repeats within ±3%; CPU time swings ±20%.
 *
 * The compilers and the GC run on the main thread then, so they are counted too: after 200
 * transfers of warm-up, TurboFan still took 60% of a measured transfer's instructions, and whether
 * a major GC falls into the window moves the total by 10–25%. Each run therefore also says where
 * its instructions went (./support/callgrind-categories.ts), and the summary compares checkouts
 * by `rest` — everything but the compilers and the GC — as well as by the total.
 *
 * With BENCH_CHECKOUTS=<dir>,<dir>… it measures each checkout in turn, round after round, and
 * prints each one's ratio to the first. Each checkout must hold bench/support/transfer-workload.ts
 * and bench/support/commit-counts.ts (copy them there; test/support/random.ts is there since
 * a9df358). Valgrind slows everything ~50×, so timer-driven choices (a held write's 50 ms, the
 * group commit) may fall differently than at full speed, and periodic work (the due sweep,
 * timers of membership and metrics) counts per transfer far more: compare runs with like
 * `commitsPerTransfer`, and confirm a finding with CPU time natively.
 *
 * stdout: one JSON line per checkout and round (with `byCategory`), then one per checkout with its
 * medians and ratios.
 *
 * Environment:
 *   BENCH_TRANSFERS=300       measured transfers per run
 *   BENCH_WARMUP=1000         transfers before them, not counted (most code is optimised by then)
 *   BENCH_CONCURRENCY=1
 *   BENCH_WALLETS=200
 *   BENCH_ROUNDS=3
 *   BENCH_CHECKOUTS=.         checkouts to compare, the first the reference
 *   BENCH_CALLGRIND_DIR=      keep the dumps there (one per run, callgrind.<pid>.1), to read where
 *                             the instructions go: callgrind_annotate --inclusive=yes <dump>
 *
 * Run: npm run bench:transfer-instructions (about 3.5 min per run on a 2-core VM; needs valgrind,
 * and callgrind_annotate for the categories)
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { instructionCategories } from "./support/callgrind-categories.ts";
import { listEnv, numberEnv, round } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("transfer-instructions");
const transfers = numberEnv("BENCH_TRANSFERS", 300);
const warmup = numberEnv("BENCH_WARMUP", 1_000);
const rounds = numberEnv("BENCH_ROUNDS", 3);
const checkouts = listEnv("BENCH_CHECKOUTS", ".").map((dir) => resolve(dir));
const workload = join("bench", "support", "transfer-workload.ts");

/** One run of the workload under callgrind: the instructions of its measured transfers, and their commits. */
function counted(checkout: string, outDir: string): Promise<{ instructions: number; commits: number; dump: string }> {
  const args = ["--tool=callgrind", `--callgrind-out-file=${join(outDir, "callgrind.%p")}`, process.execPath, "--predictable", "--predictable-gc-schedule", "--conditions=sagaflow-source", "--import", "tsx", workload];
  const child = spawn("valgrind", args, {
    cwd: checkout,
    env: { ...process.env, BENCH_TRANSFERS: String(transfers), BENCH_WARMUP: String(warmup), BENCH_CONCURRENCY: String(numberEnv("BENCH_CONCURRENCY", 1)), BENCH_PHASE_HANDSHAKE: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk;
    // Zero the counters as the measured transfers begin; write them out (dump 1) once they are done.
    for (const [marker, command] of [["workload: measure\n", "-z"], ["workload: measured\n", "-d"]] as const) {
      if (chunk.toString().includes(marker)) {
        spawnSync("callgrind_control", [command, String(child.pid)]);
        child.stdin.write("go\n");
      }
    }
  });
  return new Promise((resolvePromise, reject) => {
    child.on("exit", (code) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      const dump = join(outDir, `callgrind.${child.pid}.1`);
      const totals = existsSync(dump) ? /^(?:totals|summary): (\d+)/m.exec(readFileSync(dump, "utf8")) : null;
      if (code !== 0 || !totals || !line.startsWith("{")) {
        reject(new Error(`the workload in ${checkout} failed (exit ${code}, dump ${totals ? "read" : "missing"}): ${stderr.slice(-2_000)}`));
        return;
      }
      resolvePromise({ instructions: Number(totals[1]), commits: (JSON.parse(line) as { commits: number }).commits, dump });
    });
  });
}

await program.run(async () => {
  if (spawnSync("valgrind", ["--version"]).status !== 0) throw new Error("valgrind is not installed (Debian: apt-get install valgrind)");
  for (const checkout of checkouts) {
    if (!existsSync(join(checkout, workload))) throw new Error(`${checkout} has no ${workload}: copy it (and bench/support/commit-counts.ts) there`);
  }
  const keptDir = process.env.BENCH_CALLGRIND_DIR;
  if (keptDir) mkdirSync(keptDir, { recursive: true });
  const outDir = keptDir ? resolve(keptDir) : program.newDataDir("callgrind");
  // Per checkout, each round's instructions per transfer: in all, and outside the compilers and the GC.
  const perTransfer = new Map<string, Array<{ all: number; rest: number | undefined }>>(checkouts.map((c) => [c, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const checkout of checkouts) {
      program.log(`round ${r}: ${checkout}, ${warmup} transfers to warm up and ${transfers} measured under valgrind`);
      const { instructions, commits, dump } = await counted(checkout, outDir);
      const perTransferOf = (count: number) => Math.round(count / transfers);
      const categories = instructionCategories(dump);
      perTransfer.get(checkout)!.push({ all: instructions / transfers, rest: categories && categories.rest / transfers });
      const byCategory = categories && Object.fromEntries(Object.entries(categories).map(([category, count]) => [category, perTransferOf(count)]));
      program.emit({ checkout, round: r, transfers, dump, instructionsPerTransfer: perTransferOf(instructions), byCategory, commitsPerTransfer: round(commits / transfers, 3) });
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const medians = (checkout: string) => {
    const runs = perTransfer.get(checkout)!;
    return { all: median(runs.map((run) => run.all)), rest: runs.every((run) => run.rest !== undefined) ? median(runs.map((run) => run.rest!)) : undefined };
  };
  const reference = medians(checkouts[0]!);
  for (const checkout of checkouts) {
    const m = medians(checkout);
    program.emit({
      checkout,
      summary: true,
      medianInstructionsPerTransfer: Math.round(m.all),
      ratioToFirst: round(m.all / reference.all, 3),
      // Without the compilers and the GC (see ./support/callgrind-categories.ts): the figure to judge a change by.
      medianRestPerTransfer: m.rest === undefined ? null : Math.round(m.rest),
      restRatioToFirst: m.rest === undefined || reference.rest === undefined ? null : round(m.rest / reference.rest, 3),
    });
  }
});
