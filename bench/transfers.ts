/**
 * Money transfers per second and their latency, end to end, on SQLite with default durability
 * (WAL, synchronous=FULL: fsync on every commit), for the bank example's saga `transfer` and its
 * plain-workflow twin `transfer-workflow`.
 *
 * HTTP (the headline figures): the service runs in its own process exactly as users run it,
 * `node bin/sagaflow.mjs serve examples/bank --port 0 --data DIR`, and this process only
 * generates load over keep-alive connections (one socket per transfer in flight). BENCH_WALLETS
 * wallets are created first with large balances; each transfer moves 1..100 between two
 * different random wallets. A transfer's latency runs from sending `POST /{workflow}/{id}/start`
 * until `GET /{workflow}/{id}?wait=30` returns the ended record.
 *
 * In process (where the time goes): Runtime + SqliteStore in this process, the store's commit()
 * wrapped to count SQLite transactions, the instance writes in each and the time spent in them;
 * transfers go through the typed client and `runtime.workflowResult`.
 *
 * After every point the balances are checked: their sum is unchanged, and each wallet holds its
 * initial balance plus what completed transfers brought in minus what they took out (transfers
 * that errored are read back and booked by how they ended before the check).
 * fsync + fdatasync calls are counted with `perf stat` where perf is installed and permitted.
 *
 * The figures are only as good as the machine is quiet: each line carries `otherCpuPct`, the CPU
 * that everything else on the machine used during the measured run (100 = one core); well above
 * 0 the figure is disturbed (and a warning goes to stderr). In-process lines also say how many
 * SQLite pages each commit wrote (WAL frames, read from the -shm index) and what the commits that
 * ran SQLite's auto-checkpoint cost compared with the others.
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SECONDS=5            measured seconds per point
 *   BENCH_WARMUP_SECONDS=1     warm-up seconds per point (its transfers count for the balance check)
 *   BENCH_CONCURRENCY=1,16,64  transfers in flight
 *   BENCH_WALLETS=1000
 *   BENCH_WORKFLOWS=transfer,transfer-workflow
 *   BENCH_MODES=http,in-process
 *   BENCH_FSYNC=1              count fsyncs with perf (0: don't)
 *   BENCH_SYNC=FULL            SQLite synchronous mode (FULL is the default; NORMAL/OFF show what the fsyncs cost)
 *   BENCH_SERVER_ARGS=         extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   BENCH_DIR=<dir>            where the temporary data folders go (default: the OS temp dir)
 *
 * Run: npm run bench:transfers
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import bank from "../examples/bank/index.ts";
import { transferWorkflow } from "../examples/bank/transfer-workflow.ts";
import { transfer } from "../examples/bank/transfer.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { Client } from "../src/client/client.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { InstanceWrite } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import {
  choicesEnv,
  forEach,
  fsyncsCounted,
  fsyncWindow,
  Latencies,
  listEnv,
  numberEnv,
  peakRssMb,
  quantiles,
  requestJson,
  resetPeakRss,
  round,
  sleep,
  syncModeEnv,
  usageWindow,
  wholeNumbersEnv,
} from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("transfers");
const { log, emit } = program;
const seconds = numberEnv("BENCH_SECONDS", 5);
const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 1);
const walletCount = Math.max(2, Math.floor(numberEnv("BENCH_WALLETS", 1000)));
const concurrencies = wholeNumbersEnv("BENCH_CONCURRENCY", "1,16,64");
const definitions = { transfer, "transfer-workflow": transferWorkflow } as const;
type WorkflowName = keyof typeof definitions;
const workflowNames = choicesEnv("BENCH_WORKFLOWS", "transfer,transfer-workflow", ["transfer", "transfer-workflow"], "workflow");
const modes = choicesEnv("BENCH_MODES", "http,in-process", ["http", "in-process"]);
const serverNodeArgs = listEnv("BENCH_SERVER_ARGS", "").flatMap((s) => s.split(/\s+/));
const synchronous = syncModeEnv();

const initialBalance = 1_000_000_000;
const walletIds = Array.from({ length: walletCount }, (_, i) => `w${i}`);
const finalStatuses = new Set(["ended", "failed", "terminated"]);

interface TransferRequest {
  id: string;
  from: number;
  to: number;
  amount: number;
}

interface View {
  id: string;
  status: string;
  step: string | null;
  state: { status?: string } | null;
}

/** What the system under test must offer: run one transfer to its end, re-read one, read a balance. */
interface Target {
  workflow: WorkflowName;
  /** Starts the transfer and resolves with its record once it is over. */
  run(t: TransferRequest): Promise<View>;
  /** The record of a transfer, held until it is over (at most 30 s). */
  result(id: string): Promise<View | undefined>;
  balance(walletId: string): Promise<number>;
}

