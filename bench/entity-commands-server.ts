/**
 * The HTTP side of the entity-commands bench: runs the bench service with `serve()` in its own
 * process, forked by bench/entity-commands.ts with an IPC channel, on SQLite (default durability)
 * in a data folder, or on PostgreSQL in a schema. It counts store commits so the bench can show
 * group commit at work.
 *
 * Arguments: `<data dir>` or `--postgres <url> <schema>`.
 * IPC: sends {type:"ready", url, durability}; answers {type:"stats"} with
 * {type:"stats", commits, writes, commitMs, statements} (statements: SQL sent to PostgreSQL; 0 on SQLite);
 * on {type:"close"} closes the service and exits.
 */
import { serve } from "../src/cli/serve.ts";
import { observeFromEnv } from "./support/observe-env.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import bench from "./entity-commands-service.ts";
import { countCommits, newCommitCounts } from "./support/commit-counts.ts";
import { pgStatementsSent } from "./support/pg-statements.ts";

const [first, url, schema] = process.argv.slice(2);
const onPostgres = first === "--postgres";
if (!first || (onPostgres && (!url || !schema)) || !process.send) {
  console.error("usage: forked by bench/entity-commands.ts with a data dir, or --postgres <url> <schema>");
  process.exit(2);
}

if (onPostgres) pgStatementsSent(); // starts counting before the store connects
const observe = await observeFromEnv((line) => console.error(line));
const running = await serve({
  service: bench,
  ...(observe.metrics === false ? { metrics: false } : {}),
  port: 0,
  ...(onPostgres ? { postgres: url!, postgresSchema: schema! } : { dataDir: first }),
  log: (line) => console.error(line),
});
const store = running.runtime.store;
// The runtime calls store.commit at call time: wrapping the instance now counts every commit from here on.
const counts = newCommitCounts();
countCommits(store, counts);
// On PostgreSQL the bench reads the server's settings itself.
const durability = store instanceof SqliteStore ? store.settings().synchronous : "unknown";
process.send({ type: "ready", url: running.url, durability });

process.on("message", (message: { type?: string }) => {
  if (message.type === "stats") {
    process.send!({ type: "stats", ...counts, statements: onPostgres ? pgStatementsSent() : 0 });
  } else if (message.type === "close") {
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`bench server: close failed: ${String(error)}`);
        process.exit(1);
      },
    );
  }
});
process.on("disconnect", () => process.exit(0));
