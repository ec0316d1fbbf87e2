/**
 * Money transfers per second and their latency, end to end, for the bank example's saga
 * `transfer` and its plain-workflow twin `transfer-workflow`: on SQLite with default durability
 * (WAL, synchronous=FULL: fsync on every commit), or with BENCH_STORE=postgres on PostgreSQL
 * (a fresh schema, dropped afterwards; durable as the server is set up, synchronous_commit=on
 * by default) with BENCH_NODES node processes sharing it.
 *
 * HTTP (the headline figures): the service runs in its own process(es) exactly as users run it
 * (from this checkout's sources, with bench/support/server-counters.ts loaded to count the store's
 * commits, the writes in them, the writes refused as conflicts and PostgreSQL round trips,
 * printed per transfer),
 * `node bin/sagaflow.mjs serve examples/bank --port 0 --data DIR` (or `--postgres URL
 * --postgres-schema S --node-name nI`), and this process only generates load over keep-alive
 * connections (one socket per transfer in flight). BENCH_WALLETS wallets are created first with
 * large balances; each transfer moves 1..100 between two different random wallets, or (5%, see
 * BENCH_MISSING_PCT) to a wallet never created, whose refused deposit the saga compensates. A transfer's
 * latency runs from sending `POST /{workflow}/{id}/start` until `GET /{workflow}/{id}?wait=30`
 * returns the ended record (`startP50Ms`: the median until the start alone was answered). With several nodes, transfers go round-robin over them, each awaited
 * on the next node (see httpTarget), and nothing is measured before every node holds leases and
 * none is unheld (GET /nodes on the admin API).
 *
 * In process (where the time goes): Runtime + store in this process, the store's commit()
 * wrapped to count transactions, the instance writes in each and the time spent in them;
 * transfers go through the typed client and `runtime.workflowResult`.
 *
 * After every point the balances are checked: their sum is unchanged, and each wallet holds its
 * initial balance plus what completed transfers brought in minus what they took out (transfers
 * that errored are read back and booked by how they ended before the check).
 *
 * Where the time goes: on SQLite, fsync + fdatasync calls are counted with `perf stat` where perf
 * is installed and permitted, and in-process lines say how many SQLite pages each commit wrote
 * (WAL frames, read from the -shm index) and what the commits that ran SQLite's auto-checkpoint
 * cost compared with the others. On PostgreSQL, every line says what PostgreSQL did per transfer
 * during the measured run: write transactions, WAL bytes, WAL flushes and the CPU of the stores'
 * backends and of PostgreSQL's background processes (bench/support/postgres-usage.ts).
 *
 * The figures are only as good as the machine is quiet: each line carries `otherCpuPct`, the CPU
 * that everything else on the machine used during the measured run (100 = one core); well above
 * 0 the figure is disturbed (and a warning goes to stderr).
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SECONDS=5            measured seconds per point
 *   BENCH_WARMUP_SECONDS=1     warm-up seconds per point (its transfers count for the balance check)
 *   BENCH_CONCURRENCY=1,16,64  transfers in flight
 *   BENCH_WALLETS=1000
 *   BENCH_MISSING_PCT=5        transfers to a wallet never created (compensated), as in issue 13's scenario
 *   BENCH_WORKFLOWS=transfer,transfer-workflow
 *   BENCH_MODES=http,in-process  (http only by default with BENCH_NODES > 1: in process is one node);
 *                              `floor` adds the same HTTP load against a stand-in that answers at once,
 *                              no Sagaflow behind it: the floor under the HTTP figures (./support/http-floor.ts);
 *                              `bare` serves the same bank, store and engine behind the barest HTTP handler
 *                              instead of Sagaflow's (./support/bare-serve.ts): its lines say `"server": "bare"`
 *   BENCH_STORE=sqlite         or postgres
 *   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_NODES=1              PostgreSQL, HTTP: node processes sharing the schema
 *   BENCH_FSYNC=1              count fsyncs with perf (0: don't)
 *   BENCH_SYNC=FULL            SQLite synchronous mode (FULL is the default; NORMAL/OFF show what the fsyncs cost)
 *   BENCH_SERVER_ARGS=         extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   BENCH_SERVER_FROM=build    the HTTP servers run the built package (built again when stale), or `source`: the sources under tsx
 *   BENCH_DIR=<dir>            where the temporary data folders go (default: the OS temp dir)
 *
 * Run: npm run bench:transfers (SQLite), bench:transfers:postgres (1 node), bench:transfers:postgres2 (2 nodes)
 */