/**
 * The expected money movements: completed transfers move money; rejected and compensated ones
 * leave every balance as it was. Anything else (an error, a transfer not over, a saga needing
 * manual intervention) is kept aside and settled before the balances are checked.
 */
class Ledger {
  readonly delta: Float64Array;
  readonly outcomes = new Map<string, number>();
  unsettled: TransferRequest[] = [];

  constructor(wallets: number) {
    this.delta = new Float64Array(wallets);
  }

  /** Books a transfer by its final record; false if the record does not say what happened. */
  book(t: TransferRequest, view: View | undefined): boolean {
    const outcome = view && finalStatuses.has(view.status) ? `${view.status}/${view.state?.status ?? "?"}` : undefined;
    if (outcome === undefined || (outcome !== "ended/completed" && outcome !== "ended/rejected" && outcome !== "ended/compensated")) {
      return false;
    }
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (outcome === "ended/completed") {
      this.delta[t.from]! -= t.amount;
      this.delta[t.to]! += t.amount;
    }
    return true;
  }
}

interface Run {
  transfers: number;
  errors: number;
  firstError: unknown;
  elapsedMs: number;
  latencies: Latencies;
}

/**
 * Keeps `concurrency` transfers in flight for `durationMs`: each worker starts a new transfer as
 * soon as its previous one is over. Every transfer started is finished (or set aside) before it returns.
 */
async function drive(target: Target, ledger: Ledger, prefix: string, concurrency: number, durationMs: number): Promise<Run> {
  const latencies = new Latencies();
  let next = 0;
  let errors = 0;
  let firstError: unknown;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const from = Math.floor(Math.random() * walletCount);
      let to = Math.floor(Math.random() * (walletCount - 1));
      if (to >= from) to++;
      const t: TransferRequest = { id: `${prefix}-${next++}`, from, to, amount: 1 + Math.floor(Math.random() * 100) };
      const t0 = performance.now();
      let view: View;
      try {
        view = await target.run(t);
      } catch (error) {
        errors++;
        firstError ??= error;
        ledger.unsettled.push(t);
        // Failing fast must not starve the timer that ends the run, nor go on for long.
        if (errors > 100 && errors > latencies.length) stop = true;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const ms = performance.now() - t0;
      if (!ledger.book(t, view)) {
        errors++;
        firstError ??= new Error(`transfer ${t.id} ended as ${JSON.stringify(view)}`);
        ledger.unsettled.push(t);
        continue;
      }
      latencies.push(ms);
    }
  };
  const timer = setTimeout(() => (stop = true), durationMs);
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  if (errors > 100 && errors > latencies.length) throw new Error(`${prefix}: ${errors} of ${next} transfers failed; first: ${String(firstError)}`);
  return { transfers: latencies.length, errors, firstError, elapsedMs: performance.now() - started, latencies };
}

interface InvariantResult {
  holds: boolean;
  sumHolds: boolean;
  walletsWrong: number;
  unsettled: number;
}

/**
 * Settles what was set aside (reads each record, waiting for it to be over), then reads every
 * balance: the sum must be unchanged and each wallet must hold initial + in − out.
 */
