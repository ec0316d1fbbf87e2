/**
 * Event-sourced commands per second, through the in-process typed client and over HTTP, on
 * SQLite with default durability (WAL, synchronous=FULL: fsync on every commit), or with
 * BENCH_STORE=postgres on PostgreSQL (a fresh schema per mode, dropped afterwards; durable as the
 * server is set up, synchronous_commit=on by default).
 *
 * 10,000 wallets are created first; each measured command is a deposit to a random one of them.
 * Each concurrency (commands in flight) runs for BENCH_SECONDS after a BENCH_WARMUP_SECONDS
 * warm-up. For HTTP the service runs in its own process (bench/entity-commands-server.ts) and
 * this process only generates load, over keep-alive connections (one socket per command in flight).
 * On PostgreSQL each line also says what PostgreSQL did per command during the measured run
 * (write transactions, WAL bytes and flushes, CPU of its backends: bench/support/postgres-usage.ts).
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SECONDS=5          measured seconds per point
 *   BENCH_WARMUP_SECONDS=1   warm-up seconds per point
 *   BENCH_CONCURRENCY=1,64,256
 *   BENCH_ENTITIES=10000
 *   BENCH_MODES=in-process,http
 *   BENCH_STORE=sqlite       or postgres
 *   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_FSYNC=1            count fsync/fdatasync calls with `perf stat` when perf is installed (0: don't)
 *   BENCH_DIR=<dir>          where the temporary data folders go (default: the OS temp dir)
 *   BENCH_SERVER_NODE_ARGS   extra node flags for the HTTP server process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * Run: npm run bench (SQLite), npm run bench:postgres
 */
