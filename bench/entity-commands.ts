/**
 * Event-sourced commands per second, through the in-process typed client and over HTTP, on
 * SQLite with default durability (WAL, synchronous=FULL: fsync on every commit).
 *
 * 10,000 wallets are created first; each measured command is a deposit to a random one of them.
 * Each concurrency (commands in flight) runs for BENCH_SECONDS after a BENCH_WARMUP_SECONDS
 * warm-up. For HTTP the service runs in its own process (bench/entity-commands-server.ts) and
 * this process only generates load, over keep-alive connections (one socket per command in flight).
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SECONDS=5          measured seconds per point
 *   BENCH_WARMUP_SECONDS=1   warm-up seconds per point
 *   BENCH_CONCURRENCY=1,64,256
 *   BENCH_ENTITIES=10000
 *   BENCH_MODES=in-process,http
 *   BENCH_FSYNC=1            count fsync/fdatasync calls with `perf stat` when perf is installed (0: don't)
 *   BENCH_DIR=<dir>          where the temporary data folders go (default: the OS temp dir)
 *   BENCH_SERVER_NODE_ARGS   extra node flags for the HTTP server process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * Run: npm run bench
 */
import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../src/client/client.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { InstanceWrite } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import bench, { wallet } from "./entity-commands-service.ts";
import {
  choicesEnv,
  forEach,
  fsyncsCounted,
  fsyncWindow,
  Latencies,
  numberEnv,
  peakRssMb,
  quantiles,
  resetPeakRss,
  round,
  sleep,
  usageWindow,
  wholeNumbersEnv,
} from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("entity-commands");
const { log, emit } = program;
const seconds = numberEnv("BENCH_SECONDS", 5);
const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 1);
const entities = numberEnv("BENCH_ENTITIES", 10_000);
const concurrencies = wholeNumbersEnv("BENCH_CONCURRENCY", "1,64,256");
const modes = choicesEnv("BENCH_MODES", "in-process,http", ["in-process", "http"]);
const serverNodeArgs = (process.env["BENCH_SERVER_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "");
const ids = Array.from({ length: entities }, (_, i) => `w${i}`);

type Mode = "in-process" | "http";

/** Sends one command to the wallet `id`; rejects when the command did not succeed. */
type Send = (id: string) => Promise<unknown>;

interface Counts {
  commits: number;
  writes: number;
}

/** What the point's system under test looks like from outside: its process and its commit counter. */
interface Target {
  pid: number;
  counts(): Promise<Counts>;
}

interface Run {
  commands: number;
  errors: number;
  firstError: unknown;
  elapsedMs: number;
  latencies: Latencies;
}

/**
 * Keeps `concurrency` commands in flight for `durationMs`: each worker sends a deposit to a
 * random wallet as soon as its previous one is answered. Latency is per command, end to end.
 */
async function drive(send: Send, concurrency: number, durationMs: number): Promise<Run> {
  const latencies = new Latencies();
  let errors = 0;
  let firstError: unknown;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      const t0 = performance.now();
      try {
        await send(id);
      } catch (error) {
        errors++;
        firstError ??= error;
        continue;
      }
      latencies.push(performance.now() - t0);
    }
  };
  const timer = setTimeout(() => (stop = true), durationMs);
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  return { commands: latencies.length, errors, firstError, elapsedMs: performance.now() - started, latencies };
}

/** One (mode, concurrency) point: warm-up, measured run, and its figures. */
async function point(mode: Mode, concurrency: number, send: Send, target: Target, durability: string): Promise<void> {
  resetPeakRss(target.pid);
  const syncCalls = await fsyncWindow(target.pid);
  const atStart = await target.counts();
  if (warmupSeconds > 0) {
    log(`${mode} c=${concurrency}: warm-up ${warmupSeconds}s`);
    const warm = await drive(send, concurrency, warmupSeconds * 1000);
    if (warm.errors > 0) log(`${mode} c=${concurrency}: ${warm.errors} errors in warm-up, first: ${String(warm.firstError)}`);
  }
  log(`${mode} c=${concurrency}: measuring ${seconds}s`);
  const before = await target.counts();
  const usage = usageWindow(target.pid);
  const run = await drive(send, concurrency, seconds * 1000);
  const used = usage.stop(run.elapsedMs);
  const after = await target.counts();
  const syncs = await syncCalls.stop();
  if (run.errors > 0) log(`${mode} c=${concurrency}: ${run.errors} errors, first: ${String(run.firstError)}`);

  const latency = quantiles(run.latencies.sorted(), 3);
  emit({
    mode,
    concurrency,
    commandsPerSecond: Math.round((run.commands * 1000) / run.elapsedMs),
    p50Ms: latency.p50,
    p99Ms: latency.p99,
    commands: run.commands,
    errors: run.errors,
    // in-process: this process (runtime + load); http: the server process.
    peakRssMb: peakRssMb(target.pid),
    durability,
    seconds: round(run.elapsedMs / 1000, 2),
    // CPU of the process running Sagaflow, 100 = one core busy; for http also the load generator's.
    ...(mode === "http"
      ? { serverCpuPct: used.targetCpuPct, loadCpuPct: used.selfCpuPct, loadPeakRssMb: peakRssMb(process.pid) }
      : { cpuPct: used.selfCpuPct }),
    // CPU time of the process running Sagaflow per command (less sensitive to other load than the rate).
    cpuUsPerCommand: run.commands === 0 ? null : round(((used.targetCpuMs ?? NaN) * 1000) / run.commands, 1),
    // CPU used by everything else on the machine meanwhile (other work skews the figures), 100 = one core.
    otherCpuPct: used.otherCpuPct,
  });
  const commits = after.commits - before.commits;
  const writes = after.writes - before.writes;
  const commitsInSyncWindow = after.commits - atStart.commits;
  emit({
    figure: "group-commit",
    mode,
    concurrency,
    commands: run.commands,
    commits,
    commitsPerSecond: Math.round((commits * 1000) / run.elapsedMs),
    // Instance writes (one per instance turn) per SQLite transaction: > 1 means group commit is batching.
    writesPerCommit: commits > 0 ? round(writes / commits, 1) : null,
    commandsPerCommit: commits > 0 ? round(run.commands / commits, 1) : null,
    // Storage writes (WAL frames, checkpoints) per command, from /proc/<pid>/io write_bytes.
    diskKbPerCommand:
      used.writtenBytes === null || run.commands === 0 ? null : round(used.writtenBytes / 1024 / run.commands, 2),
    // fsync + fdatasync calls per commit, over warm-up and measured run (perf stat); null where not measurable.
    fsyncsPerCommit: syncs !== undefined && commitsInSyncWindow > 0 ? round(syncs / commitsInSyncWindow, 2) : null,
  });
}

