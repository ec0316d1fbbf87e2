/**
 * Views: how fast they follow the command side, and how fast they answer, on SQLite with default
 * durability (WAL, synchronous=FULL: fsync on every commit, the views' commits included), in
 * process (Runtime + SqliteStore), with the shop example (examples/shop).
 *
 * steady: an open-loop load of R `cart.addItem` commands per second (over BENCH_CARTS carts of
 *   BENCH_USERS users) for BENCH_SECONDS, while the `carts` view follows. Each command's reply
 *   carries its feed position; each commit of the view is noted with its offset and time. Lag of
 *   an event = when the view's commit covering its position returned − when the command was
 *   acknowledged (so: how long after a write a query without waitForPosition could still miss
 *   it; 0 when the view had committed it before the reply reached the caller — the same group
 *   commit wakes the view). sendToVisible = from sending the command to the view's commit. Throughput = events applied by the view per second in the load window. The backlog
 *   (feed head − view offset) is sampled every BENCH_SAMPLE_MS.
 * rebuild: the carts view is rebuilt from position 0 over everything the steady runs wrote (and
 *   BENCH_REBUILD_EVENTS more if the feed is shorter), with queries running meanwhile; figure:
 *   events/s of the rebuild, and the latency of the queries served during it.
 * query: byUser over BENCH_ROWS (1,000,000) rows. The rows are written straight into the view's
 *   active table through the store's own `views.commitView` (what the view runner calls), in
 *   transactions of BENCH_FILL_BATCH rows, not by replaying 1,000,000 events (which would take
 *   minutes and measure the command side): the table, its indexes (derived from the view's
 *   queries at start) and the query path are the real ones. Rows: BENCH_USERS users with
 *   BENCH_ROWS / BENCH_USERS carts each. Then BENCH_QUERIES byUser queries for random users, in
 *   process (ViewService.query: compile-free prepared statement, SQLite, JSON) and over HTTP
 *   (serve() on the same file, one keep-alive connection, and BENCH_HTTP_CONCURRENCY at once),
 *   p50/p99/max; and `EXPLAIN QUERY PLAN` of each shop query: byUser and open must SEARCH an index
 *   the view created (top reads one in order), with no table scan and no sort step.
 *
 * streamed: writes/s and the server's RSS with 0, 100 unread and 1,000 reading streamed queries
 *   of a large result open (bench/views-streamed.ts, which lists its BENCH_STREAM_* settings).
 * ids: puts of a key-value entity, each to an id not written before (BENCH_IDS of them, ids in
 *   random order: a hash of the count, or BENCH_IDS_ORDER=sequential), BENCH_IDS_CONCURRENCY in
 *   flight, in process; once with no view and once with a view of them (a table fed by the
 *   entity's state, with one query, so one index besides the id), in a fresh folder each,
 *   BENCH_IDS_ROUNDS times alternately. One line per BENCH_IDS_SLICE ids: puts/s, store commits,
 *   the view's lag at the end of the slice, and where the time goes: CPU ms per put, GC, read and
 *   write system calls per put (SQLite reads a page it does not hold with one pread: reads per put
 *   are page-cache misses), bytes read and written, the database and WAL sizes, RSS and heap.
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_MODES=steady,rebuild,query,streamed   (and ids, on request)
 *   BENCH_SECONDS=8                load seconds per steady rate
 *   BENCH_RATES=500,2000,5000      addItem commands per second (steady), one point each
 *   BENCH_CARTS=5000               carts the steady load writes to
 *   BENCH_USERS=10000              users (query mode: rows per user = BENCH_ROWS / BENCH_USERS)
 *   BENCH_REBUILD_EVENTS=20000     at least this many feed entries for the rebuild figure
 *   BENCH_ROWS=1000000             view rows for the query figures
 *   BENCH_FILL_BATCH=20000         rows per commitView transaction when filling
 *   BENCH_QUERIES=2000             queries per latency figure
 *   BENCH_HTTP_CONCURRENCY=8
 *   BENCH_SAMPLE_MS=20
 *   BENCH_SYNC=FULL                SQLite synchronous mode (NORMAL/OFF show what fsyncs cost)
 *   BENCH_IDS=100000               ids mode: distinct ids written, one put each
 *   BENCH_IDS_SLICE=10000          ids per figure
 *   BENCH_IDS_CONCURRENCY=64       puts in flight
 *   BENCH_IDS_VARIANTS=none,view   without and with the view (run in this order each round)
 *   BENCH_IDS_ROUNDS=1
 *   BENCH_IDS_ORDER=random         or sequential (ids that sort in the order they are written)
 *   BENCH_DIR=<dir>                where the temporary data folders go (default: the OS temp dir)
 *
 * Run: npm run bench:views
 */