import http from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import bank from "../examples/bank/index.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { Client } from "../src/client/client.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { observeFromEnv } from "./support/observe-env.ts";
import type { Store } from "../src/store/port.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { countCommits, newCommitCounts, type CommitCounts } from "./support/commit-counts.ts";
import {
  choicesEnv,
  forEach,
  fsyncsCounted,
  fsyncWindow,
  listEnv,
  numberEnv,
  peakRssMb,
  requestJson,
  resetPeakRss,
  round,
  syncModeEnv,
  usageWindow,
  wholeNumbersEnv,
} from "./support/load.ts";
import { startFloorServer } from "./support/http-floor.ts";
import { pgStatementsSent } from "./support/pg-statements.ts";
import { storeKindEnv } from "./support/postgres-schema.ts";
import { postgresFigures, watchedSchema, type PostgresUsage, type PostgresWatch } from "./support/postgres-usage.ts";
import { benchProgram } from "./support/program.ts";
import { bareServe, bin, nodesReport, startNodes, startServe, waitForLeasesSpread, type ServeProcess, type ServerCounts } from "./support/sagaflow-nodes.ts";
import { WalIndex } from "./support/sqlite-wal-index.ts";
import { checkInvariant, drive, httpTarget, isOver, Ledger, summary, targetWallet, type Target, type View, type Wallets } from "./support/transfer-load.ts";

const program = benchProgram("transfers");
const { log, emit } = program;
const seconds = numberEnv("BENCH_SECONDS", 5);
const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 1);
const walletCount = Math.max(2, Math.floor(numberEnv("BENCH_WALLETS", 1000)));
const concurrencies = wholeNumbersEnv("BENCH_CONCURRENCY", "1,16,64");
/** The share of transfers to a wallet never created: the deposit is refused and the saga compensates. */
const missingShare = Math.min(1, Math.max(0, numberEnv("BENCH_MISSING_PCT", 5) / 100));
type WorkflowName = "transfer" | "transfer-workflow";
const workflowNames = choicesEnv("BENCH_WORKFLOWS", "transfer,transfer-workflow", ["transfer", "transfer-workflow"], "workflow");
const serverNodeArgs = listEnv("BENCH_SERVER_ARGS", "").flatMap((s) => s.split(/\s+/));
const synchronous = syncModeEnv();
const storeKind = storeKindEnv();
const nodeCount = wholeNumbersEnv("BENCH_NODES", "1")[0]!;
if (nodeCount > 1 && storeKind !== "postgres") throw new Error("BENCH_NODES > 1 needs BENCH_STORE=postgres: nodes share a PostgreSQL schema");
// In process is one node whatever BENCH_NODES says: with several, only HTTP unless asked for.
const modes = choicesEnv("BENCH_MODES", nodeCount > 1 ? "http" : "http,in-process", ["floor", "http", "bare", "in-process"]);
/** What answers HTTP in front of the bank: `sagaflow serve`, or the bare handler of ./support/bare-serve.ts. */
type Server = "serve" | "bare";
const entryOf = (server: Server) => (server === "bare" ? bareServe : bin);

const wallets: Wallets = { ids: Array.from({ length: walletCount }, (_, i) => `w${i}`), initialBalance: 1_000_000_000 };
const exampleDir = fileURLToPath(new URL("../examples/bank", import.meta.url));

/** What runs the bank, seen from outside: its processes (for CPU, RSS, fsyncs) and, on PostgreSQL, the server. */
interface SystemUnderTest {
  pids: number[];
  watch: PostgresWatch | undefined;
  /** Served over HTTP: what the server processes counted (commits, writes, PostgreSQL round trips), all added up. */
  counts?: () => Promise<ServerCounts>;
}

/** Round trips per statement over a point, per transfer started: those of at least 0.01, most first. */
function roundTripsBy(before: Record<string, number>, after: Record<string, number>, started: number): Record<string, number> {
  const per = Object.entries(after).map(([label, n]) => [label, round((n - (before[label] ?? 0)) / started, 2)] as const);
  return Object.fromEntries(per.filter(([, n]) => n >= 0.01).sort((a, b) => b[1] - a[1]));
}

function addedUp(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum = { ...a };
  for (const [label, n] of Object.entries(b)) sum[label] = (sum[label] ?? 0) + n;
  return sum;
}

