/**
 * What holds with many instances (issue 17, item 4), on SQLite: storage size, start-up to serving
 * after a SIGKILL, memory while serving, and an online backup's duration and its effect on the
 * latency of commands running meanwhile.
 *
 * 1. Fill (in process, synchronous=OFF: setup, not measured): SCALE_ENTITIES wallets, each
 *    created with one event; SCALE_TRANSFERS transfers that end (each a workflow with its history
 *    and two more events); SCALE_PAUSED transfers paused on a one-hour timer (due workflows).
 *    Service: test/fixtures/bank-states (wallets, a held transfer, a consumer, a view).
 *    With SCALE_EVENTS_PER_ENTITY=N (bulk fill, for a million wallets and ten million events in
 *    minutes): the wallets are written straight through the store port instead, N events each
 *    (created, then deposits), 2,000 wallets a transaction, and the consumer and the view are
 *    then marked as having passed them (the view's table holds no rows for them). A fill, not a
 *    measurement: nothing of the runtime's command path is timed by it.
 * 2. Storage, retention off vs on: the filled folder as it is (retention off), and a copy opened
 *    SCALE_RETAIN_AFTER_DAYS (default 8) days later by the runtime's clock, with retention at its
 *    defaults (feed states, ended workflows and idempotency records after 7 days) run until it
 *    has nothing left to remove. For each: the folder's bytes (database and WAL; SQLite keeps freed
 *    pages in the file and reuses them, so the file does not shrink), the bytes in use (pages not
 *    on the free list) and the bytes of a compacted copy (VACUUM INTO), with row counts. In the
 *    copy the paused transfers' one-hour holds have run out: they finish when it starts.
 * 3. `sagaflow serve` in a child on that folder, SIGKILLed once it serves, started again: the time
 *    from spawning to "serving" printed, and to the first answered command. RSS of the child after
 *    it served SCALE_TOUCH commands on distinct wallets (the instance cache is 10,000), and again
 *    after it started SCALE_PAUSED more transfers paused on a one-hour timer (workflows waiting in
 *    this process: memory must not grow with them). Latency of the admin API's workflow list
 *    (first page, and a page deep into the paused ones).
 * 4. Latency of deposits (SCALE_CONCURRENCY in flight) for SCALE_SECONDS without a backup, then
 *    while `POST /backup` runs: p50/p99/max of each, and the backup's duration and size.
 *
 * stdout: one JSON line per figure; progress on stderr. Keep sizes modest on a shared machine.
 *
 * Environment: SCALE_ENTITIES=100000 SCALE_TRANSFERS=20000 SCALE_PAUSED=10000 SCALE_TOUCH=20000
 *   SCALE_CONCURRENCY=16 SCALE_SECONDS=3 SCALE_RETAIN_AFTER_DAYS=8 SCALE_DIR=<where the temporary folder goes>
 *   SCALE_EVENTS_PER_ENTITY=0 (0: wallets made by commands) SCALE_RETENTION=1 (0: skip step 2)
 *
 * Run: npm run bench:scale
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { createSagaflow, runtimeOf } from "../src/host/create-sagaflow.ts";
import { VirtualClock } from "../src/runtime/clock.ts";
import { sqlite } from "../src/host/stores.ts";
import bankStates from "../test/fixtures/bank-states/index.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { eventsWrite, ev } from "../src/store/contract-support.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const entities = env("SCALE_ENTITIES", 100_000);
const transfers = env("SCALE_TRANSFERS", 20_000);
const paused = env("SCALE_PAUSED", 10_000);
const touch = env("SCALE_TOUCH", 20_000);
const concurrency = env("SCALE_CONCURRENCY", 16);
const seconds = env("SCALE_SECONDS", 3);
const retainAfterDays = env("SCALE_RETAIN_AFTER_DAYS", 8);
const eventsPerEntity = env("SCALE_EVENTS_PER_ENTITY", 0);
const measureRetention = env("SCALE_RETENTION", 1) !== 0;
const root = resolve(fileURLToPath(import.meta.url), "../..");
const say = (line: string) => process.stderr.write(`scale: ${line}\n`);
const emit = (figure: Record<string, unknown>) => console.log(JSON.stringify({ entities, transfers, paused, ...figure }));

async function pool<T>(count: number, width: number, work: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await work(next++);
  }));
}

/**
 * The bulk fill: wallets written through the store port in big transactions, then the consumer
 * and the view marked as past them (so the service does not spend its first minutes on them).
 */