import Database from "better-sqlite3";
import http from "node:http";
import { existsSync, readFileSync, statSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { cpus } from "node:os";
import { join } from "node:path";
import { serve } from "../src/cli/serve.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import type { ViewRowUpdate } from "../src/store/view-port.ts";
import { compileSqlite } from "../src/store/sqlite/sqlite-query-compiler.ts";
import { parseQuery } from "../src/views/query/index.ts";
import shop from "../examples/shop/index.ts";
import { keyValue } from "../src/define/key-value.ts";
import { table as viewTable, view } from "../src/define/view.ts";
import { carts, products } from "../examples/shop/views.ts";
import { choicesEnv, Latencies, listEnv, numberEnv, openLoop, percentile, positiveNumbersEnv, requestJson, round, sleep, syncModeEnv } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";
import { streamed } from "./views-streamed.ts";

const program = benchProgram("views");
const { log, emit, newDataDir, removeDataDirs } = program;

const modes = listEnv("BENCH_MODES", "steady,rebuild,query,streamed");
const seconds = numberEnv("BENCH_SECONDS", 8);
const rates = positiveNumbersEnv("BENCH_RATES", "500,2000,5000");
const cartCount = Math.max(1, Math.floor(numberEnv("BENCH_CARTS", 5_000)));
const userCount = Math.max(1, Math.floor(numberEnv("BENCH_USERS", 10_000)));
const rebuildEvents = Math.floor(numberEnv("BENCH_REBUILD_EVENTS", 20_000));
const rowCount = Math.max(1, Math.floor(numberEnv("BENCH_ROWS", 1_000_000)));
const fillBatch = Math.max(1, Math.floor(numberEnv("BENCH_FILL_BATCH", 20_000)));
const queryCount = Math.max(1, Math.floor(numberEnv("BENCH_QUERIES", 2_000)));
const httpConcurrency = Math.max(1, Math.floor(numberEnv("BENCH_HTTP_CONCURRENCY", 8)));
const sampleMs = Math.max(1, numberEnv("BENCH_SAMPLE_MS", 20));
const synchronous = syncModeEnv();
const idCount = Math.max(1, Math.floor(numberEnv("BENCH_IDS", 100_000)));
const idSlice = Math.max(1, Math.floor(numberEnv("BENCH_IDS_SLICE", 10_000)));
const idConcurrency = Math.max(1, Math.floor(numberEnv("BENCH_IDS_CONCURRENCY", 64)));
const idVariants = choicesEnv("BENCH_IDS_VARIANTS", "none,view", ["none", "view"] as const, "variant");
const idRounds = Math.max(1, Math.floor(numberEnv("BENCH_IDS_ROUNDS", 1)));
const [idOrder] = choicesEnv("BENCH_IDS_ORDER", "random", ["random", "sequential"] as const, "order");

for (const mode of modes) {
  if (mode !== "steady" && mode !== "rebuild" && mode !== "query" && mode !== "streamed" && mode !== "ids") {
    throw new Error(`BENCH_MODES: unknown mode "${mode}" (use steady, rebuild, query, streamed, ids)`);
  }
}

const userId = (i: number) => `user-${i}`;
const cartId = (i: number) => `cart-${String(i).padStart(7, "0")}`;

function latencyFigure(sorted: Float64Array): Record<string, number> {
  return {
    p50Ms: round(percentile(sorted, 0.5), 3),
    p99Ms: round(percentile(sorted, 0.99), 3),
    maxMs: round(sorted.at(-1) ?? NaN, 3),
  };
}

// ---------------------------------------------------------------- one runtime on the shop

interface Harness {
  dir: string;
  path: string;
  store: SqliteStore;
  runtime: Runtime;
  /** (offset, time) of each commit of the carts view's active or building generation, in order. */
  commits: Array<{ generation: number; offset: number; at: number; rows: number }>;
}

async function open(dir: string): Promise<Harness> {
  const path = join(dir, "sagaflow.db");
  const store = new SqliteStore({ path, synchronous });
  const commits: Harness["commits"] = [];
  // Note each commit of the carts view when it has returned (committed, fsynced).
  const views = store.views;
  const commitView = views.commitView.bind(views);
  views.commitView = async (name: string, generation: number, offset: number, updates: ViewRowUpdate[], ...rest) => {
    await commitView(name, generation, offset, updates, ...rest);
    if (name === "carts") commits.push({ generation, offset, at: performance.now(), rows: updates.length });
  };
  const runtime = new Runtime({ store, components: shop.components, log: (line) => log(line) });
  await runtime.start();
  return { dir, path, store, runtime, commits };
}

/** Waits until `done()` or `timeoutMs`; false on time-out. */
async function until(done: () => boolean, timeoutMs: number, stepMs = 2): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > end) return false;
    await sleep(stepMs);
  }
  return true;
}

