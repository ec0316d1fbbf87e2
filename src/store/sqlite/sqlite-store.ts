import { resolve } from "node:path";
import { DataInUseError, lockDatabase } from "./data-lock.ts";
import { refuseIfMigrated } from "./migrated-marker.ts";
import Database from "better-sqlite3";
import { SqliteViews } from "./sqlite-views.ts";
import type {
  BackupReport,
  DedupRecord,
  EntityHistory,
  FeedEntry,
  InstanceWrite,
  KvRecord,
  NewTimer,
  ParkedMessage,
  RetentionStore,
  StoredEvent,
  StoredWorkflow,
  StepsToRun,
  DueWorkflowsOf,
  WorkflowCount,
  Store,
  TimerChange,
  TimerCursor,
  TimerRecord,
  WorkflowFilter,
  WorkflowStateAt,
  WorkflowTransition,
  WriteOutcome,
} from "../port.ts";
import { applyMigrations, LATEST_SCHEMA_VERSION, schemaVersionOf } from "./migrations.ts";
import { feedSql } from "./sqlite-feed.ts";
import { prepareStatements, type Statements } from "./sqlite-statements.ts";
import { timerSql } from "./sqlite-timers.ts";

import { bindingUnusable, namingFile, toStoreError } from "./sqlite-errors.ts";
import { SagaflowError, StoreUnavailableError } from "../../define/errors.ts";
import { backupSqlite } from "./sqlite-backup.ts";
import { OutageTracker, type StoreStatus } from "../outage.ts";

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
/** At most one WAL-truncating checkpoint per this long while the disk is full. */
const SPACE_CHECKPOINT_EVERY_MS = 5_000;
/**
 * Checkpoint every 4,000 pages (~16 MB at 4 KiB pages) of WAL rather than SQLite's 1,000: fewer,
 * larger checkpoints measured +25-30% commands/s at concurrency 64 (bench/entity-commands.ts).
 */
const WAL_AUTOCHECKPOINT_PAGES = 4000;
/**
 * The WAL file is cut back to this size whenever it starts over after a checkpoint, so it stays
 * about one checkpoint interval long even after a long reader let it grow (see docs/site/guides/operations.md, "Disk space").
 */