async function inProcess(): Promise<void> {
  const dir = program.newDataDir("in-process");
  const store = new SqliteStore({ path: join(dir, "sagaflow.db") });
  const counts: Counts = { commits: 0, writes: 0 };
  const commit = store.commit.bind(store);
  store.commit = (writes: InstanceWrite[]) => {
    counts.commits++;
    counts.writes += writes.length;
    return commit(writes);
  };
  const runtime = new Runtime({ store, components: bench.components });
  await runtime.start();
  try {
    const durability = store.settings().synchronous;
    const client = new Client(runtime);
    log(`in-process: creating ${entities} wallets in ${dir}`);
    await forEach(ids, 256, (id) => client.call(wallet, id).create({ initialBalance: 0 }));
    const send: Send = (id) => client.call(wallet, id).deposit({ amount: 1 });
    const target: Target = { pid: process.pid, counts: async () => ({ ...counts }) };
    for (const c of concurrencies) await point("in-process", c, send, target, durability);
  } finally {
    await runtime.stop();
  }
}

function startServer(dir: string): Promise<{ child: ChildProcess; url: URL; synchronous: string }> {
  const script = fileURLToPath(new URL("./entity-commands-server.ts", import.meta.url));
  const child = fork(script, [dir], {
    execArgv: ["--import", "tsx", ...serverNodeArgs],
    // The server's stdout would break "JSON lines only": send it to stderr.
    stdio: ["ignore", 2, 2, "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code} before it was ready`)));
    child.once("message", (message: { type: string; url: string; synchronous: string }) => {
      if (message.type === "ready") resolve({ child, url: new URL(message.url), synchronous: message.synchronous });
    });
  });
}

function serverCounts(child: ChildProcess): Promise<Counts> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string } & Counts) => {
      if (message.type !== "stats") return;
      child.off("message", onMessage);
      resolve({ commits: message.commits, writes: message.writes });
    };
    child.on("message", onMessage);
    child.send({ type: "stats" });
  });
}

/** POSTs a JSON body; resolves on 200, rejects with the status and body otherwise. */
function post(agent: http.Agent, url: URL, path: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: "POST",
        path,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function overHttp(): Promise<void> {
  const dir = program.newDataDir("http");
  log(`http: starting server on ${dir}`);
  const { child, url, synchronous } = await startServer(dir);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  try {
    const target: Target = { pid: child.pid!, counts: () => serverCounts(child) };
    log(`http: server pid ${child.pid} at ${url.href}; creating ${entities} wallets`);
    const setupAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    await forEach(ids, 256, (id) => post(setupAgent, url, `/wallet/${id}/create`, '{"initialBalance":0}'));
    setupAgent.destroy();
    const body = '{"amount":1}';
    for (const c of concurrencies) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: c });
      try {
        await point("http", c, (id) => post(agent, url, `/wallet/${id}/deposit`, body), target, synchronous);
      } finally {
        agent.destroy();
      }
    }
  } finally {
    child.send({ type: "close" });
    await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
  }
}

async function main(): Promise<void> {
  log(`node ${process.version}, ${seconds}s per point after ${warmupSeconds}s warm-up, ${entities} wallets, concurrency ${concurrencies.join("/")}${fsyncsCounted() ? ", counting fsyncs with perf" : ""}`);
  for (const mode of modes) {
    if (mode === "in-process") await inProcess();
    else await overHttp();
    program.removeDataDirs();
  }
}

await program.run(main);
