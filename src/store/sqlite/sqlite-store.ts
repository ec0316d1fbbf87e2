import Database from "better-sqlite3";
import type {
  DedupRecord,
  EntityHistory,
  InstanceWrite,
  KvRecord,
  Snapshot,
  StoredEvent,
  StoredReply,
  Store,
  WriteOutcome,
} from "../port.ts";
import { applyMigrations, LATEST_SCHEMA_VERSION, schemaVersionOf } from "./migrations.ts";

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

interface EventRow {
  position: number;
  seq: number;
  type: string;
  payload: string | null;
  at: number;
}

interface KvRow {
  version: number;
  state: string | null;
  deleted: number;
}

interface DedupRow {
  key: string;
  request_hash: string;
  reply: string;
  at: number;
}

type Statements = ReturnType<typeof prepare>;

/**
 * The store on one SQLite file, for a single machine. better-sqlite3 is synchronous; every method
 * does its work at once and returns a settled promise, so a commit is never interleaved with
 * other calls in this process.
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
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
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
    return (this.#s().readEvents.all(component, id, afterSeq, limit) as EventRow[]).map(toEvent);
  }

  async loadKv(component: string, id: string): Promise<KvRecord | undefined> {
    const row = this.#s().loadKv.get(component, id) as KvRow | undefined;
    return row && { version: row.version, state: decode(row.state), deleted: row.deleted !== 0 };
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    const row = this.#s().findDedup.get(component, id, key) as DedupRow | undefined;
    return row && toDedup(row);
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    const s = this.#s();
    if (writes.length === 0) return [];
    return s.commit.immediate(writes, Date.now());
  }

  async pruneDedup(before: number): Promise<number> {
    return this.#s().pruneDedup.run(before).changes;
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
    this.#statements = prepare(this.#db);
    return this.#statements;
  }
}

function prepare(db: Database.Database) {
  const maxSeq = db.prepare("SELECT max(seq) FROM events WHERE component = ? AND id = ?").pluck();
  const kvVersion = db.prepare("SELECT version FROM kv WHERE component = ? AND id = ?").pluck();
  const dedupExists = db.prepare("SELECT 1 FROM dedup WHERE component = ? AND id = ? AND key = ?").pluck();
  const insertEvent = db.prepare(
    "INSERT INTO events (component, id, seq, type, payload, at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const upsertSnapshot = db.prepare(
    `INSERT INTO snapshots (component, id, seq, state) VALUES (?, ?, ?, ?)
     ON CONFLICT (component, id) DO UPDATE SET seq = excluded.seq, state = excluded.state`,
  );
  const upsertKv = db.prepare(
    `INSERT INTO kv (component, id, version, state, deleted, at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (component, id) DO UPDATE
     SET version = excluded.version, state = excluded.state, deleted = excluded.deleted, at = excluded.at`,
  );
  // A plain INSERT: an existing key is checked for beforehand, so a clash here is a bug and aborts.
  const insertDedup = db.prepare(
    "INSERT INTO dedup (component, id, key, request_hash, reply, at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const loadSnapshot = db.prepare("SELECT seq, state FROM snapshots WHERE component = ? AND id = ?");
  const readEvents = db.prepare(
    `SELECT position, seq, type, payload, at FROM events
     WHERE component = ? AND id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  );
  const eventsAfter = db.prepare(
    "SELECT position, seq, type, payload, at FROM events WHERE component = ? AND id = ? AND seq > ? ORDER BY seq",
  );

  /** Checks one write against the store as it is now (including earlier writes of the batch), then applies it. */
  function applyWrite(w: InstanceWrite, at: number): WriteOutcome {
    const { component, id, events, kv, dedup } = w;
    if (events && ((maxSeq.get(component, id) as number | null) ?? 0) !== events.expectedSeq) return conflict();
    if (kv && ((kvVersion.get(component, id) as number | undefined) ?? 0) !== kv.expectedVersion) return conflict();
    if (dedup.length > 0 && dedupTaken(component, id, dedup)) return conflict();

    const positions: number[] = [];
    if (events) {
      let seq = events.expectedSeq;
      for (const e of events.append) {
        const info = insertEvent.run(component, id, ++seq, e.type, encode(e.payload), at);
        positions.push(Number(info.lastInsertRowid));
      }
      const snap = events.snapshot;
      if (snap) upsertSnapshot.run(component, id, snap.seq, encode(snap.state));
    }
    if (kv) upsertKv.run(component, id, kv.expectedVersion + 1, encode(kv.state), kv.deleted ? 1 : 0, at);
    for (const d of dedup) {
      insertDedup.run(component, id, d.key, d.requestHash, JSON.stringify(d.reply), d.at);
    }
    return { ok: true, positions };
  }

  function dedupTaken(component: string, id: string, dedup: DedupRecord[]): boolean {
    for (const d of dedup) if (dedupExists.get(component, id, d.key) !== undefined) return true;
    // The same key twice in one write would overwrite itself.
    return dedup.length > 1 && new Set(dedup.map((d) => d.key)).size !== dedup.length;
  }

  return {
    readEvents,
    loadKv: db.prepare("SELECT version, state, deleted FROM kv WHERE component = ? AND id = ?"),
    findDedup: db.prepare("SELECT key, request_hash, reply, at FROM dedup WHERE component = ? AND id = ? AND key = ?"),
    pruneDedup: db.prepare("DELETE FROM dedup WHERE at < ?"),
    // One read transaction, so the snapshot and the events come from the same state of the file.
    loadHistory: db.transaction((component: string, id: string): EntityHistory => {
      const row = loadSnapshot.get(component, id) as { seq: number; state: string | null } | undefined;
      const snapshot: Snapshot | undefined = row && { seq: row.seq, state: decode(row.state) };
      const events = (eventsAfter.all(component, id, snapshot?.seq ?? 0) as EventRow[]).map(toEvent);
      return { snapshot, events };
    }),
    commit: db.transaction((writes: InstanceWrite[], at: number): WriteOutcome[] => {
      const outcomes: WriteOutcome[] = [];
      for (const w of writes) outcomes.push(applyWrite(w, at));
      return outcomes;
    }),
  };
}

function conflict(): WriteOutcome {
  return { ok: false, reason: "conflict" };
}

/** SQL NULL stands for `undefined`, so that `null` and "no value" both round-trip. Throws on what JSON cannot hold. */
function encode(value: unknown): string | null {
  return JSON.stringify(value) ?? null;
}

function decode(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

function toEvent(row: EventRow): StoredEvent {
  return { type: row.type, payload: decode(row.payload), seq: row.seq, position: row.position, at: row.at };
}

function toDedup(row: DedupRow): DedupRecord {
  return { key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at };
}
