import Database from "better-sqlite3";
import { SqliteViews } from "./sqlite-views.ts";
import type {
  DedupRecord,
  EntityHistory,
  FeedEntry,
  InstanceWrite,
  KvRecord,
  NewTimer,
  ParkedMessage,
  StoredEvent,
  StoredWorkflow,
  Store,
  TimerChange,
  TimerRecord,
  WorkflowFilter,
  WorkflowTransition,
  WriteOutcome,
} from "../port.ts";
import { applyMigrations, LATEST_SCHEMA_VERSION, schemaVersionOf } from "./migrations.ts";
import { feedSql } from "./sqlite-feed.ts";
import { prepareStatements, type Statements } from "./sqlite-statements.ts";
import { timerSql } from "./sqlite-timers.ts";

export { workflowListQuery } from "./sqlite-workflows.ts";

export interface SqliteStoreOptions {
  /** Path of the database file; created if missing (its directory must exist). */
  path: string;
  /**
   * How hard each commit waits for the disk. The journal is always WAL.
   * - `FULL` (default): fsync on every commit; nothing acknowledged is lost, even on power failure.
   * - `NORMAL`: no fsync per commit; survives a process crash, but the last commits may be lost
   *   if the machine loses power or the OS crashes. Faster.
   * - `OFF`: never waits for the disk; for throwaway data only.
   */
  synchronous?: "FULL" | "NORMAL" | "OFF";
}

/** What the connection is really running with, read back from SQLite. */
export interface SqliteSettings {
  journalMode: string;
  synchronous: "OFF" | "NORMAL" | "FULL" | "EXTRA";
  busyTimeoutMs: number;
}

const SYNCHRONOUS_NAMES = ["OFF", "NORMAL", "FULL", "EXTRA"] as const;
const BUSY_TIMEOUT_MS = 5000;

/**
 * The feed and timer queries, exported for the tests, which check their query plans
 * (see ./sqlite-feed.ts and ./sqlite-timers.ts).
 */
export const feedAndTimerSql = { ...feedSql, ...timerSql } as const;

/**
 * The store on one SQLite file, for a single machine. better-sqlite3 is synchronous; every method
 * does its work at once and returns a settled promise, so a commit is never interleaved with
 * other calls in this process. The work itself is in ./sqlite-statements.ts and the parts it
 * gathers (workflows, feed and consumers, timers).
 *
 * @example
 * const store = new SqliteStore({ path: "data/sagaflow.db" });
 * await store.migrate();
 * const [outcome] = await store.commit([{ component: "wallet", id: "w1", dedup: [],
 *   events: { expectedSeq: 0, append: [{ type: "opened", payload: { initialBalance: 10 } }] } }]);
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  #statements: Statements | undefined;
  /** View tables live in the same file. */
  readonly views: SqliteViews;

  constructor(options: SqliteStoreOptions) {
    const db = new Database(options.path);
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      // An in-memory database cannot use WAL; a file that refuses it would lose our durability promise.
      if (mode !== "wal" && !db.memory) {
        throw new Error(`SQLite refused WAL journal mode for ${options.path} (got ${String(mode)})`);
      }
      db.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
      // Checkpoint every ~16 MB of WAL rather than SQLite's 4 MB: fewer, larger checkpoints
      // measured +25-30% commands/s at concurrency 64 (bench/entity-commands.ts); the WAL file is
      // cut back to 64 MB after a checkpoint.
      db.pragma("wal_autocheckpoint = 4000");
      db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.views = new SqliteViews(db);
  }

  async migrate(): Promise<void> {
    applyMigrations(this.#db);
  }

  async schemaVersion(): Promise<number> {
    return schemaVersionOf(this.#db);
  }

  /** The pragmas in force, for tests and the admin API. */
  settings(): SqliteSettings {
    const sync = this.#db.pragma("synchronous", { simple: true }) as number;
    return {
      journalMode: this.#db.pragma("journal_mode", { simple: true }) as string,
      synchronous: SYNCHRONOUS_NAMES[sync] ?? "FULL",
      busyTimeoutMs: this.#db.pragma("busy_timeout", { simple: true }) as number,
    };
  }

  async loadHistory(component: string, id: string): Promise<EntityHistory> {
    return this.#s().loadHistory(component, id);
  }

  async readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    // SQLite reads a negative LIMIT as "no limit".
    if (limit <= 0) return [];
    return this.#s().readEvents(component, id, afterSeq, limit);
  }

  async loadKv(component: string, id: string): Promise<KvRecord | undefined> {
    return this.#s().loadKv(component, id);
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    return this.#s().findDedup(component, id, key);
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    const s = this.#s();
    if (writes.length === 0) return [];
    return s.commit.immediate(writes, Date.now());
  }

  async pruneDedup(before: number): Promise<number> {
    return this.#s().pruneDedup(before);
  }

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    return this.#s().workflows.load(name, id);
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    return this.#s().workflows.list(filter);
  }

  async dueWorkflows(now: number, limit: number): Promise<Array<{ name: string; id: string }>> {
    return this.#s().workflows.due(now, limit);
  }

  async workflowHistory(name: string, id: string, limit: number): Promise<Array<WorkflowTransition & { version: number }>> {
    return this.#s().workflows.history(name, id, limit);
  }

  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    return this.#s().feed.read(afterPosition, limit, components);
  }

  async feedHead(): Promise<number> {
    return this.#s().feed.head();
  }

  async loadOffset(consumer: string): Promise<number> {
    return this.#s().feed.loadOffset(consumer);
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    return this.#s().feed.listOffsets();
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = []): Promise<void> {
    this.#s().feed.commitConsumer(consumer, offset, park, remove);
  }

  async listParked(consumer: string | undefined, limit: number): Promise<ParkedMessage[]> {
    return this.#s().feed.listParked(consumer, limit);
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    this.#s().feed.removeParked(consumer, positions);
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    return this.#s().timers.put(timer);
  }

  async cancelTimer(name: string): Promise<boolean> {
    return this.#s().timers.cancel(name);
  }

  async dueTimers(now: number, limit: number): Promise<TimerRecord[]> {
    return this.#s().timers.due(now, limit);
  }

  async nextTimerDue(): Promise<number | undefined> {
    return this.#s().timers.next();
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>): Promise<void> {
    this.#s().timers.finish(fired);
  }

  async retryTimer(name: string, generation: number, change: TimerChange): Promise<void> {
    this.#s().timers.retry(name, generation, change);
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number): Promise<TimerRecord[]> {
    return this.#s().timers.list(status, limit);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** Statements need the tables, so they are prepared on first use after `migrate()`. */
  #s(): Statements {
    if (this.#statements) return this.#statements;
    if (!this.#db.open) throw new Error("the store is closed");
    const version = schemaVersionOf(this.#db);
    if (version !== LATEST_SCHEMA_VERSION) {
      throw new Error(`database schema is at version ${version}, expected ${LATEST_SCHEMA_VERSION}: call migrate() first`);
    }
    this.#statements = prepareStatements(this.#db);
    return this.#statements;
  }
}