/** Warm-up, then the measured run; fsyncs (SQLite) over both, PostgreSQL's share over the measured run. */
async function measure(target: Target, ledger: Ledger, label: string, concurrency: number, sut: SystemUnderTest) {
  // Ids allow letters, digits and _ . : @ + = ~ - only.
  const tag = `${target.workflow}.${label.split(" ")[0]}.c${concurrency}`;
  // On PostgreSQL the watch counts the WAL flushes: the node processes make no fsyncs.
  const syncs = await fsyncWindow(sut.watch ? [] : sut.pids);
  const countsBefore = await sut.counts?.();
  let warmTransfers = 0;
  let warmElapsedMs = 0;
  if (warmupSeconds > 0) {
    log(`${label}: warm-up ${warmupSeconds}s`);
    const warm = await drive(target, ledger, `${tag}.warm`, concurrency, warmupSeconds * 1000, missingShare);
    if (warm.errors > 0) log(`${label}: ${warm.errors} errors in warm-up, first: ${String(warm.firstError)}`);
    warmTransfers = warm.transfers + warm.errors;
    warmElapsedMs = warm.elapsedMs;
  }
  log(`${label}: measuring ${seconds}s`);
  for (const pid of sut.pids) resetPeakRss(pid);
  const pgWindow = await sut.watch?.start();
  const usage = usageWindow(sut.pids);
  const run = await drive(target, ledger, tag, concurrency, seconds * 1000, missingShare);
  const postgres: PostgresUsage | undefined = await pgWindow?.stop();
  const used = usage.stop(run.elapsedMs, postgres ? postgres.backendCpuMs + postgres.backgroundCpuMs : 0);
  const syncCount = await syncs.stop();
  const countsAfter = await sut.counts?.();
  if (run.errors > 0) log(`${label}: ${run.errors} errors, first: ${String(run.firstError)}`);
  // What the rest of the machine used meanwhile (other processes, kernel threads): a figure taken
  // while something else was busy is not comparable. The target is this process when in process.
  if (used.otherCpuPct !== null && used.otherCpuPct > 20) {
    log(`${label}: other processes used ${used.otherCpuPct}% CPU meanwhile: the figure is disturbed`);
  }
  const perTransfer = (n: number | null | undefined, digits: number) => (n == null || run.transfers === 0 ? null : round(n / run.transfers, digits));
  // Like the fsyncs: over warm-up and measured run, per transfer started.
  const started = warmTransfers + run.transfers + run.errors;
  const countedPer = (key: "commits" | "writes" | "conflicts" | "pgRoundTrips" | "pgBytesSent") => (countsBefore && countsAfter && started > 0 ? round((countsAfter[key] - countsBefore[key]) / started, 2) : null);
  return {
    commitsPerTransfer: countedPer("commits"),
    writesPerTransfer: countedPer("writes"),
    conflictsPerTransfer: countedPer("conflicts"),
    pgRoundTripsPerTransfer: countedPer("pgRoundTrips"),
    pgKbSentPerTransfer: countedPer("pgBytesSent") === null ? null : round(countedPer("pgBytesSent")! / 1024, 2),
    pgRoundTripsPerTransferBy: countsBefore && countsAfter && started > 0 ? roundTripsBy(countsBefore.pgRoundTripsBy, countsAfter.pgRoundTripsBy, started) : null,
    run,
    warmTransfers,
    warmElapsedMs,
    fsyncsPerTransfer: syncCount === undefined ? null : round(syncCount / (warmTransfers + run.transfers + run.errors), 2),
    diskWriteKbPerTransfer: perTransfer(used.writtenBytes === null ? null : used.writtenBytes / 1024, 1),
    cpuPct: used.targetCpuPct,
    // CPU time per transfer of the processes running Sagaflow: less sensitive to other load than the rate.
    cpuMsPerTransfer: perTransfer(used.targetCpuMs, 3),
    selfCpuPct: used.selfCpuPct,
    otherCpuPct: used.otherCpuPct,
    postgres: postgres ? postgresFigures(postgres, run.transfers, run.elapsedMs, "Transfer") : {},
  };
}

// ---------------------------------------------------------------- HTTP, servers in their own processes

