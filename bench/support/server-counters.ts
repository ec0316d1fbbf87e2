/**
 * Loaded into a bench's `sagaflow serve` process (`--import tsx --import <this file>`): counts the
 * store's commits (SQLite and PostgreSQL: calls of store.commit, one transaction each), the
 * instance writes they carried (with their together writes), the writes refused as conflicts
 * (another writer got there first: decided again) and, on PostgreSQL, the round trips
 * (pg Client.query: one simple query, however many statements it holds, or one named statement)
 * with what each was (statementLabel) and the bytes of SQL text sent, and writes them as JSON to the file named by
 * SAGAFLOW_BENCH_COUNTERS when sent SIGUSR2 (and once at start), each time with a higher
 * `written`: the bench asks before and after a point (see ServeProcess.counts) and the server does
 * no file writes while it is measured.
 */
import { writeFileSync } from "node:fs";
import pg from "pg";
import type { PostgresStore as PostgresStoreClass } from "../../src/store/postgres/postgres-store.ts";
import type { SqliteStore as SqliteStoreClass } from "../../src/store/sqlite/sqlite-store.ts";

const file = process.env["SAGAFLOW_BENCH_COUNTERS"];
if (file !== undefined) {
  // The stores the server runs: the build's (SAGAFLOW_BENCH_FROM=build, see ./built-package.ts) or the sources'.
  const from = process.env["SAGAFLOW_BENCH_FROM"] === "build" ? { dir: "dist", ext: "js" } : { dir: "src", ext: "ts" };
  const { PostgresStore } = (await import(`../../${from.dir}/store/postgres/postgres-store.${from.ext}`)) as { PostgresStore: typeof PostgresStoreClass };
  const { SqliteStore } = (await import(`../../${from.dir}/store/sqlite/sqlite-store.${from.ext}`)) as { SqliteStore: typeof SqliteStoreClass };
  const counts = { commits: 0, writes: 0, conflicts: 0, pgRoundTrips: 0, pgRoundTripsBy: {} as Record<string, number>, pgBytesSent: 0 };
  let written = 0;
  for (const store of [SqliteStore, PostgresStore]) {
    const commit = store.prototype.commit as (this: unknown, ...args: unknown[]) => unknown;
    store.prototype.commit = function (this: unknown, ...args: unknown[]) {
      counts.commits++;
      for (const w of args[0] as Array<{ together?: unknown[] }>) counts.writes += 1 + (w.together?.length ?? 0);
      return (commit.apply(this, args) as Promise<Array<{ ok: boolean; reason?: string }>>).then((outcomes) => {
        for (const outcome of outcomes) if (!outcome.ok && outcome.reason === "conflict") counts.conflicts++;
        return outcomes;
      });
    } as typeof store.prototype.commit;
  }
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    counts.pgRoundTrips++;
    const label = statementLabel(args[0]);
    counts.pgBytesSent += Buffer.byteLength(queryText(args[0]));
    counts.pgRoundTripsBy[label] = (counts.pgRoundTripsBy[label] ?? 0) + 1;
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  const flush = () => writeFileSync(file, JSON.stringify({ ...counts, written: ++written }));
  flush();
  process.on("SIGUSR2", flush);
}

/**
 * What a round trip was: a named statement's name; for a simple query, the statements it EXECUTEs
 * (joined by "+"), or else its first two words (without the schema, which differs per run).
 */
function statementLabel(query: unknown): string {
  const named = (query as { name?: unknown } | null)?.name;
  if (typeof named === "string") return named.replace(/^sagaflow_/, "");
  const text = queryText(query);
  const executed = [...text.matchAll(/EXECUTE\s+(?:sagaflow_)?(\w+)/g)].map((m) => m[1]);
  return executed.length > 0 ? executed.join("+") : text.replace(/"[^"]*"\./g, "").trim().split(/\s+/).slice(0, 2).join(" ");
}

/** The SQL text of a query (a string, or a config with `text`). */
function queryText(query: unknown): string {
  return typeof query === "string" ? query : String((query as { text?: unknown } | null)?.text ?? "?");
}