const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

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
  readonly #path: string;
  readonly #outage = new OutageTracker();
  /** When a checkpoint was last tried to give back WAL space on a full disk. */
  #lastSpaceCheckpoint = 0;
  #statements: Statements | undefined;
  /** View tables live in the same file. */
  readonly views: SqliteViews;
  /** A write's `together` writes commit with it under a SAVEPOINT: all or none. */
  readonly commitsTogether = true;
  /** Retention's removals, each a short transaction (./sqlite-retention.ts). */
  readonly retention: RetentionStore = {
    pruneFeed: async (through, before, limit) => this.#do((s) => s.retention.pruneFeed(through, before, limit)),
    feedPrunedThrough: async () => this.#do((s) => s.retention.feedPrunedThrough()),
    pruneWorkflows: async (name, before, feedFloor, limit, now) => this.#do((s) => s.retention.pruneWorkflows(name, before, feedFloor, limit, now)),
    trimHistories: async (after, keepNewest, limit) => this.#do((s) => s.retention.trimHistories(after, keepNewest, limit)),
    removedWorkflow: async (name, id) => this.#do((s) => s.retention.removedWorkflow(name, id)),
    pruneTombstones: async (before, limit) => this.#do((s) => s.retention.pruneTombstones(before, limit)),
    oldDedup: async (before, after, limit) => this.#do((s) => s.retention.oldDedup(before, after, limit)),
    deleteDedup: async (refs) => this.#do((s) => s.retention.deleteDedup(refs)),
    timerGenerations: async (names) => this.#do((s) => s.retention.timerGenerations(names)),
  };

  readonly #unlock: () => void;

  constructor(options: SqliteStoreOptions) {
    // One process per file: a second one refuses to open it (see ./data-lock.ts).
    const file = options.path !== ":memory:" && options.path !== "" && !options.path.startsWith("file:");
    if (file) refuseIfMigrated(resolve(options.path));
    const unlock = file ? lockNamingFile(resolve(options.path)) : () => {};
    let db: Database.Database;
    try {
      db = new Database(options.path);
    } catch (err) {
      unlock();
      throw bindingUnusable(err) ?? namingFile(err, options.path);
    }
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      // An in-memory database cannot use WAL; a file that refuses it would lose our durability promise.
      if (mode !== "wal" && !db.memory) {
        throw new Error(`SQLite refused WAL journal mode for ${options.path} (got ${String(mode)})`);
      }
      db.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    } catch (err) {
      db.close();
      unlock();
      throw namingFile(err, options.path);
    }
    this.#path = options.path;
    this.#db = db;
    this.#unlock = unlock;
    this.views = new SqliteViews(db);
  }

  async migrate(): Promise<void> {
    try {
      applyMigrations(this.#db);
      this.#probeWrite();
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /**
   * Makes a write and rolls it back, so that a file this process may read but not write (restored
   * as another user) stops the start, naming the file, rather than start and fail every command.
   * Opening such a file succeeds, and so does reading it and every migration already applied.
   */
  #probeWrite(): void {
    const version = this.#db.pragma("user_version", { simple: true }) as number;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#db.pragma(`user_version = ${version}`);
    } finally {
      this.#db.exec("ROLLBACK");
    }
  }

  /** Ok, or the outage seen last (a full disk; cleared by the next successful commit). */
  status(): StoreStatus {
    return this.#outage.status();
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
    return this.#do((s) => s.loadHistory(component, id));
  }

  async readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    // SQLite reads a negative LIMIT as "no limit".
    if (limit <= 0) return [];
    return this.#do((s) => s.readEvents(component, id, afterSeq, limit));
  }

  async loadKv(component: string, id: string): Promise<KvRecord | undefined> {
    return this.#do((s) => s.loadKv(component, id));
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    return this.#do((s) => s.findDedup(component, id, key));
  }

  async listKv(component: string, afterId: string, limit: number): Promise<Array<KvRecord & { id: string }>> {
    if (limit <= 0) return [];
    return this.#do((s) => s.listKv(component, afterId, limit));
  }

  async listDedup(component: string, id: string, afterKey: string, limit: number): Promise<DedupRecord[]> {
    if (limit <= 0) return [];
    return this.#do((s) => s.listDedup(component, id, afterKey, limit));
  }

  async workflowStates(name: string, id: string, afterVersion: number, limit: number): Promise<WorkflowStateAt[]> {
    if (limit <= 0) return [];
    return this.#do((s) => s.workflowStates(name, id, afterVersion, limit));
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    if (writes.length === 0) return this.#do(() => []);
    const outcomes = this.#do((s) => s.commit.immediate(writes, Date.now()));
    this.#outage.succeeded();
    return outcomes;
  }

  async pruneDedup(before: number): Promise<number> {
    return this.#do((s) => s.pruneDedup(before));
  }

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    return this.#do((s) => s.workflows.load(name, id));
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    return this.#do((s) => s.workflows.list(filter));
  }

  async dueWorkflows(now: number, limit: number, of: DueWorkflowsOf): Promise<Array<{ name: string; id: string }>> {
    return this.#do((s) => s.workflows.due(now, limit, of));
  }

  async nextWorkflowDue(now: number, buckets: readonly number[]): Promise<number | undefined> {
    return this.#do((s) => s.workflows.nextDue(now, buckets));
  }

  async stepsToRun(name: string): Promise<StepsToRun[]> {
    return this.#do((s) => s.workflows.stepsToRun(name));
  }

  async workflowCounts(): Promise<WorkflowCount[]> {
    return this.#do(() => this.#db.prepare("SELECT name, status, step, COUNT(*) AS count FROM workflows GROUP BY name, status, step").all() as WorkflowCount[]);
  }

  async workflowHistory(name: string, id: string, limit: number, afterVersion = 0): Promise<Array<WorkflowTransition & { version: number }>> {
    return this.#do((s) => s.workflows.history(name, id, limit, afterVersion));
  }

  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    return this.#do((s) => s.feed.read(afterPosition, limit, components));
  }

  async feedHead(): Promise<number> {
    return this.#do((s) => s.feed.head());
  }

  async loadOffset(consumer: string): Promise<number> {
    return this.#do((s) => s.feed.loadOffset(consumer));
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    return this.#do((s) => s.feed.listOffsets());
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = []): Promise<void> {
    this.#do((s) => s.feed.commitConsumer(consumer, offset, park, remove));
  }

  async listParked(consumer: string | undefined, limit: number, afterPosition = 0): Promise<ParkedMessage[]> {
    return this.#do((s) => s.feed.listParked(consumer, limit, afterPosition));
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    this.#do((s) => s.feed.removeParked(consumer, positions));
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    return this.#do((s) => s.timers.put(timer));
  }

  async cancelTimer(name: string): Promise<boolean> {
    return this.#do((s) => s.timers.cancel(name));
  }

  async dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
    return this.#do((s) => s.timers.due(now, limit, buckets));
  }

  async nextTimerDue(buckets: readonly number[]): Promise<number | undefined> {
    return this.#do((s) => s.timers.next(buckets));
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>): Promise<number[]> {
    this.#do((s) => s.timers.finish(fired));
    return [];
  }

  async retryTimer(name: string, generation: number, change: TimerChange): Promise<void> {
    this.#do((s) => s.timers.retry(name, generation, change));
  }

  async unparkTimer(name: string, dueAt: number): Promise<TimerRecord | undefined> {
    return this.#do((s) => s.timers.unpark(name, dueAt));
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number, after?: TimerCursor): Promise<TimerRecord[]> {
    return this.#do((s) => s.timers.list(status, limit, after));
  }

  /** An online backup into one SQLite file (see ./sqlite-backup.ts); commands go on meanwhile. */
  async backup(path: string): Promise<BackupReport> {
    if (!this.#db.open) throw new Error("the store is closed");
    if (this.#db.memory) throw new SagaflowError("backup_unsupported", "an in-memory database has nothing to back up", { status: 409 });
    return backupSqlite(this.#db, path);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    this.#unlock();
  }

  /**
   * Runs `work` on the statements, turning SQLite's "not now" into StoreUnavailableError (see
   * ./sqlite-errors.ts). On a full disk it also tries, at most every few seconds, to give the WAL's
   * space back (a TRUNCATE checkpoint), so that freeing a little space elsewhere is enough.
   */
  #do<T>(work: (s: Statements) => T): T {
    try {
      return work(this.#s());
    } catch (error) {
      throw this.#translate(error);
    }
  }

  #translate(error: unknown): unknown {
    const translated = toStoreError(error, this.#path);
    if (!(translated instanceof StoreUnavailableError)) return translated;
    this.#outage.failed(translated);
    const now = Date.now();
    if (translated.reason === "disk_full" && this.#db.open && now - this.#lastSpaceCheckpoint > SPACE_CHECKPOINT_EVERY_MS) {
      this.#lastSpaceCheckpoint = now;
      try {
        this.#db.pragma("wal_checkpoint(TRUNCATE)");
      } catch {
        // Still no room (the checkpoint may need to grow the database file): the next try will tell.
      }
    }
    return translated;
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

/** The data lock (./data-lock.ts); a folder it cannot write to (or a full disk) is said as such, naming the file. */
function lockNamingFile(path: string): () => void {
  try {
    return lockDatabase(path);
  } catch (error) {
    if (error instanceof DataInUseError) throw error;
    throw namingFile(error, path);
  }
}
