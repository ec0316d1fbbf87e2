/**
 * Large states: what committing a key-value state of several MB costs the node, and what it does
 * to the commands of other instances meanwhile. In one process: a runtime on SQLite or, with
 * BENCH_STORE=postgres, on PostgreSQL (a fresh schema, dropped afterwards). For each count of big
 * commands, that many `grow` commands run at once, each replacing a document's state by
 * BENCH_MB megabytes of text, while BENCH_NEIGHBOURS loops send small commands to other
 * documents, one after another. Reported per count: the time until every big command answered,
 * the process's peak RSS and the largest heap used meanwhile (sampled every 10 ms), the event
 * loop's longest stall, and the small commands' latencies during that window.
 *
 * stdout: one JSON line per count of big commands, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_MB=10              megabytes of each big state
 *   BENCH_BIG=1,4            big commands at once (one figure each)
 *   BENCH_NEIGHBOURS=4       loops of small commands on other instances
 *   BENCH_STORE=sqlite       or postgres
 *   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
 *
 * Run: BENCH_STORE=postgres npm run bench:large-state
 */
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Client } from "../src/client/client.ts";
import { access, keyValue, service } from "../src/index.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { Store } from "../src/store/port.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { Latencies, numberEnv, peakRssMb, quantiles, resetPeakRss, round, sleep, wholeNumbersEnv } from "./support/load.ts";
import { freshSchema, storeKindEnv } from "./support/postgres-schema.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("large-state");
const { log, emit } = program;
const megabytes = numberEnv("BENCH_MB", 10);
const bigCounts = wholeNumbersEnv("BENCH_BIG", "1,4");
const neighbours = numberEnv("BENCH_NEIGHBOURS", 4);
const storeKind = storeKindEnv();

const doc = keyValue("doc", {
  initial: () => ({ body: "", n: 0 }),
  expose: access.anyone,
  commands: {
    // A document editor that keeps the text in the state: `mb` megabytes of it, with a quote and a
    // backslash now and then (what a literal must escape).
    grow: (s, c: { mb: number; salt: string }, fx) =>
      fx.update({ body: `${c.salt}'"\\ ${"x".repeat(c.mb * 1_000_000)}`, n: s.n + 1 }).reply({ ok: true }),
    inc: (s, _c: Record<string, never>, fx) => fx.update({ ...s, n: s.n + 1 }).reply({ n: s.n + 1 }),
  },
});
const components = service("large-state", [doc]).components;

await program.run(async () => {
  let store: Store;
  let where: string;
  if (storeKind === "postgres") {
    const schema = await freshSchema(program, "large_state");
    store = new PostgresStore({ connectionString: schema.storeUrl, schema: schema.name });
    where = `PostgreSQL schema ${schema.name}`;
  } else {
    const dir = program.newDataDir("large-state");
    store = new SqliteStore({ path: join(dir, "sagaflow.db") });
    where = dir;
  }
  const runtime = new Runtime({ store, components });
  const stopRuntime = program.defer(() => runtime.stop());
  await runtime.start();
  const client = new Client(runtime.dispatcher);
  log(`${storeKind}: ${where}`);
  // Warm up: the statements prepared, the small documents created.
  for (let i = 0; i < neighbours; i++) await client.call(doc, `small${i}`).inc({});
  await client.call(doc, "warm").grow({ mb: 1, salt: "w" });

  for (const big of bigCounts) {
    global.gc?.();
    await sleep(200);
    resetPeakRss(process.pid);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    let heapMax = process.memoryUsage().heapUsed;
    const heapBefore = heapMax;
    const sampler = setInterval(() => (heapMax = Math.max(heapMax, process.memoryUsage().heapUsed)), 10);
    const small = new Latencies();
    let done = false;
    const loops = Array.from({ length: neighbours }, async (_, i) => {
      while (!done) {
        const t = performance.now();
        await client.call(doc, `small${i}`).inc({});
        small.push(performance.now() - t);
      }
    });
    log(`${big} × ${megabytes} MB at once`);
    const started = performance.now();
    const bigMs: number[] = [];
    await Promise.all(
      Array.from({ length: big }, async (_, i) => {
        await client.call(doc, `big${big}-${i}`).grow({ mb: megabytes, salt: String(i) });
        bigMs.push(performance.now() - started);
      }),
    );
    const elapsedMs = performance.now() - started;
    done = true;
    await Promise.all(loops);
    clearInterval(sampler);
    loop.disable();
    emit({
      store: storeKind,
      megabytes,
      big,
      elapsedMs: round(elapsedMs, 0),
      firstBigMs: round(Math.min(...bigMs), 0),
      peakRssMb: peakRssMb(process.pid),
      heapGrowthMb: round((heapMax - heapBefore) / 1e6, 0),
      loopStallMaxMs: round(loop.max / 1e6, 0),
      smallCommands: small.length,
      smallMs: quantiles(small.sorted(), 1),
    });
  }
  await stopRuntime();
});