async function bulkWallets(path: string): Promise<void> {
  const store = new SqliteStore({ path, synchronous: "OFF" });
  const started = performance.now();
  const perCommit = 2_000;
  for (let from = 0; from < entities; from += perCommit) {
    const writes = [];
    for (let i = from; i < Math.min(entities, from + perCommit); i++) {
      const deposits = Array.from({ length: eventsPerEntity - 1 }, () => ev("deposited", { amount: 1 }));
      writes.push(eventsWrite("wallet", `w${i}`, 0, ev("created", { initialBalance: 1_000_000 }), ...deposits));
    }
    const outcomes = await store.commit(writes);
    if (!outcomes.every((o) => o.ok)) throw new Error("bulk fill: a write was refused (wallets there already?)");
    if (from % 100_000 === 0) say(`bulk: ${from + writes.length} wallets, ${Math.round(performance.now() - started)} ms`);
  }
  const head = await store.feedHead();
  await store.commitConsumer("audit", head, []);
  const generation = (await store.views.viewMeta("balances"))?.active?.generation;
  if (generation === undefined) throw new Error("bulk fill: the balances view was never built");
  await store.views.commitView("balances", generation, head, []);
  await store.close();
  say(`bulk: ${entities} wallets, ${entities * eventsPerEntity} events in ${Math.round(performance.now() - started)} ms`);
}

async function fill(dir: string): Promise<void> {
  const path = join(dir, "sagaflow.db");
  if (eventsPerEntity > 0) {
    // Migrated and the view built first: the bulk fill writes into a service's store.
    const empty = createSagaflow(bankStates, { store: sqlite(path, { synchronous: "OFF" }), log: () => {} });
    await empty.start();
    await empty.stop();
    await bulkWallets(path);
  }
  const app = createSagaflow(bankStates, { store: sqlite(path, { synchronous: "OFF" }), log: () => {} });
  await app.start();
  const runtime = runtimeOf(app)!;
  const started = performance.now();
  if (eventsPerEntity === 0) {
    await pool(entities, 256, (i) => runtime.call("wallet", `w${i}`, "create", { initialBalance: 1_000_000 }));
    say(`${entities} wallets in ${Math.round(performance.now() - started)} ms`);
  }
  const wallet = (i: number) => `w${i % entities}`;
  await pool(transfers, 128, async (i) => {
    await runtime.call("held-transfer", `t${i}`, "start", { from: wallet(i), to: wallet(i * 7 + 1), amount: 1, mode: "now" });
    await runtime.workflowResult("held-transfer", `t${i}`, 30_000);
  });
  await pool(paused, 128, (i) => runtime.call("held-transfer", `p${i}`, "start", { from: wallet(i + 3), to: wallet(i + 5), amount: 1, mode: "hold", holdMs: 3_600_000 }));
  say(`filled in ${Math.round(performance.now() - started)} ms`);
  await app.stop();
}

const folderBytes = (dir: string) => readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);

/**
 * Opens a copy of the filled folder later by the runtime's clock and runs retention until nothing
 * is left to remove (what went shows in the row counts: the service's own first run, at start,
 * removes most of it). Returns how many runs it took.
 */