const cartsRunner = (h: Harness) => h.runtime.views.runner("carts");

// ---------------------------------------------------------------- steady

interface Sent {
  sentAt: Float64Array;
  ackAt: Float64Array;
  position: Float64Array;
  acked: number;
  errors: number;
  firstError: unknown;
}

/** Sends `rate` addItem commands per second for `durationMs`, open loop (the schedule does not wait for replies). */
async function sendAddItems(h: Harness, rate: number, durationMs: number, sent: Sent, offsetIndex: number): Promise<{ sent: number; maxSlipMs: number }> {
  const send = (i: number) => {
    const n = offsetIndex + i;
    const c = n % cartCount;
    sent.sentAt[i] = performance.now();
    h.runtime
      .callForReply("cart", cartId(c), "addItem", { userId: userId(c % userCount), productId: `p${n % 50}`, name: "thing", quantity: 1, price: 2.5 })
      .then(
        (reply) => {
          if (!reply.ok) throw new Error(`${reply.code}: ${reply.message}`);
          sent.ackAt[i] = performance.now();
          sent.position[i] = reply.position ?? 0;
          sent.acked++;
        },
      )
      .catch((error: unknown) => {
        sent.errors++;
        sent.firstError ??= error;
      });
  };
  const run = await openLoop(rate, durationMs, send);
  return { sent: run.sent, maxSlipMs: run.maxSlipMs };
}

