/**
 * The PostgreSQL store's commit, alone: one event appended to one of 1,000 instances per
 * commit (or BENCH_WRITES of them, on as many instances, as a group commit under load carries), one
 * commit at a time, so the figure is the latency of the commit protocol itself
 * (round trips, planning, the WAL flush) with no runtime, batching or HTTP around it. The store
 * listens and signals as a runtime's does (each commit tells the other nodes what it wrote).
 *
 * With BENCH_COMPARE=<another checkout of Sagaflow> it loads that checkout's store too, in this
 * same process, and alternates rounds between the two (each on a fresh schema), so that a change
 * to the commit can be judged by a ratio measured under the same load, not by two noisy runs.
 *
 * stdout: one JSON line per store, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_ROUNDS=10            rounds per store
 *   BENCH_COMMITS=300          commits per round
 *   BENCH_COMPARE=<dir>        a checkout to compare with (optional)
 *   BENCH_FENCED=0             1: each commit carries a lease's fencing token, as a workflow step's does
 *   BENCH_WRITES=1             instance writes per commit
 *   BENCH_SYNC=on              off: the store's sessions run with synchronous_commit=off, so the figure is
 *                              the protocol's round trips and CPU without the WAL flush (less noise to compare)
 *   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
 *
 * Run: npm run bench:postgres-commit
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Store } from "../src/store/port.ts";
import { numberEnv, quantiles, round } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";
import { freshSchema } from "./support/postgres-schema.ts";

const program = benchProgram("postgres-commit");
const rounds = numberEnv("BENCH_ROUNDS", 10);
const commitsPerRound = numberEnv("BENCH_COMMITS", 300);
const instances = 1_000;
const fenced = numberEnv("BENCH_FENCED", 0) === 1;
const writesPerCommit = numberEnv("BENCH_WRITES", 1);
const syncOff = process.env["BENCH_SYNC"] === "off";

/** What this bench uses of a PostgresStore beyond the Store port (any checkout's). */
type PostgresLike = Store & {
  cluster: {
    listen(node: string, onSignal: () => void, onReconnect: () => void): Promise<() => Promise<void>>;
    acquireLeases(node: string, names: readonly string[], ttlMs: number): Promise<Map<string, number>>;
  };
};

interface Contender {
  label: string;
  open(connectionString: string, schema: string): Store;
  samples: number[];
}

async function contender(label: string, checkout: string): Promise<Contender> {
  const module = (await import(pathToFileURL(resolve(checkout, "src/store/postgres/postgres-store.ts")).href)) as {
    PostgresStore: new (options: { connectionString: string; schema: string; poolSize?: number }) => Store;
  };
  return { label, open: (connectionString, schema) => new module.PostgresStore({ connectionString, schema, poolSize: 2 }), samples: [] };
}

/** One round: a fresh schema, a warm-up, then `commitsPerRound` timed commits. */
async function runRound(c: Contender, index: number): Promise<void> {
  const schema = await freshSchema(program, `${c.label}_${index}`);
  const url = new URL(schema.storeUrl);
  if (syncOff) url.searchParams.set("options", "-c synchronous_commit=off");
  const store = c.open(url.toString(), schema.name);
  try {
    await store.migrate();
    const { cluster } = store as PostgresLike;
    const node = `bench-${index}`;
    const stopListening = await cluster.listen(node, () => {}, () => {});
    const fence = fenced ? { lease: "workflows/0", token: (await cluster.acquireLeases(node, ["workflows/0"], 600_000)).get("workflows/0")! } : undefined;
    const seqs = new Array<number>(instances).fill(0);
    const commitOnce = async (i: number): Promise<number> => {
      const ns = Array.from({ length: writesPerCommit }, (_, w) => (i * writesPerCommit + w) % instances);
      const started = performance.now();
      const outcomes = await store.commit(
        ns.map((n) => ({
          component: "counter",
          id: `c${n}`,
          events: { expectedSeq: seqs[n]!, append: [{ type: "added", payload: { by: 1 } }] },
          dedup: [],
          ...(fence ? { fence } : {}),
        })),
      );
      const refused = outcomes.find((o) => !o.ok);
      if (refused) throw new Error(`commit ${i} refused: ${JSON.stringify(refused)}`);
      for (const n of ns) seqs[n]!++;
      return performance.now() - started;
    };
    for (let i = 0; i < 50; i++) await commitOnce(i); // connections, prepared statements, plans
    for (let i = 0; i < commitsPerRound; i++) c.samples.push(await commitOnce(50 + i));
    await stopListening();
  } finally {
    await store.close();
    await schema.drop();
  }
}

await program.run(async () => {
  const contenders = [await contender("this", ".")];
  const other = process.env["BENCH_COMPARE"];
  if (other) contenders.push(await contender("compared", other));
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always runs on a warmer server.
    for (const c of r % 2 === 0 ? contenders : [...contenders].reverse()) await runRound(c, r);
    program.log(`round ${r + 1}/${rounds} done`);
  }
  const medians = new Map<string, number>();
  for (const c of contenders) {
    const sorted = [...c.samples].sort((a, b) => a - b);
    const { p50, p99 } = quantiles(sorted, 3);
    medians.set(c.label, p50);
    program.emit({ store: c.label, fenced, writesPerCommit, synchronousCommit: syncOff ? "off" : "on", commits: sorted.length, p50Ms: p50, p99Ms: p99, commitsPerSecond: round(1000 / p50, 0) });
  }
  if (other) program.emit({ figure: "ratio", p50ThisOverCompared: round(medians.get("this")! / medians.get("compared")!, 3) });
});