async function retain(dir: string): Promise<number> {
  const clock = new VirtualClock(Date.now() + retainAfterDays * 24 * 3_600_000);
  const app = createSagaflow(bankStates, { store: sqlite(join(dir, "sagaflow.db")), clock, log: () => {}, retention: { intervalMs: 24 * 3_600_000 } });
  await app.start();
  const runtime = runtimeOf(app)!;
  let runs = 0;
  const started = performance.now();
  try {
    // The consumer and view catch up first (retention keeps what they have not passed); the
    // finishing paused transfers write meanwhile: run until a complete run removes nothing.
    for (let quiet = 0; quiet < 3 && runs < 10_000; runs++) {
      const run = await runtime.retention.runOnce();
      if (run.error !== null) throw new Error(`retention: ${run.error}`);
      const total = Object.values(run.removed).reduce((a, b) => a + b, 0);
      quiet = run.complete && total === 0 ? quiet + 1 : 0;
      if (total === 0) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await app.stop();
  }
  say(`retention: ${runs} runs in ${Math.round(performance.now() - started)} ms`);
  return runs;
}

/** The folder's bytes, the database's bytes in use, a compacted copy's bytes, and what the main tables hold. */
function storage(dir: string): Record<string, number> {
  const db = new Database(join(dir, "sagaflow.db"));
  try {
    const pragma = (name: string) => db.pragma(name, { simple: true }) as number;
    const inUseBytes = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
    const compacted = join(dir, "compacted.db");
    db.exec(`VACUUM INTO '${compacted.replaceAll("'", "''")}'`);
    const compactedBytes = statSync(compacted).size;
    rmSync(compacted);
    const count = (sql: string) => db.prepare(sql).pluck().get() as number;
    return {
      bytes: folderBytes(dir),
      inUseBytes,
      compactedBytes,
      compactedMb: Math.round(compactedBytes / 1e5) / 10,
      entityEvents: count("SELECT count(*) FROM events WHERE kind = 0"),
      feedStates: count("SELECT count(*) FROM events WHERE kind > 0"),
      workflows: count("SELECT count(*) FROM workflows"),
      workflowHistory: count("SELECT count(*) FROM workflow_history"),
      dedup: count("SELECT count(*) FROM dedup"),
      tombstones: count("SELECT count(*) FROM removed_workflows"),
    };
  } finally {
    db.close();
  }
}

function serve(dir: string): { child: ChildProcess; ready: Promise<{ url: string; admin: string; servingMs: number }> } {
  const spawned = performance.now();
  const child = spawn(process.execPath, [join(root, "bin/sagaflow.mjs"), "serve", "test/fixtures/bank-states", "--port", "0", "--data", dir], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --conditions=sagaflow-source`.trim() },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise<{ url: string; admin: string; servingMs: number }>((done, fail) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /serving .* on (http:\/\/\S+)/.exec(output)?.[1];
      const admin = /admin API on (http:\/\/\S+)/.exec(output)?.[1];
      if (url && admin) done({ url, admin, servingMs: performance.now() - spawned });
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    child.once("exit", () => fail(new Error(`the server exited: ${output}`)));
  });
  return { child, ready };
}

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

function percentiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(2));
  return { commands: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}

/** Deposits on random wallets, `concurrency` in flight, until `until()` says stop. */
async function deposits(url: string, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (!until()) {
      const t = performance.now();
      const status = await post(`${url}/wallet/w${Math.floor(Math.random() * entities)}/deposit`, { amount: 1 });
      if (status !== 200) throw new Error(`deposit answered ${status}`);
      latencies.push(performance.now() - t);
    }
  }));
  return latencies;
}

/** The admin API's workflow list: the first page, and pages reached by `after` deep into the paused ones. */
async function adminListLatency(admin: string): Promise<Record<string, number>> {
  const timed = async (query: string) => {
    const t = performance.now();
    const res = await fetch(`${admin}/workflows?${query}`);
    if (res.status !== 200) throw new Error(`GET /workflows?${query} answered ${res.status}`);
    const body = (await res.json());
    return { ms: performance.now() - t, body };
  };
  const first: number[] = [];
  const deep: number[] = [];
  for (let i = 0; i < 20; i++) {
    first.push((await timed("name=held-transfer&status=paused&limit=100")).ms);
    deep.push((await timed(`name=held-transfer&status=paused&limit=100&after=${encodeURIComponent(`p${Math.floor(paused / 2)}`)}`)).ms);
  }
  const median = (xs: number[]) => Number([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2));
  return { firstPageMedianMs: median(first), firstPageMaxMs: Number(Math.max(...first).toFixed(2)), deepPageMedianMs: median(deep), deepPageMaxMs: Number(Math.max(...deep).toFixed(2)) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env["SCALE_DIR"] ?? tmpdir(), "sagaflow-scale-"));
  try {
    await fill(dir);
    const off = storage(dir);
    emit({ figure: "storage", retention: "off", ...off });
    if (measureRetention) {
      const retainedDir = join(dir, "retained");
      mkdirSync(retainedDir);
      for (const name of ["sagaflow.db", "sagaflow.db-wal"]) if (readdirSync(dir).includes(name)) copyFileSync(join(dir, name), join(retainedDir, name));
      const runs = await retain(retainedDir);
      const on = storage(retainedDir);
      emit({ figure: "storage", retention: `on, ${retainAfterDays} days later`, runs, ...on, compactedVsOff: Number((on.compactedBytes! / off.compactedBytes!).toFixed(3)) });
      rmSync(retainedDir, { recursive: true, force: true });
    }

    const first = serve(dir);
    const { url } = await first.ready;
    await post(`${url}/wallet/w1/deposit`, { amount: 1 });
    first.child.kill("SIGKILL");
    await new Promise((done) => first.child.once("exit", done));

    const second = serve(dir);
    const spawned = performance.now();
    const { url: url2, admin, servingMs } = await second.ready;
    await post(`${url2}/wallet/w2/deposit`, { amount: 1 });
    emit({ figure: "startup-after-sigkill", servingMs: Math.round(servingMs), firstCommandMs: Math.round(performance.now() - spawned) });

    const rssStart = rssMb(second.child.pid!);
    await pool(touch, concurrency, (i) => post(`${url2}/wallet/w${(i * 7919) % entities}/deposit`, { amount: 1 }));
    const rssTouched = rssMb(second.child.pid!);
    emit({ figure: "rss", afterStartMb: Math.round(rssStart), afterTouchingMb: Math.round(rssTouched), touchedInstances: touch, cacheSize: 10_000 });

    // Workflows waiting in this process on a far timer: memory must not grow with their number.
    const wallet = (i: number) => `w${i % entities}`;
    // In quarters, RSS after each: bounded memory levels off once the instance cache is full.
    const quarterMb: number[] = [];
    for (let quarter = 0; quarter < 4; quarter++) {
      const from = Math.floor((quarter * paused) / 4);
      await pool(Math.floor(((quarter + 1) * paused) / 4) - from, concurrency, async (j) => {
        const i = from + j;
        const status = await post(`${url2}/held-transfer/q${i}/start`, { from: wallet(i + 11), to: wallet(i + 13), amount: 1, mode: "hold", holdMs: 3_600_000 });
        if (status !== 200) throw new Error(`starting a paused transfer answered ${status}`);
      });
      quarterMb.push(Math.round(rssMb(second.child.pid!)));
    }
    emit({ figure: "rss-with-paused-started-here", beforeMb: Math.round(rssTouched), afterEachQuarterMb: quarterMb, pausedStartedHere: paused });

    emit({ figure: "admin-workflow-list", ...(await adminListLatency(admin)) });

    let end = performance.now() + seconds * 1000;
    const quiet = percentiles(await deposits(url2, () => performance.now() > end));
    emit({ figure: "deposits-without-backup", concurrency, ...quiet });

    let backingUp = true;
    const backupFile = join(dir, "backup.db");
    const backup = (async () => {
      const t = performance.now();
      const res = await fetch(`${admin}/backup`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ path: backupFile }) });
      const report = (await res.json()) as Record<string, unknown>;
      backingUp = false;
      return { ...report, wallMs: Math.round(performance.now() - t) };
    })();
    end = performance.now() + seconds * 1000;
    const during = percentiles(await deposits(url2, () => !backingUp && performance.now() > end));
    const report = await backup;
    emit({ figure: "backup", ...report });
    emit({ figure: "deposits-during-backup", concurrency, ...during });
    second.child.kill("SIGTERM");
    await new Promise((done) => second.child.once("exit", done));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