async function steady(h: Harness, rate: number, offsetIndex: number): Promise<number> {
  const total = Math.round(rate * seconds);
  const sent: Sent = { sentAt: new Float64Array(total), ackAt: new Float64Array(total), position: new Float64Array(total), acked: 0, errors: 0, firstError: undefined };
  const runner = cartsRunner(h);
  const startOffset = runner.serving?.offset ?? 0;
  log(`steady ${rate}/s: ${seconds}s, ${cartCount} carts, view at ${startOffset}`);
  const commitsBefore = h.commits.length;
  let maxBacklog = 0;
  const backlogSamples: number[] = [];
  const sampler = setInterval(() => {
    void h.store.feedHead().then((head) => {
      const backlog = head - (runner.serving?.offset ?? 0);
      maxBacklog = Math.max(maxBacklog, backlog);
      backlogSamples.push(backlog);
    });
  }, sampleMs);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const run = await sendAddItems(h, rate, seconds * 1000, sent, offsetIndex);
  const windowEnd = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const offsetAtWindowEnd = runner.serving?.offset ?? 0;
  await until(() => sent.acked + sent.errors >= total, 60_000);
  const lastPosition = Math.max(...sent.position);
  const caughtUp = await until(() => (runner.serving?.offset ?? 0) >= lastPosition, 60_000);
  const allVisible = performance.now();
  clearInterval(sampler);
  if (!caughtUp) log(`steady ${rate}/s: the view did not catch up`);
  if (sent.errors > 0) log(`steady ${rate}/s: ${sent.errors} commands failed, first: ${String(sent.firstError)}`);

  // When did each event become visible? The first commit whose offset covers its position.
  const commits = h.commits.slice(commitsBefore).filter((c) => c.generation === runner.serving!.generation);
  const lag = new Latencies();
  const fromSend = new Latencies();
  const order = Array.from({ length: total }, (_, i) => i).filter((i) => sent.ackAt[i]! > 0).sort((a, b) => sent.position[a]! - sent.position[b]!);
  let c = 0;
  for (const i of order) {
    while (c < commits.length && commits[c]!.offset < sent.position[i]!) c++;
    if (c === commits.length) break;
    lag.push(Math.max(0, commits[c]!.at - sent.ackAt[i]!));
    fromSend.push(commits[c]!.at - sent.sentAt[i]!);
  }
  const elapsedMs = windowEnd - t0;
  const applied = offsetAtWindowEnd - startOffset; // every feed entry here is a cart event
  const lagSorted = lag.sorted();
  const sendSorted = fromSend.sorted();
  const sortedBacklog = Float64Array.from(backlogSamples).sort();
  emit({
    mode: "steady",
    targetRate: rate,
    commandRate: Math.round((sent.acked * 1000) / elapsedMs),
    viewEventsPerSecond: Math.round((applied * 1000) / elapsedMs),
    // From the command's acknowledgement until the view's commit covering it returned.
    lagP50Ms: round(percentile(lagSorted, 0.5), 2),
    lagP99Ms: round(percentile(lagSorted, 0.99), 2),
    lagMaxMs: round(lagSorted.at(-1) ?? NaN, 2),
    sendToVisibleP50Ms: round(percentile(sendSorted, 0.5), 2),
    sendToVisibleP99Ms: round(percentile(sendSorted, 0.99), 2),
    backlogP50: percentile(sortedBacklog, 0.5),
    backlogMax: maxBacklog,
    viewCommits: commits.length,
    eventsPerViewCommit: commits.length > 0 ? round(applied / commits.length, 1) : null,
    tailMs: round(allVisible - windowEnd, 1),
    events: sent.acked,
    errors: sent.errors,
    seconds: round(elapsedMs / 1000, 2),
    loadMaxSlipMs: round(run.maxSlipMs, 1),
    cpuPct: round((100 * (cpu.user + cpu.system)) / 1000 / elapsedMs, 0),
    durability: h.store.settings().synchronous,
  });
  return total;
}

// ---------------------------------------------------------------- rebuild

/** Writes `count` more addItem events as fast as they go (512 in flight). */
async function fill(h: Harness, count: number, offsetIndex: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = offsetIndex + next++;
      const c = n % cartCount;
      const reply = await h.runtime.callForReply("cart", cartId(c), "addItem", { userId: userId(c % userCount), productId: `p${n % 50}`, name: "thing", quantity: 1, price: 2.5 });
      if (!reply.ok) throw new Error(`${reply.code}: ${reply.message}`);
    }
  };
  await Promise.all(Array.from({ length: 512 }, worker));
}