async function checkInvariant(target: Target, ledger: Ledger): Promise<InvariantResult> {
  const still: TransferRequest[] = [];
  for (const t of ledger.unsettled) {
    let view: View | undefined;
    try {
      view = await target.result(t.id);
    } catch (error) {
      if (still.length < 5) log(`could not read transfer ${t.id}: ${String(error)}`);
      still.push(t);
      continue;
    }
    // Never started (the POST failed before the server took it): nothing moved.
    if (view === undefined) continue;
    if (!ledger.book(t, view)) still.push(t);
  }
  ledger.unsettled = still;
  for (const t of still.slice(0, 5)) log(`transfer ${t.id} cannot be settled (not over, unreadable, or needs manual intervention)`);
  if (still.length > 5) log(`... and ${still.length - 5} more transfers cannot be settled`);

  const balances = new Float64Array(walletCount);
  await forEach(walletIds, 64, async (id, i) => {
    balances[i] = await target.balance(id);
  });
  let sum = 0;
  let walletsWrong = 0;
  for (let i = 0; i < walletCount; i++) {
    sum += balances[i]!;
    const expected = initialBalance + ledger.delta[i]!;
    if (balances[i] !== expected) {
      if (walletsWrong < 5) log(`wallet ${walletIds[i]}: balance ${balances[i]}, expected ${expected}`);
      walletsWrong++;
    }
  }
  const sumHolds = sum === initialBalance * walletCount;
  if (!sumHolds) log(`sum of balances ${sum}, expected ${initialBalance * walletCount}`);
  return { holds: sumHolds && walletsWrong === 0 && still.length === 0, sumHolds, walletsWrong, unsettled: still.length };
}

function summary(run: Run) {
  const latency = quantiles(run.latencies.sorted(), 3);
  return {
    transfersPerSecond: Math.round((run.transfers * 1000) / run.elapsedMs),
    p50Ms: latency.p50,
    p99Ms: latency.p99,
    transfers: run.transfers,
  };
}

/** Warm-up, then the measured run, with fsyncs counted over both. */
async function measure(target: Target, ledger: Ledger, label: string, concurrency: number, pid: number) {
  // Ids allow letters, digits and _ . : @ + = ~ - only.
  const tag = `${target.workflow}.${label.split(" ")[0]}.c${concurrency}`;
  const syncs = await fsyncWindow(pid);
  let warmTransfers = 0;
  let warmElapsedMs = 0;
  if (warmupSeconds > 0) {
    log(`${label}: warm-up ${warmupSeconds}s`);
    const warm = await drive(target, ledger, `${tag}.warm`, concurrency, warmupSeconds * 1000);
    if (warm.errors > 0) log(`${label}: ${warm.errors} errors in warm-up, first: ${String(warm.firstError)}`);
    warmTransfers = warm.transfers + warm.errors;
    warmElapsedMs = warm.elapsedMs;
  }
  log(`${label}: measuring ${seconds}s`);
  resetPeakRss(pid);
  const usage = usageWindow(pid);
  const run = await drive(target, ledger, tag, concurrency, seconds * 1000);
  const used = usage.stop(run.elapsedMs);
  const syncCount = await syncs.stop();
  if (run.errors > 0) log(`${label}: ${run.errors} errors, first: ${String(run.firstError)}`);
  // What the rest of the machine used meanwhile (other processes, kernel threads): a figure taken
  // while something else was busy is not comparable. The target is this process when in process.
  if (used.otherCpuPct !== null && used.otherCpuPct > 20) {
    log(`${label}: other processes used ${used.otherCpuPct}% CPU meanwhile: the figure is disturbed`);
  }
  return {
    run,
    warmTransfers,
    warmElapsedMs,
    fsyncsPerTransfer: syncCount === undefined ? null : round(syncCount / (warmTransfers + run.transfers + run.errors), 2),
    diskWriteKbPerTransfer:
      used.writtenBytes === null || run.transfers === 0 ? null : round(used.writtenBytes / 1024 / run.transfers, 1),
    cpuPct: used.targetCpuPct,
    selfCpuPct: used.selfCpuPct,
    otherCpuPct: used.otherCpuPct,
  };
}

