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
 * With BENCH_CHECKOUTS=<dir>,<dir>… it measures each checkout in turn, round after round, and
 * prints each one's ratio to the first. Each checkout must hold bench/support/transfer-workload.ts
 * and bench/support/commit-counts.ts (copy them there; test/support/random.ts is there since
 * a9df358). Valgrind slows everything ~50×, so timer-driven choices (a held write's 50 ms, the
 * group commit) may fall differently than at full speed, and periodic work (the due sweep,
 * timers of membership and metrics) counts per transfer far more: compare runs with like
 * `commitsPerTransfer`, and confirm a finding with CPU time natively.
 *
 * stdout: one JSON line per checkout and round, then one per checkout with its median and ratio.
 *
 * Environment:
 *   BENCH_TRANSFERS=500       measured transfers per run
 *   BENCH_WARMUP=200          transfers before them, not counted
 *   BENCH_CONCURRENCY=1
 *   BENCH_WALLETS=200
 *   BENCH_ROUNDS=3
 *   BENCH_CHECKOUTS=.         checkouts to compare, the first the reference
 *   BENCH_CALLGRIND_DIR=      keep the dumps there (one per run, callgrind.<pid>.1), to read where
 *                             the instructions go: callgrind_annotate --inclusive=yes <dump>
 *
 * Run: npm run bench:transfer-instructions (about 100 s per run of 500 transfers on a 2-core VM)
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { listEnv, numberEnv, round } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("transfer-instructions");
const transfers = numberEnv("BENCH_TRANSFERS", 500);
const rounds = numberEnv("BENCH_ROUNDS", 3);
const checkouts = listEnv("BENCH_CHECKOUTS", ".").map((dir) => resolve(dir));
const workload = join("bench", "support", "transfer-workload.ts");

/** One run of the workload under callgrind: the instructions of its measured transfers, and their commits. */
function counted(checkout: string, outDir: string): Promise<{ instructions: number; commits: number; dump: string }> {
  const args = ["--tool=callgrind", `--callgrind-out-file=${join(outDir, "callgrind.%p")}`, process.execPath, "--predictable", "--predictable-gc-schedule", "--conditions=sagaflow-source", "--import", "tsx", workload];
  const child = spawn("valgrind", args, {
    cwd: checkout,
    env: { ...process.env, BENCH_TRANSFERS: String(transfers), BENCH_CONCURRENCY: String(numberEnv("BENCH_CONCURRENCY", 1)), BENCH_PHASE_HANDSHAKE: "1" },
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
  const perTransfer = new Map<string, number[]>(checkouts.map((c) => [c, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const checkout of checkouts) {
      program.log(`round ${r}: ${checkout}, ${transfers} transfers under valgrind`);
      const { instructions, commits, dump } = await counted(checkout, outDir);
      perTransfer.get(checkout)!.push(instructions / transfers);
      program.emit({ checkout, round: r, transfers, dump, instructionsPerTransfer: Math.round(instructions / transfers), commitsPerTransfer: round(commits / transfers, 3) });
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const reference = median(perTransfer.get(checkouts[0]!)!);
  for (const checkout of checkouts) {
    const m = median(perTransfer.get(checkout)!);
    program.emit({ checkout, summary: true, medianInstructionsPerTransfer: Math.round(m), ratioToFirst: round(m / reference, 3) });
  }
});
