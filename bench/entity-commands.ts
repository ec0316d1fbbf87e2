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
import { spawn, spawnSync, fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../src/client/client.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { InstanceWrite } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import bench, { wallet } from "./entity-commands-service.ts";

const seconds = numberEnv("BENCH_SECONDS", 5);
const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 1);
const entities = numberEnv("BENCH_ENTITIES", 10_000);
const concurrencies = (process.env["BENCH_CONCURRENCY"] ?? "1,64,256").split(",").map((s) => positiveInt(s.trim()));
const modes = (process.env["BENCH_MODES"] ?? "in-process,http").split(",").map((s) => s.trim());
const wantFsyncCount = process.env["BENCH_FSYNC"] !== "0";
const baseDir = process.env["BENCH_DIR"] ?? tmpdir();
const serverNodeArgs = (process.env["BENCH_SERVER_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "");
const ids = Array.from({ length: entities }, (_, i) => `w${i}`);
const tempDirs: string[] = [];

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
  latencies: Float64Array;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

function emit(figure: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: "entity-commands", ...figure })}\n`);
}

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, not ${raw}`);
  return n;
}

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONCURRENCY: ${raw} is not a whole number ≥ 1`);
  return n;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Keeps `concurrency` commands in flight for `durationMs`: each worker sends a deposit to a
 * random wallet as soon as its previous one is answered. Latency is per command, end to end.
 */
async function drive(send: Send, concurrency: number, durationMs: number): Promise<Run> {
  let latencies = new Float64Array(1 << 16);
  let commands = 0;
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
      if (commands === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[commands++] = performance.now() - t0;
    }
  };
  const timer = setTimeout(() => (stop = true), durationMs);
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  return { commands, errors, firstError, elapsedMs: performance.now() - started, latencies: latencies.subarray(0, commands) };
}

/** Runs `task` once for every id, with `concurrency` in flight. */
async function forEachId(task: (id: string) => Promise<unknown>, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) await task(ids[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Peak resident set size (VmHWM) of a process, in MB. */
function peakRssMb(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? round(Number(match[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0), so each point reports its own peak. */
function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not Linux or not allowed: the peak then covers the process's whole life so far.
  }
}

/** Bytes a process has caused to be written to storage (page cache writes included), from /proc. */
function writeBytes(pid: number): number | null {
  try {
    const match = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** CPU time all processes of the machine have used, in ms (Linux /proc/stat; user + nice + system + irq + softirq + steal). */
function machineCpuMs(): number | null {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) * 10;
  } catch {
    return null;
  }
}

/** CPU time (user + system) of a process in ms, from /proc. */
function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the command: state is [0], utime is [11], stime is [12], in clock ticks (100 Hz on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

const perfAvailable =
  wantFsyncCount && process.platform === "linux" && spawnSync("perf", ["--version"], { stdio: "ignore" }).status === 0;

/**
 * Counts fsync and fdatasync system calls of a process with `perf stat` (kernel tracepoint
 * counters: no per-call cost worth mentioning). Resolves to undefined where perf is missing or
 * not allowed.
 */
function countSyncCalls(pid: number): { stop(): Promise<number | undefined> } {
  if (!perfAvailable) return { stop: async () => undefined };
  const perf = spawn(
    "perf",
    ["stat", "-x", ",", "-e", "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync", "-p", String(pid)],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let output = "";
  perf.stderr.setEncoding("utf8");
  perf.stderr.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<void>((done) => {
    perf.once("close", () => done());
    perf.once("error", () => done());
  });
  return {
    async stop() {
      perf.kill("SIGINT");
      await exited;
      let total = 0;
      let found = 0;
      for (const line of output.split("\n")) {
        const [value, , event] = line.split(",");
        if (event?.startsWith("syscalls:sys_enter_f") && /^\d+$/.test(value ?? "")) {
          total += Number(value);
          found++;
        }
      }
      return found === 2 ? total : undefined;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One (mode, concurrency) point: warm-up, measured run, and its figures. */
async function point(mode: Mode, concurrency: number, send: Send, target: Target, durability: string): Promise<void> {
  resetPeakRss(target.pid);
  const syncCalls = countSyncCalls(target.pid);
  if (perfAvailable) await sleep(300); // let perf attach before any load starts
  const atStart = await target.counts();
  if (warmupSeconds > 0) {
    log(`${mode} c=${concurrency}: warm-up ${warmupSeconds}s`);
    const warm = await drive(send, concurrency, warmupSeconds * 1000);
    if (warm.errors > 0) log(`${mode} c=${concurrency}: ${warm.errors} errors in warm-up, first: ${String(warm.firstError)}`);
  }
  log(`${mode} c=${concurrency}: measuring ${seconds}s`);
  const before = await target.counts();
  const machineBefore = machineCpuMs();
  const targetCpuBefore = cpuMs(target.pid);
  const writtenBefore = writeBytes(target.pid);
  const selfCpuBefore = process.cpuUsage();
  const run = await drive(send, concurrency, seconds * 1000);
  const selfCpu = process.cpuUsage(selfCpuBefore);
  const targetCpuAfter = cpuMs(target.pid);
  const machineAfter = machineCpuMs();
  const writtenAfter = writeBytes(target.pid);
  const after = await target.counts();
  const syncs = await syncCalls.stop();
  if (run.errors > 0) log(`${mode} c=${concurrency}: ${run.errors} errors, first: ${String(run.firstError)}`);

  const sorted = run.latencies.slice().sort();
  const cpuPct = (ms: number) => round((100 * ms) / run.elapsedMs, 0);
  const selfCpuMs = (selfCpu.user + selfCpu.system) / 1000;
  const targetCpuPct =
    targetCpuBefore === null || targetCpuAfter === null ? null : cpuPct(targetCpuAfter - targetCpuBefore);
  emit({
    mode,
    concurrency,
    commandsPerSecond: Math.round((run.commands * 1000) / run.elapsedMs),
    p50Ms: round(percentile(sorted, 0.5), 3),
    p99Ms: round(percentile(sorted, 0.99), 3),
    commands: run.commands,
    errors: run.errors,
    // in-process: this process (runtime + load); http: the server process.
    peakRssMb: peakRssMb(target.pid),
    durability,
    seconds: round(run.elapsedMs / 1000, 2),
    // CPU of the process running Sagaflow, 100 = one core busy; for http also the load generator's.
    ...(mode === "http"
      ? { serverCpuPct: targetCpuPct, loadCpuPct: cpuPct(selfCpuMs), loadPeakRssMb: peakRssMb(process.pid) }
      : { cpuPct: cpuPct(selfCpuMs) }),
    // CPU time of the process running Sagaflow per command (less sensitive to other load than the rate).
    cpuUsPerCommand:
      run.commands === 0
        ? null
        : round(((mode === "http" ? (targetCpuAfter ?? NaN) - (targetCpuBefore ?? NaN) : selfCpuMs) * 1000) / run.commands, 1),
    // CPU used by everything else on the machine meanwhile (other work skews the figures), 100 = one core.
    otherCpuPct:
      machineBefore === null || machineAfter === null || targetCpuPct === null
        ? null
        : Math.max(0, cpuPct(machineAfter - machineBefore - selfCpuMs - (mode === "http" ? targetCpuAfter! - targetCpuBefore! : 0))),
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
      writtenBefore === null || writtenAfter === null || run.commands === 0
        ? null
        : round((writtenAfter - writtenBefore) / 1024 / run.commands, 2),
    // fsync + fdatasync calls per commit, over warm-up and measured run (perf stat); null where not measurable.
    fsyncsPerCommit: syncs !== undefined && commitsInSyncWindow > 0 ? round(syncs / commitsInSyncWindow, 2) : null,
  });
}

function newDataDir(mode: string): string {
  const dir = mkdtempSync(join(baseDir, `sagaflow-bench-${mode}-`));
  tempDirs.push(dir);
  return dir;
}

function removeDataDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

async function inProcess(): Promise<void> {
  const dir = newDataDir("in-process");
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
    await forEachId((id) => client.call(wallet, id).create({ initialBalance: 0 }), 256);
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
  const dir = newDataDir("http");
  log(`http: starting server on ${dir}`);
  const { child, url, synchronous } = await startServer(dir);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  try {
    const target: Target = { pid: child.pid!, counts: () => serverCounts(child) };
    log(`http: server pid ${child.pid} at ${url.href}; creating ${entities} wallets`);
    const setupAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    await forEachId((id) => post(setupAgent, url, `/wallet/${id}/create`, '{"initialBalance":0}'), 256);
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
  log(`node ${process.version}, ${seconds}s per point after ${warmupSeconds}s warm-up, ${entities} wallets, concurrency ${concurrencies.join("/")}${perfAvailable ? ", counting fsyncs with perf" : ""}`);
  for (const mode of modes) {
    if (mode === "in-process") await inProcess();
    else if (mode === "http") await overHttp();
    else throw new Error(`BENCH_MODES: unknown mode "${mode}" (use in-process, http)`);
    removeDataDirs();
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    removeDataDirs();
    process.exit(130);
  });
}

try {
  await main();
} catch (error) {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  removeDataDirs();
}