async function rebuild(h: Harness): Promise<void> {
  const runner = cartsRunner(h);
  const head = await h.store.feedHead();
  const before = runner.serving!.generation;
  log(`rebuild: carts from position 0 to ${head}, with byUser queries meanwhile`);
  const latencies = new Latencies();
  let querying = true;
  let answered = 0;
  const queries = (async () => {
    for (let i = 0; querying; i++) {
      const t = performance.now();
      await h.runtime.views.query("carts", "byUser", { userId: userId((i * 7919) % Math.min(userCount, cartCount)) });
      latencies.push(performance.now() - t);
      answered++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await runner.rebuild();
  const done = await until(() => runner.serving!.generation > before && runner.rebuilding === null, 300_000, 1);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  querying = false;
  await queries;
  if (!done) log("rebuild: did not finish");
  const sorted = latencies.sorted();
  emit({
    mode: "rebuild",
    feedEntries: head,
    eventsPerSecond: Math.round((head * 1000) / elapsedMs),
    rebuildSeconds: round(elapsedMs / 1000, 2),
    // byUser queries answered (from the old generation) while the new one was being filled.
    queriesDuringRebuild: answered,
    queryDuringRebuildP50Ms: round(percentile(sorted, 0.5), 3),
    queryDuringRebuildP99Ms: round(percentile(sorted, 0.99), 3),
    queryDuringRebuildMaxMs: round(sorted.at(-1) ?? NaN, 3),
    cpuPct: round((100 * (cpu.user + cpu.system)) / 1000 / elapsedMs, 0),
    durability: h.store.settings().synchronous,
  });
}

// ---------------------------------------------------------------- query

/** Fills the carts view's active table with `rowCount` rows through the store's commitView. */
async function fillRows(h: Harness): Promise<{ table: string; seconds: number }> {
  const runner = cartsRunner(h);
  await until(() => runner.serving !== null, 10_000);
  const generation = runner.serving!.generation;
  const offset = runner.serving!.offset;
  const table = runner.tableFor("carts")!;
  const perUser = Math.max(1, Math.floor(rowCount / userCount));
  log(`query: writing ${rowCount} rows (${userCount} users × ${perUser} carts) into ${table}, ${fillBatch} per transaction`);
  const t0 = performance.now();
  for (let start = 0; start < rowCount; start += fillBatch) {
    const updates: ViewRowUpdate[] = [];
    for (let i = start; i < Math.min(rowCount, start + fillBatch); i++) {
      const items = [{ productId: `p${i % 50}`, name: "thing", quantity: 1 + (i % 3), price: 2.5 }];
      updates.push({
        table,
        id: cartId(i),
        // Users own interleaved carts (user i % users), so one user's rows are spread over the table.
        row: { cartId: cartId(i), userId: userId(i % userCount), items, itemCount: items[0]!.quantity, total: items[0]!.quantity * 2.5, checkedOut: i % 3 === 0 },
      });
    }
    await h.store.views.commitView("carts", generation, offset, updates);
    if ((start / fillBatch) % 10 === 0) log(`query: ${start + updates.length} rows`);
  }
  return { table, seconds: (performance.now() - t0) / 1000 };
}

/** EXPLAIN QUERY PLAN of a view query as the store runs it: does it search an index, scan, sort? */
function plan(path: string, table: string, text: string, params: Record<string, unknown>) {
  const db = new Database(path, { readonly: true });
  try {
    const compiled = compileSqlite(parseQuery(text), table, { offset: 0, limit: 1_000, extra: 1 });
    const rows = db.prepare(`EXPLAIN QUERY PLAN ${compiled.sql}`).all(...compiled.bind(params)) as Array<{ detail: string }>;
    const detail = rows.map((r) => r.detail);
    const index = detail.map((d) => /USING (?:COVERING )?INDEX (\S+)/.exec(d)?.[1]).find((i) => i !== undefined);
    return {
      usesIndex: index !== undefined,
      // SEARCH: the index narrows the rows (WHERE); SCAN … USING INDEX: rows read in index order (ORDER BY … LIMIT).
      access: detail.some((d) => d.startsWith("SEARCH")) ? "search" : "scan",
      index: index ?? null,
      tableScan: detail.some((d) => /^SCAN /.test(d) && !/USING (COVERING )?INDEX/.test(d)),
      sorts: detail.some((d) => d.includes("TEMP B-TREE")),
      detail,
    };
  } finally {
    db.close();
  }
}

async function timeQueries(run: (i: number) => Promise<unknown>, count: number, concurrency: number): Promise<{ sorted: Float64Array; qps: number }> {
  const latencies = new Latencies();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await run(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { sorted: latencies.sorted(), qps: Math.round((count * 1000) / (performance.now() - t0)) };
}

async function query(): Promise<void> {
  const dir = newDataDir("query");
  const h = await open(dir);
  let table: string;
  const perUser = Math.max(1, Math.floor(rowCount / userCount));
  try {
    const filled = await fillRows(h);
    table = filled.table;
    emit({
      mode: "query",
      figure: "fill",
      rows: rowCount,
      users: userCount,
      rowsPerUser: perUser,
      rowsPerSecond: Math.round(rowCount / filled.seconds),
      fillSeconds: round(filled.seconds, 1),
      rowsPerTransaction: fillBatch,
      dbMb: round(statSync(h.path).size / 2 ** 20, 1),
      how: "rows written through store.views.commitView into the active generation's table (its indexes derived from the view's queries at start)",
    });
    // Warm-up, then timed, in process: ViewService.query (prepared statement, SQLite, JSON parse).
    const pick = (i: number) => userId((i * 7919 + 13) % userCount);
    const check = (await h.runtime.views.query("carts", "byUser", { userId: pick(0) })) as { carts: unknown[] };
    if (check.carts.length !== perUser) throw new Error(`byUser returned ${check.carts.length} rows, expected ${perUser}`);
    await timeQueries((i) => h.runtime.views.query("carts", "byUser", { userId: pick(i + 1_000_000) }), 200, 1);
    const inProcess = await timeQueries((i) => h.runtime.views.query("carts", "byUser", { userId: pick(i) }), queryCount, 1);
    emit({ mode: "query", figure: "byUser", via: "in-process", rows: rowCount, rowsReturned: perUser, concurrency: 1, queries: queryCount, ...latencyFigure(inProcess.sorted), qps: inProcess.qps });
    const top = await timeQueries(() => h.runtime.views.query("products", "top", { limit: 10 }), Math.min(queryCount, 500), 1);
    emit({ mode: "query", figure: "productsTop", via: "in-process", note: "products view is empty here: a baseline for the per-query overhead", ...latencyFigure(top.sorted) });
  } finally {
    await h.runtime.stop();
  }

  // Query plans, read on a separate connection of the same file.
  const byUserPlan = plan(h.path, table, carts.queries.byUser, { userId: userId(1) });
  emit({ mode: "query", figure: "plan", query: "carts.byUser", ...byUserPlan });
  emit({ mode: "query", figure: "plan", query: "carts.open", ...plan(h.path, table, carts.queries.open, {}) });
  emit({ mode: "query", figure: "plan", query: "products.top", ...plan(h.path, table.replace("carts__carts", "products__products"), products.queries.top, { limit: 10 }) });
  if (!byUserPlan.usesIndex || byUserPlan.access !== "search" || byUserPlan.tableScan || byUserPlan.sorts) log(`WARNING: byUser does not use its index as it should: ${byUserPlan.detail.join(" | ")}`);

  // Over HTTP: serve() on the same data (views reopened as they are: no rebuild).
  const running = await serve({ service: shop, port: 0, adminPort: -1, dataDir: dir, synchronous, log: (line) => log(line) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: httpConcurrency });
  try {
    const base = new URL(running.url);
    const get = async (i: number) => {
      const res = await requestJson(agent, base, "GET", `/views/carts/byUser?userId=${userId((i * 7919 + 13) % userCount)}`);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
    };
    await timeQueries(get, 200, 1);
    const one = await timeQueries(get, queryCount, 1);
    emit({ mode: "query", figure: "byUser", via: "http", rows: rowCount, rowsReturned: perUser, concurrency: 1, queries: queryCount, ...latencyFigure(one.sorted), qps: one.qps });
    const many = await timeQueries(get, queryCount, httpConcurrency);
    emit({ mode: "query", figure: "byUser", via: "http", rows: rowCount, rowsReturned: perUser, concurrency: httpConcurrency, queries: queryCount, ...latencyFigure(many.sorted), qps: many.qps });
  } finally {
    agent.destroy();
    await running.close();
  }
}

// ---------------------------------------------------------------- ids

interface ItemState {
  owner: string;
  value: number;
}

/** A key-value entity written once per id, and a view of it (one table, one query: an index on owner). */
const item = keyValue("item", {
  initial: (): ItemState | null => null,
  commands: { put: (_s, c: ItemState, fx) => fx.update(c).reply({ ok: true }) },
});
const items = view("items", {
  version: 1,
  tables: {
    items: viewTable<typeof item, { itemId: string; owner: string; value: number }>(item, {
      state: (_row, state, { id }) => (state === null ? null : { itemId: id, owner: state.owner, value: state.value }),
    }),
  },
  queries: { byOwner: "SELECT * AS items FROM items WHERE owner = :owner ORDER BY itemId" },
});

/** The i-th id: in random order (an odd multiplier permutes 32-bit numbers), or in the order written. */
const itemId = (i: number) =>
  idOrder === "sequential" ? `item-${String(i).padStart(9, "0")}` : `item-${(Math.imul(i, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0")}`;

/** What /proc/self/io counts: read and write system calls, bytes through them, and bytes to and from storage. */
function procIo(): Record<"syscr" | "syscw" | "rchar" | "wchar" | "read_bytes" | "write_bytes", number> {
  const text = readFileSync("/proc/self/io", "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return { syscr: field("syscr"), syscw: field("syscw"), rchar: field("rchar"), wchar: field("wchar"), read_bytes: field("read_bytes"), write_bytes: field("write_bytes") };
}

const fileMb = (path: string) => (existsSync(path) ? round(statSync(path).size / 2 ** 20, 1) : 0);

async function distinctIds(variant: "none" | "view", round_: number): Promise<void> {
  const dir = newDataDir(`ids-${variant}`);
  const path = join(dir, "sagaflow.db");
  const store = new SqliteStore({ path, synchronous });
  // The store's calls do their work before they return (better-sqlite3 is synchronous): the time
  // of the call is the time of the transaction, its fsync and any checkpoint it ran included.
  const spent = { commits: 0, commitMs: 0, viewCommits: 0, viewCommitMs: 0, slowestMs: 0 };
  const commit = store.commit.bind(store);
  store.commit = (...args) => {
    const t = performance.now();
    const result = commit(...args);
    const ms = performance.now() - t;
    spent.commits++;
    spent.commitMs += ms;
    spent.slowestMs = Math.max(spent.slowestMs, ms);
    return result;
  };
  const commitView = store.views.commitView.bind(store.views);
  store.views.commitView = (...args) => {
    const t = performance.now();
    const result = commitView(...args);
    const ms = performance.now() - t;
    spent.viewCommits++;
    spent.viewCommitMs += ms;
    spent.slowestMs = Math.max(spent.slowestMs, ms);
    return result;
  };
  const runtime = new Runtime({ store, components: variant === "view" ? [item, items] : [item], log: (line) => log(line) });
  await runtime.start();
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gc.observe({ entryTypes: ["gc"] });
  const runner = variant === "view" ? runtime.views.runner("items") : undefined;
  log(`ids ${variant}: ${idCount} puts to distinct ids (${idOrder}), ${idConcurrency} in flight${variant === "view" ? ", view items following" : ""}`);
  try {
    if (runner) await until(() => runner.serving !== null, 10_000);
    let next = 0;
    for (let from = 0; from < idCount; from += idSlice) {
      const to = Math.min(idCount, from + idSlice);
      const before = { ...spent };
      spent.slowestMs = 0;
      const [gc0, io0, cpu0, t0] = [gcMs, procIo(), process.cpuUsage(), performance.now()];
      await Promise.all(
        Array.from({ length: idConcurrency }, async () => {
          while (next < to) {
            const i = next++;
            const reply = await runtime.callForReply("item", itemId(i), "put", { owner: `owner-${i % 1000}`, value: i });
            if (!reply.ok) throw new Error(`${reply.code}: ${reply.message}`);
          }
        }),
      );
      const elapsedMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const io = procIo();
      const puts = to - from;
      const per = (n: number, digits = 2) => round(n / puts, digits);
      const head = await store.feedHead();
      emit({
        mode: "ids",
        variant,
        round: round_,
        order: idOrder,
        idsFrom: from,
        idsTo: to,
        putsPerSecond: Math.round((puts * 1000) / elapsedMs),
        putsPerCommit: round(puts / Math.max(1, spent.commits - before.commits), 1),
        viewLag: runner ? head - (runner.serving?.offset ?? 0) : null,
        viewCommits: spent.viewCommits - before.viewCommits,
        // Time in the store's commits (checkpoints included), per put; the rest is the runtime's own work and waiting.
        commitMsPerPut: per(spent.commitMs - before.commitMs, 3),
        viewCommitMsPerPut: per(spent.viewCommitMs - before.viewCommitMs, 3),
        slowestCommitMs: round(spent.slowestMs, 1),
        cpuMsPerPut: per((cpu.user + cpu.system) / 1000, 3),
        cpuPct: round((100 * (cpu.user + cpu.system)) / 1000 / elapsedMs, 0),
        gcMs: Math.round(gcMs - gc0),
        readCallsPerPut: per(io.syscr - io0.syscr),
        writeCallsPerPut: per(io.syscw - io0.syscw),
        readKbPerPut: per((io.rchar - io0.rchar) / 1024),
        writtenKbPerPut: per((io.wchar - io0.wchar) / 1024),
        diskReadKbPerPut: per((io.read_bytes - io0.read_bytes) / 1024),
        diskWrittenKbPerPut: per((io.write_bytes - io0.write_bytes) / 1024),
        dbMb: fileMb(path),
        walMb: fileMb(`${path}-wal`),
        rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
        heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
        durability: store.settings().synchronous,
      });
    }
    if (runner) {
      const head = await store.feedHead();
      const t0 = performance.now();
      await until(() => (runner.serving?.offset ?? 0) >= head, 120_000);
      log(`ids view: caught up ${Math.round(performance.now() - t0)} ms after the last put`);
    }
  } finally {
    gc.disconnect();
    await runtime.stop();
    removeDataDirs();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  log(
    `node ${process.version}; ${cpus().length} CPUs; modes ${modes.join(", ")}; rates ${rates.join("/")}/s for ${seconds}s; ` +
      `${rowCount} rows for queries; synchronous=${synchronous}`,
  );
  if (modes.includes("steady") || modes.includes("rebuild")) {
    const h = await open(newDataDir("steady"));
    try {
      await until(() => cartsRunner(h).serving !== null, 10_000);
      let written = 0;
      if (modes.includes("steady")) for (const rate of rates) written += await steady(h, rate, written);
      if (modes.includes("rebuild")) {
        const head = await h.store.feedHead();
        if (head < rebuildEvents) {
          log(`rebuild: writing ${rebuildEvents - head} more events first`);
          await fill(h, rebuildEvents - head, written);
          await until(() => (cartsRunner(h).serving?.offset ?? 0) >= rebuildEvents, 120_000);
        }
        await rebuild(h);
      }
    } finally {
      await h.runtime.stop();
    }
    removeDataDirs();
  }
  if (modes.includes("query")) await query();
  removeDataDirs();
  if (modes.includes("streamed")) await streamed(program);
  removeDataDirs();
  if (modes.includes("ids")) for (let r = 1; r <= idRounds; r++) for (const variant of idVariants) await distinctIds(variant, r);
}

await program.run(main);