// ---------------------------------------------------------------- HTTP, server in its own process

const bin = fileURLToPath(new URL("../bin/sagaflow.mjs", import.meta.url));
const exampleDir = fileURLToPath(new URL("../examples/bank", import.meta.url));

async function startServer(dataDir: string): Promise<{ child: ChildProcess; url: URL; exited: Promise<void> }> {
  const child = spawn(process.execPath, [...serverNodeArgs, bin, "serve", exampleDir, "--port", "0", "--data", dataDir, "--sync", synchronous], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => process.stderr.write(chunk.replace(/^(?=.)/gm, "server: ")));
  const url = await new Promise<URL>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start within 30 s; it said: ${out}`)), 30_000);
    child.once("exit", (code) => reject(new Error(`server exited with ${code} before it was ready: ${out}`)));
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      out += chunk;
      const match = /serving .* on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(new URL(match[1]!));
      }
    });
  });
  return { child, url, exited };
}

function httpTarget(workflow: WorkflowName, url: URL, agent: http.Agent): Target {
  const result = async (id: string): Promise<View | undefined> => {
    // At most three waits of 30 s: a transfer not over by then is reported as it stands.
    for (let attempt = 1; ; attempt++) {
      const res = await requestJson(agent, url, "GET", `/${workflow}/${encodeURIComponent(id)}?wait=30`);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`GET ${workflow}/${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      const view = res.body as View;
      if (finalStatuses.has(view.status) || attempt === 3) return view;
    }
  };
  return {
    workflow,
    async run(t) {
      const body = { from: walletIds[t.from], to: walletIds[t.to], amount: t.amount };
      const res = await requestJson(agent, url, "POST", `/${workflow}/${encodeURIComponent(t.id)}/start`, body);
      if (res.status !== 200) throw new Error(`POST ${workflow}/${t.id}/start: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      const view = await result(t.id);
      if (!view) throw new Error(`transfer ${t.id} was started but is not found`);
      return view;
    },
    result,
    async balance(id) {
      const res = await requestJson(agent, url, "GET", `/wallet/${encodeURIComponent(id)}/balance`);
      if (res.status !== 200) throw new Error(`GET wallet/${id}/balance: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      return (res.body as { balance: number }).balance;
    },
  };
}