import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../src/client/client.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { observeFromEnv } from "./support/observe-env.ts";
import type { Store } from "../src/store/port.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import bench, { wallet } from "./entity-commands-service.ts";
import { countCommits, newCommitCounts } from "./support/commit-counts.ts";
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
import { pgStatementsSent } from "./support/pg-statements.ts";
import { storeKindEnv, type BenchSchema } from "./support/postgres-schema.ts";
import { postgresFigures, watchedSchema, type PostgresWatch } from "./support/postgres-usage.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("entity-commands");
const { log, emit } = program;
const seconds = numberEnv("BENCH_SECONDS", 5);
const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 1);
const entities = numberEnv("BENCH_ENTITIES", 10_000);
const concurrencies = wholeNumbersEnv("BENCH_CONCURRENCY", "1,64,256");
const modes = choicesEnv("BENCH_MODES", "in-process,http", ["in-process", "http"]);
const serverNodeArgs = (process.env["BENCH_SERVER_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "");
const storeKind = storeKindEnv();
const ids = Array.from({ length: entities }, (_, i) => `w${i}`);

type Mode = "in-process" | "http";

/** Sends one command to the wallet `id`; rejects when the command did not succeed. */
type Send = (id: string) => Promise<unknown>;

interface Counts {
  commits: number;
  writes: number;
  /** SQL statements sent to PostgreSQL (0 on SQLite). */
  statements: number;
  /** Time in store.commit (see CommitCounts.commitMs). */
  commitMs: number;
}

/** What the point's system under test looks like from outside: its process, its commit counter and, on PostgreSQL, the server. */
interface Target {
  pid: number;
  counts(): Promise<Counts>;
  watch: PostgresWatch | undefined;
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
  // On PostgreSQL the watch counts the WAL flushes: the process running Sagaflow makes no fsyncs.
  const syncCalls = await fsyncWindow(target.watch ? [] : target.pid);
  const atStart = await target.counts();
  if (warmupSeconds > 0) {
    log(`${mode} c=${concurrency}: warm-up ${warmupSeconds}s`);
    const warm = await drive(send, concurrency, warmupSeconds * 1000);
    if (warm.errors > 0) log(`${mode} c=${concurrency}: ${warm.errors} errors in warm-up, first: ${String(warm.firstError)}`);
  }
  log(`${mode} c=${concurrency}: measuring ${seconds}s`);
  const before = await target.counts();
  const pgWindow = await target.watch?.start();
  const usage = usageWindow(target.pid);
  const run = await drive(send, concurrency, seconds * 1000);
  const postgres = await pgWindow?.stop();
  const used = usage.stop(run.elapsedMs, postgres ? postgres.backendCpuMs + postgres.backgroundCpuMs : 0);
  const after = await target.counts();
  const syncs = await syncCalls.stop();
  if (run.errors > 0) log(`${mode} c=${concurrency}: ${run.errors} errors, first: ${String(run.firstError)}`);

  const latency = quantiles(run.latencies.sorted(), 3);
  emit({
    store: storeKind,
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
    ...(postgres ? postgresFigures(postgres, run.commands, run.elapsedMs, "Command") : {}),
    // CPU used by everything else on the machine meanwhile (other work skews the figures), 100 = one core.
    otherCpuPct: used.otherCpuPct,
  });
  const commits = after.commits - before.commits;
  const writes = after.writes - before.writes;
  const commitsInSyncWindow = after.commits - atStart.commits;
  emit({
    figure: "group-commit",
    store: storeKind,
    mode,
    concurrency,
    commands: run.commands,
    commits,
    commitsPerSecond: Math.round((commits * 1000) / run.elapsedMs),
    // Instance writes (one per instance turn) per store transaction: > 1 means group commit is batching.
    writesPerCommit: commits > 0 ? round(writes / commits, 1) : null,
    commandsPerCommit: commits > 0 ? round(run.commands / commits, 1) : null,
    // Share of the wall time in store.commit: SQLite, the event loop blocked in it; PostgreSQL, a
    // commit in flight (one at a time): near 100, the commit pipeline bounds the throughput.
    commitSharePct: round((100 * (after.commitMs - before.commitMs)) / run.elapsedMs, 0),
    ...(target.watch
      ? {
          // Round trips to PostgreSQL (BEGIN and COMMIT included) per command and per commit.
          pgStatementsPerCommand: run.commands > 0 ? round((after.statements - before.statements) / run.commands, 2) : null,
          pgStatementsPerCommit: commits > 0 ? round((after.statements - before.statements) / commits, 1) : null,
        }
      : {
          // Storage writes (WAL frames, checkpoints) per command, from /proc/<pid>/io write_bytes.
          diskKbPerCommand:
            used.writtenBytes === null || run.commands === 0 ? null : round(used.writtenBytes / 1024 / run.commands, 2),
          // fsync + fdatasync calls per commit, over warm-up and measured run (perf stat); null where not measurable.
          fsyncsPerCommit: syncs !== undefined && commitsInSyncWindow > 0 ? round(syncs / commitsInSyncWindow, 2) : null,
        }),
  });
}

/** A fresh store for one mode: a SQLite folder, or a PostgreSQL schema (with the watch on its server). */
async function freshStore(label: Mode): Promise<{ dir: string; schema: BenchSchema | undefined; watch: PostgresWatch | undefined; close(): Promise<void> }> {
  if (storeKind === "sqlite") return { dir: program.newDataDir(label), schema: undefined, watch: undefined, close: async () => {} };
  const watched = await watchedSchema(program, label);
  return { dir: watched.schema.name, ...watched };
}

async function inProcess(): Promise<void> {
  const fresh = await freshStore("in-process");
  if (fresh.schema) pgStatementsSent(); // starts counting before the store connects
  const store: Store = fresh.schema
    ? new PostgresStore({ connectionString: fresh.schema.storeUrl, schema: fresh.schema.name })
    : new SqliteStore({ path: join(fresh.dir, "sagaflow.db") });
  const counts = newCommitCounts();
  countCommits(store, counts);
  const observe = await observeFromEnv(log);
  const runtime = new Runtime({ store, components: bench.components, observe });
  // Deferred after the schema: on SIGINT the runtime stops before its schema is dropped.
  const stopRuntime = program.defer(() => runtime.stop());
  try {
    await runtime.start();
    const durability = fresh.watch ? await fresh.watch.durability() : (store as SqliteStore).settings().synchronous;
    const client = new Client(runtime.dispatcher);
    log(`in-process: creating ${entities} wallets in ${fresh.dir}`);
    await forEach(ids, 256, (id) => client.call(wallet, id).create({ initialBalance: 0 }));
    const send: Send = (id) => client.call(wallet, id).deposit({ amount: 1 });
    const target: Target = {
      pid: process.pid,
      counts: async () => ({ ...counts, statements: fresh.schema ? pgStatementsSent() : 0 }),
      watch: fresh.watch,
    };
    for (const c of concurrencies) await point("in-process", c, send, target, durability);
  } finally {
    await stopRuntime();
    await fresh.close();
  }
}

/** Forks bench/entity-commands-server.ts on a SQLite folder, or on a PostgreSQL schema (`--postgres URL SCHEMA`). */
function startServer(args: string[]): Promise<{ child: ChildProcess; url: URL; durability: string }> {
  const script = fileURLToPath(new URL("./entity-commands-server.ts", import.meta.url));
  const child = fork(script, args, {
    execArgv: ["--import", "tsx", ...serverNodeArgs],
    // The server's stdout would break "JSON lines only": send it to stderr.
    stdio: ["ignore", 2, 2, "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code} before it was ready`)));
    child.once("message", (message: { type: string; url: string; durability: string }) => {
      if (message.type === "ready") resolve({ child, url: new URL(message.url), durability: message.durability });
    });
  });
}

function serverCounts(child: ChildProcess): Promise<Counts> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string } & Counts) => {
      if (message.type !== "stats") return;
      child.off("message", onMessage);
      resolve({ commits: message.commits, writes: message.writes, statements: message.statements, commitMs: message.commitMs });
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
  const fresh = await freshStore("http");
  log(`http: starting server on ${fresh.dir}`);
  const server = await startServer(fresh.schema ? ["--postgres", fresh.schema.storeUrl, fresh.schema.name] : [fresh.dir]);
  const { child, url } = server;
  const durability = fresh.watch ? await fresh.watch.durability() : server.durability;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  try {
    const target: Target = { pid: child.pid!, counts: () => serverCounts(child), watch: fresh.watch };
    log(`http: server pid ${child.pid} at ${url.href}; creating ${entities} wallets`);
    const setupAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    await forEach(ids, 256, (id) => post(setupAgent, url, `/wallet/${id}/create`, '{"initialBalance":0}'));
    setupAgent.destroy();
    const body = '{"amount":1}';
    for (const c of concurrencies) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: c });
      try {
        await point("http", c, (id) => post(agent, url, `/wallet/${id}/deposit`, body), target, durability);
      } finally {
        agent.destroy();
      }
    }
  } finally {
    child.send({ type: "close" });
    await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    await fresh.close();
  }
}

async function main(): Promise<void> {
  log(`node ${process.version}, ${seconds}s per point after ${warmupSeconds}s warm-up, ${entities} wallets, concurrency ${concurrencies.join("/")}, store ${storeKind}${fsyncsCounted() ? ", counting fsyncs with perf" : ""}`);
  for (const mode of modes) {
    if (mode === "in-process") await inProcess();
    else await overHttp();
    program.removeDataDirs();
  }
}

await program.run(main);
