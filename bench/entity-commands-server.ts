/**
 * The HTTP side of the entity-commands bench: runs the bench service with `serve()` (SQLite,
 * default durability) in its own process, forked by bench/entity-commands.ts with an IPC
 * channel. It counts store commits so the bench can show group commit at work.
 *
 * IPC: sends {type:"ready", url, synchronous}; answers {type:"stats"} with
 * {type:"stats", commits, writes}; on {type:"close"} closes the service and exits.
 */
import { serve } from "../src/cli/serve.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import type { InstanceWrite } from "../src/store/port.ts";
import bench from "./entity-commands-service.ts";

const dataDir = process.argv[2];
if (!dataDir || !process.send) {
  console.error("usage: forked by bench/entity-commands.ts with a data dir");
  process.exit(2);
}

const counts = { commits: 0, writes: 0 };
const commit = SqliteStore.prototype.commit;
SqliteStore.prototype.commit = function (this: SqliteStore, writes: InstanceWrite[]) {
  counts.commits++;
  counts.writes += writes.length;
  return commit.call(this, writes);
};

const running = await serve({ service: bench, port: 0, dataDir, log: (line) => console.error(line) });
const store: unknown = running.runtime.store;
const synchronous = store instanceof SqliteStore ? store.settings().synchronous : "unknown";
process.send({ type: "ready", url: running.url, synchronous });

process.on("message", (message: { type?: string }) => {
  if (message.type === "stats") {
    process.send!({ type: "stats", ...counts });
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