async function overHttp(workflow: WorkflowName): Promise<void> {
  const dir = program.newDataDir("http");
  log(`http ${workflow}: starting server on ${dir}`);
  const { child, url, exited } = await startServer(dir);
  const pid = child.pid!;
  try {
    log(`http ${workflow}: server pid ${pid} at ${url.href}; creating ${walletCount} wallets`);
    const setup = new http.Agent({ keepAlive: true, maxSockets: 64 });
    await forEach(walletIds, 64, async (id) => {
      const res = await requestJson(setup, url, "POST", `/wallet/${id}/create`, { initialBalance });
      if (res.status !== 200) throw new Error(`creating wallet ${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    });
    const ledger = new Ledger(walletCount);
    for (const concurrency of concurrencies) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      try {
        const target = httpTarget(workflow, url, agent);
        const m = await measure(target, ledger, `http ${workflow} c=${concurrency}`, concurrency, pid);
        const serverPeakRssMb = peakRssMb(pid);
        const invariant = await checkInvariant(httpTarget(workflow, url, setup), ledger);
        emit({
          workflow,
          concurrency,
          ...summary(m.run),
          invariantHolds: invariant.holds,
          serverPeakRssMb,
          errors: m.run.errors,
          seconds: round(m.run.elapsedMs / 1000, 2),
          durability: synchronous === "FULL" ? "FULL (serve default)" : synchronous,
          // fsync + fdatasync calls of the server per transfer, warm-up included; null without perf.
          fsyncsPerTransfer: m.fsyncsPerTransfer,
          // Bytes the server caused to be written to storage (/proc/PID/io write_bytes), measured run only.
          diskWriteKbPerTransfer: m.diskWriteKbPerTransfer,
          // 100 = one core busy.
          serverCpuPct: m.cpuPct,
          loadCpuPct: m.selfCpuPct,
          // CPU used by everything else on the machine meanwhile; well above 0, the figure is disturbed.
          otherCpuPct: m.otherCpuPct,
          // All transfers so far on this server, by final status: the balance check covers them all.
          outcomes: Object.fromEntries(ledger.outcomes),
        });
      } finally {
        agent.destroy();
      }
    }
    setup.destroy();
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
  }
}

// ---------------------------------------------------------------- in process: commits and their cost

interface CommitCounts {
  commits: number;
  writes: number;
  commitMs: number;
  /** Pages appended to the WAL (each a 4 KB frame at the default page size). */
  walFrames: number;
  /** Commits during which SQLite's auto-checkpoint ran, and the time they took. */
  checkpoints: number;
  checkpointMs: number;
}

/**
 * Reads SQLite's WAL index (the -shm file, shared memory every connection maps): `mxFrame`, the
 * last valid frame of the WAL, and `nBackfill`, how many of them checkpoints copied into the
 * database. Both restart from 0 when the WAL is reset after a complete checkpoint. Layout from
 * SQLite's wal.c: WalIndexHdr.mxFrame at byte 16, WalCkptInfo.nBackfill at byte 96, native order.
 */
class WalIndex {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(100);
  private mxFrame = 0;
  private nBackfill = 0;

  constructor(private readonly path: string) {}

  /** Frames appended since the last read, and whether a checkpoint copied frames meanwhile. */
  read(): { appended: number; checkpointed: boolean } {
    try {
      this.fd ??= openSync(this.path, "r");
    } catch {
      return { appended: 0, checkpointed: false };
    }
    readSync(this.fd, this.buf, 0, 100, 0);
    const mxFrame = this.buf.readUInt32LE(16);
    const nBackfill = this.buf.readUInt32LE(96);
    const appended = mxFrame >= this.mxFrame ? mxFrame - this.mxFrame : mxFrame;
    const checkpointed = nBackfill > this.nBackfill;
    this.mxFrame = mxFrame;
    this.nBackfill = nBackfill;
    return { appended, checkpointed };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

async function inProcess(workflow: WorkflowName): Promise<void> {
  const dir = program.newDataDir("in-process");
  const store = new SqliteStore({ path: join(dir, "sagaflow.db"), synchronous });
  const counts: CommitCounts = { commits: 0, writes: 0, commitMs: 0, walFrames: 0, checkpoints: 0, checkpointMs: 0 };
  const wal = new WalIndex(join(dir, "sagaflow.db-shm"));
  const commit = store.commit.bind(store);
  // better-sqlite3 is synchronous: the whole transaction, fsync included, runs inside this call.
  store.commit = (writes: InstanceWrite[]) => {
    const t0 = performance.now();
    const result = commit(writes);
    const ms = performance.now() - t0;
    counts.commitMs += ms;
    counts.commits++;
    counts.writes += writes.length;
    const frames = wal.read();
    counts.walFrames += frames.appended;
    if (frames.checkpointed) {
      counts.checkpoints++;
      counts.checkpointMs += ms;
    }
    return result;
  };
  const runtime = new Runtime({ store, components: bank.components });
  await runtime.start();
  try {
    const durability = store.settings().synchronous;
    const client = new Client(runtime);
    log(`in-process ${workflow}: creating ${walletCount} wallets in ${dir}`);
    await forEach(walletIds, 64, async (id) => {
      await client.call(wallet, id).create({ initialBalance });
    });
    const result = async (id: string): Promise<View | undefined> => {
      for (let attempt = 1; ; attempt++) {
        let view: View;
        try {
          view = (await runtime.workflowResult(workflow, id, 30_000)) as View;
        } catch (error) {
          if ((error as { code?: string }).code === "not_found") return undefined;
          throw error;
        }
        if (finalStatuses.has(view.status) || attempt === 3) return view;
      }
    };
    const target: Target = {
      workflow,
      async run(t) {
        const input = { from: walletIds[t.from]!, to: walletIds[t.to]!, amount: t.amount };
        // What `client.call(transfer, id).start(input)` does at run time; the typed client does not
        // list `start` for workflows (their `commands` type has an index signature), so call the runtime.
        await runtime.call(workflow, t.id, "start", input);
        const view = await result(t.id);
        if (!view) throw new Error(`transfer ${t.id} was started but is not found`);
        return view;
      },
      result,
      balance: async (id) => (await client.call(wallet, id).balance()).balance,
    };
    const ledger = new Ledger(walletCount);
    for (const concurrency of concurrencies) {
      const label = `in-process ${workflow} c=${concurrency}`;
      // Counted over warm-up and measured run, like the fsyncs.
      const before = { ...counts };
      const m = await measure(target, ledger, label, concurrency, process.pid);
      const commits = counts.commits - before.commits;
      const writes = counts.writes - before.writes;
      const commitMs = counts.commitMs - before.commitMs;
      const checkpoints = counts.checkpoints - before.checkpoints;
      const checkpointMs = counts.checkpointMs - before.checkpointMs;
      const all = m.warmTransfers + m.run.transfers + m.run.errors;
      const invariant = await checkInvariant(target, ledger);
      emit({
        bench: "transfers-in-process",
        workflow,
        concurrency,
        commitsPerTransfer: round(commits / all, 2),
        writesPerCommit: round(writes / commits, 2),
        fsyncsPerTransfer: m.fsyncsPerTransfer,
        diskWriteKbPerTransfer: m.diskWriteKbPerTransfer,
        ...summary(m.run),
        // Time inside store.commit (the SQLite transaction with its fsync) per transfer, and as a
        // share of the process's wall time: the rest is the runtime, the handlers and the event loop.
        // SQLite pages written to the WAL per commit (one frame per page changed, 4 KB each by default).
        walFramesPerCommit: round((counts.walFrames - before.walFrames) / commits, 1),
        commitMsPerTransfer: round(commitMs / all, 3),
        // A commit that crosses 1,000 WAL frames also runs SQLite's auto-checkpoint (copies the
        // WAL into the database file and fsyncs it): how often, and what such a commit costs.
        commitsWithCheckpointPct: round((100 * checkpoints) / commits, 2),
        plainCommitMs: round((commitMs - checkpointMs) / Math.max(1, commits - checkpoints), 3),
        checkpointCommitMs: checkpoints === 0 ? null : round(checkpointMs / checkpoints, 3),
        commitSharePct: round((100 * commitMs) / (m.warmElapsedMs + m.run.elapsedMs), 0),
        invariantHolds: invariant.holds,
        errors: m.run.errors,
        cpuPct: m.selfCpuPct,
        otherCpuPct: m.otherCpuPct,
        peakRssMb: peakRssMb(process.pid),
        durability,
      });
    }
  } finally {
    await runtime.stop();
    wal.close();
  }
}

async function main(): Promise<void> {
  log(
    `node ${process.version}, ${seconds}s per point after ${warmupSeconds}s warm-up, ${walletCount} wallets, ` +
      `concurrency ${concurrencies.join("/")}, workflows ${workflowNames.join("/")}, modes ${modes.join("/")}` +
      (fsyncsCounted() ? ", counting fsyncs with perf" : ", fsyncs not counted (no perf)"),
  );
  for (const mode of modes) {
    for (const name of workflowNames) {
      if (mode === "http") await overHttp(name);
      else await inProcess(name);
      program.removeDataDirs();
    }
  }
}

await program.run(main);