/** The bank served by `nodeCount` processes on a fresh PostgreSQL schema, or by one on a fresh SQLite folder. */
async function startBank(workflow: WorkflowName, server: Server): Promise<{ nodes: ServeProcess[]; watch: PostgresWatch | undefined; durability: string; stop(): Promise<void> }> {
  if (storeKind === "sqlite") {
    const dir = program.newDataDir("http");
    log(`http ${workflow}: starting server on ${dir}`);
    const node = await startServe("server", exampleDir, ["--data", dir, "--sync", synchronous], serverNodeArgs, entryOf(server));
    return { nodes: [node], watch: undefined, durability: synchronous === "FULL" ? "FULL (serve default)" : synchronous, stop: program.defer(node.stop) };
  }
  const { schema, watch, close } = await watchedSchema(program, `${workflow}_http`);
  log(`http ${workflow}: starting ${nodeCount} node(s) on PostgreSQL schema ${schema.name}`);
  const args = (name: string) => ["--postgres", schema.storeUrl, "--postgres-schema", schema.name, "--node-name", name];
  const nodes = await startNodes(nodeCount, exampleDir, args, serverNodeArgs, entryOf(server));
  const stopNodes = program.defer(async () => void (await Promise.all(nodes.map((n) => n.stop()))));
  return {
    nodes,
    watch,
    durability: await watch.durability(),
    async stop() {
      await stopNodes();
      await close();
    },
  };
}

async function overHttp(workflow: WorkflowName, server: Server): Promise<void> {
  const bankServed = await startBank(workflow, server);
  const { nodes, watch } = bankServed;
  const urls = nodes.map((n) => n.url);
  const counts = async (): Promise<ServerCounts> =>
    (await Promise.all(nodes.map((n) => n.counts()))).reduce((a, b) => ({
      commits: a.commits + b.commits, writes: a.writes + b.writes, conflicts: a.conflicts + b.conflicts, pgRoundTrips: a.pgRoundTrips + b.pgRoundTrips,
      pgRoundTripsBy: addedUp(a.pgRoundTripsBy, b.pgRoundTripsBy), pgBytesSent: a.pgBytesSent + b.pgBytesSent,
    }));
  const sut: SystemUnderTest = { pids: nodes.map((n) => n.pid), watch, counts };
  // Every node holds leases (workflows run in leased buckets), none is unheld: a no-op on SQLite.
  const leasesSpread = () => waitForLeasesSpread(() => nodesReport(nodes[0]!.adminUrl), nodes.length);
  try {
    await leasesSpread();
    log(`http ${workflow}: node pid(s) ${sut.pids.join(", ")} at ${urls.map((u) => u.href).join(" ")}; creating ${walletCount} wallets`);
    const setup = new http.Agent({ keepAlive: true, maxSockets: 64 });
    await forEach(wallets.ids, 64, async (id, i) => {
      const res = await requestJson(setup, urls[i % urls.length]!, "POST", `/wallet/${id}/create`, { initialBalance: wallets.initialBalance });
      if (res.status !== 200) throw new Error(`creating wallet ${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    });
    const ledger = new Ledger(walletCount);
    for (const concurrency of concurrencies) {
      const spread = await leasesSpread();
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      try {
        const target = httpTarget(workflow, urls, agent, wallets);
        const m = await measure(target, ledger, `http ${workflow} c=${concurrency}`, concurrency, sut);
        const serverPeakRssMb = Math.max(...sut.pids.map((pid) => peakRssMb(pid) ?? NaN));
        const invariant = await checkInvariant(httpTarget(workflow, urls, setup, wallets), ledger, wallets, log);
        emit({
          store: storeKind,
          server,
          nodes: nodes.length,
          workflow,
          concurrency,
          ...summary(m.run),
          // Store commits (transactions) of the server(s) per transfer, warm-up included, and the
          // instance writes they carried (group commit: writes per commit = their ratio); on
          // PostgreSQL also the round trips, reads included. Background work (consumers, leases) is counted too.
          commitsPerTransfer: m.commitsPerTransfer,
          writesPerCommit: m.commitsPerTransfer && m.writesPerTransfer !== null ? round(m.writesPerTransfer / m.commitsPerTransfer, 1) : null,
          // Writes refused because another writer got there first (several nodes on one store).
          conflictsPerTransfer: m.conflictsPerTransfer,
          ...(watch ? { pgRoundTripsPerTransfer: m.pgRoundTripsPerTransfer, pgRoundTripsPerTransferBy: m.pgRoundTripsPerTransferBy, pgKbSentPerTransfer: m.pgKbSentPerTransfer } : {}),
          invariantHolds: invariant.holds,
          serverPeakRssMb,
          errors: m.run.errors,
          seconds: round(m.run.elapsedMs / 1000, 2),
          durability: bankServed.durability,
          ...(watch
            ? { leasesPerNode: spread.nodes.map((n) => n.leases.length) }
            : {
                // fsync + fdatasync calls of the server per transfer, warm-up included; null without perf.
                fsyncsPerTransfer: m.fsyncsPerTransfer,
                // Bytes the server caused to be written to storage (/proc/PID/io write_bytes), measured run only.
                diskWriteKbPerTransfer: m.diskWriteKbPerTransfer,
              }),
          // 100 = one core busy; all node processes together.
          serverCpuPct: m.cpuPct,
          serverCpuMsPerTransfer: m.cpuMsPerTransfer,
          loadCpuPct: m.selfCpuPct,
          ...m.postgres,
          // CPU used by everything else on the machine meanwhile; well above 0, the figure is disturbed.
          otherCpuPct: m.otherCpuPct,
          // All transfers so far on this bank, by final status: the balance check covers them all.
          outcomes: Object.fromEntries(ledger.outcomes),
        });
      } finally {
        agent.destroy();
      }
    }
    setup.destroy();
  } finally {
    await bankServed.stop();
  }
}

// ---------------------------------------------------------------- the HTTP floor: the same load, no Sagaflow

/** The same load over HTTP against a stand-in answering at once (./support/http-floor.ts): the floor under the HTTP figures. */
async function httpFloor(): Promise<void> {
  const floor = await startFloorServer();
  const stop = program.defer(floor.stop);
  try {
    for (const concurrency of concurrencies) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      try {
        const target = httpTarget("transfer", [floor.url], agent, wallets);
        const m = await measure(target, new Ledger(walletCount), `floor c=${concurrency}`, concurrency, { pids: [floor.pid], watch: undefined });
        emit({
          store: "none (HTTP floor)",
          concurrency,
          ...summary(m.run),
          errors: m.run.errors,
          seconds: round(m.run.elapsedMs / 1000, 2),
          serverCpuPct: m.cpuPct,
          serverCpuMsPerTransfer: m.cpuMsPerTransfer,
          loadCpuPct: m.selfCpuPct,
          otherCpuPct: m.otherCpuPct,
        });
      } finally {
        agent.destroy();
      }
    }
  } finally {
    await stop();
  }
}

// ---------------------------------------------------------------- in process: commits and their cost

/** A store for the in-process runs, its commits counted into `counts`. */
async function openStore(counts: CommitCounts): Promise<{ store: Store; watch: PostgresWatch | undefined; durability: () => Promise<string>; close(): Promise<void> }> {
  if (storeKind === "sqlite") {
    const dir = program.newDataDir("in-process");
    log(`in-process: SQLite in ${dir}`);
    const store = new SqliteStore({ path: join(dir, "sagaflow.db"), synchronous });
    const wal = new WalIndex(join(dir, "sagaflow.db-shm"));
    countCommits(store, counts, wal);
    return { store, watch: undefined, durability: async () => store.settings().synchronous, close: async () => wal.close() };
  }
  const { schema, watch, close } = await watchedSchema(program, "in_process");
  log(`in-process: PostgreSQL schema ${schema.name}`);
  pgStatementsSent(); // starts counting before the store connects
  const store = new PostgresStore({ connectionString: schema.storeUrl, schema: schema.name });
  countCommits(store, counts);
  return { store, watch, durability: () => watch.durability(), close };
}

async function inProcess(workflow: WorkflowName): Promise<void> {
  const counts = newCommitCounts();
  const opened = await openStore(counts);
  const observe = await observeFromEnv(log);
  const runtime = new Runtime({ store: opened.store, components: bank.components, observe });
  // Deferred after the schema: on SIGINT the runtime stops before its schema is dropped.
  const stopRuntime = program.defer(() => runtime.stop());
  const sut: SystemUnderTest = { pids: [process.pid], watch: opened.watch };
  try {
    await runtime.start();
    // On PostgreSQL the one node takes the leases (workflow buckets) in its first rounds.
    await waitForLeasesSpread(() => runtime.membership.report(), 1);
    const durability = await opened.durability();
    const client = new Client(runtime.dispatcher);
    log(`in-process ${workflow}: creating ${walletCount} wallets`);
    await forEach(wallets.ids, 64, async (id) => {
      await client.call(wallet, id).create({ initialBalance: wallets.initialBalance });
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
        if (isOver(view) || attempt === 3) return view;
      }
    };
    const target: Target = {
      workflow,
      async run(t, startAnswered) {
        const input = { from: wallets.ids[t.from]!, to: targetWallet(wallets, t.to), amount: t.amount };
        // What `client.call(transfer, id).start(input)` does at run time; the typed client does not
        // list `start` for workflows (their `commands` type has an index signature), so call the runtime.
        const sent = performance.now();
        await runtime.call(workflow, t.id, "start", input);
        startAnswered(performance.now() - sent);
        const view = await result(t.id);
        if (!view) throw new Error(`transfer ${t.id} was started but is not found`);
        return view;
      },
      result,
      balance: async (id) => (await client.call(wallet, id).balance()).balance,
    };
    const ledger = new Ledger(walletCount);
    for (const concurrency of concurrencies) {
      // Counted over warm-up and measured run, like the fsyncs.
      const before = { ...counts };
      const statementsBefore = storeKind === "postgres" ? pgStatementsSent() : 0;
      const m = await measure(target, ledger, `in-process ${workflow} c=${concurrency}`, concurrency, sut);
      const commits = counts.commits - before.commits;
      const commitMs = counts.commitMs - before.commitMs;
      const checkpoints = counts.checkpoints - before.checkpoints;
      const checkpointMs = counts.checkpointMs - before.checkpointMs;
      const all = m.warmTransfers + m.run.transfers + m.run.errors;
      const statements = storeKind === "postgres" ? pgStatementsSent() - statementsBefore : 0;
      const invariant = await checkInvariant(target, ledger, wallets, log);
      emit({
        bench: "transfers-in-process",
        store: storeKind,
        workflow,
        concurrency,
        commitsPerTransfer: round(commits / all, 2),
        writesPerCommit: round((counts.writes - before.writes) / commits, 2),
        ...summary(m.run),
        // Time inside store.commit per transfer: on SQLite the transaction with its fsync, blocking
        // the event loop; on PostgreSQL the commits' latency (the transfer waits for each in turn).
        commitMsPerTransfer: round(commitMs / all, 3),
        // The share of the wall time spent in commits. SQLite: the event loop is blocked, the rest is
        // the runtime, the handlers and the event loop. PostgreSQL: a commit is in flight (one at a
        // time per node, see GroupCommitter): near 100, the commit pipeline bounds the throughput.
        commitSharePct: round((100 * commitMs) / (m.warmElapsedMs + m.run.elapsedMs), 0),
        ...(storeKind === "sqlite"
          ? {
              fsyncsPerTransfer: m.fsyncsPerTransfer,
              diskWriteKbPerTransfer: m.diskWriteKbPerTransfer,
              // SQLite pages written to the WAL per commit (one frame per page changed, 4 KB each by default).
              walFramesPerCommit: round((counts.walFrames - before.walFrames) / commits, 1),
              // A commit that crosses 1,000 WAL frames also runs SQLite's auto-checkpoint (copies the
              // WAL into the database file and fsyncs it): how often, and what such a commit costs.
              commitsWithCheckpointPct: round((100 * checkpoints) / commits, 2),
              plainCommitMs: round((commitMs - checkpointMs) / Math.max(1, commits - checkpoints), 3),
              checkpointCommitMs: checkpoints === 0 ? null : round(checkpointMs / checkpoints, 3),
            }
          : {
              // Round trips to PostgreSQL per transfer (BEGIN and COMMIT included), and a commit's mean latency.
              pgRoundTripsPerTransfer: round(statements / all, 2),
              commitMs: round(commitMs / commits, 3),
              ...m.postgres,
            }),
        invariantHolds: invariant.holds,
        errors: m.run.errors,
        cpuPct: m.selfCpuPct,
        cpuMsPerTransfer: m.cpuMsPerTransfer,
        otherCpuPct: m.otherCpuPct,
        peakRssMb: peakRssMb(process.pid),
        durability,
      });
    }
  } finally {
    await stopRuntime();
    await opened.close();
  }
}

async function main(): Promise<void> {
  log(
    `node ${process.version}, ${seconds}s per point after ${warmupSeconds}s warm-up, ${walletCount} wallets, ` +
      `concurrency ${concurrencies.join("/")}, workflows ${workflowNames.join("/")}, modes ${modes.join("/")}, ` +
      `store ${storeKind}${storeKind === "postgres" ? ` (${nodeCount} node(s) over HTTP)` : ""}` +
      (fsyncsCounted() ? ", counting fsyncs with perf" : ", fsyncs not counted (no perf)"),
  );
  for (const mode of modes) {
    if (mode === "floor") {
      await httpFloor();
      continue;
    }
    for (const name of workflowNames) {
      if (mode === "http" || mode === "bare") await overHttp(name, mode === "http" ? "serve" : "bare");
      else await inProcess(name);
      program.removeDataDirs();
    }
  }
}

await program.run(main);
