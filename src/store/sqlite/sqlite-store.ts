import Database from "better-sqlite3";
import type {
  DedupRecord,
  EntityHistory,
  InstanceWrite,
  KvRecord,
  Snapshot,
  StoredEvent,
  StoredReply,
  StoredWorkflow,
  Store,
  WorkflowFilter,
  WorkflowRecord,
  WorkflowStatus,
  WorkflowTransition,
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

interface WorkflowRow {
  name: string;
  id: string;
  version: number;
  status: string;
  step: string | null;
  step_input: string | null;
  state: string | null;
  attempt: number;
  exec_id: number;
  due_at: number | null;
  deadline_at: number | null;
  last_error: string | null;
  start_hash: string;
  start_reply: string | null;
  created_at: number;
  updated_at: number;
}

interface TransitionRow {
  version: number;
  at: number;
  status: string;
  step: string | null;
  exec_id: number;
  attempt: number;
  detail: string;
}

const WORKFLOW_COLUMNS =
  "name, id, version, status, step, step_input, state, attempt, exec_id, due_at, deadline_at, " +
  "last_error, start_hash, start_reply, created_at, updated_at";

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

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    const row = this.#s().loadWorkflow.get(name, id) as WorkflowRow | undefined;
    return row && toWorkflow(row);
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    const s = this.#s();
    const query = workflowListQuery(filter);
    if (!query) return [];
    let statement = s.listWorkflows.get(query.sql);
    if (!statement) {
      statement = this.#db.prepare(query.sql);
      s.listWorkflows.set(query.sql, statement);
    }
    return (statement.all(...query.params) as WorkflowRow[]).map(toWorkflow);
  }

  async workflowHistory(name: string, id: string, limit: number): Promise<Array<WorkflowTransition & { version: number }>> {
    const s = this.#s();
    if (limit <= 0) return [];
    return (s.workflowHistory.all(name, id, limit) as TransitionRow[]).map(toTransition);
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
  // The workflow statements check the expected version as they write (no read first): a new
  // record is inserted only where none exists, an existing one updated only at the version the
  // writer saw. No row changed means a conflict. Both take the record's values in WORKFLOW_COLUMNS order.
  const insertWorkflow = db.prepare(
    `INSERT INTO workflows (${WORKFLOW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (name, id) DO NOTHING`,
  );
  const updateWorkflow = db.prepare(
    `UPDATE workflows SET version = ?, status = ?, step = ?, step_input = ?, state = ?, attempt = ?,
       exec_id = ?, due_at = ?, deadline_at = ?, last_error = ?, start_hash = ?, start_reply = ?,
       created_at = ?, updated_at = ?
     WHERE name = ? AND id = ? AND version = ?`,
  );
  // A plain INSERT: the record's version was just claimed, so a clash here is a bug and aborts.
  const insertTransition = db.prepare(
    `INSERT INTO workflow_history (name, id, version, at, status, step, exec_id, attempt, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );

  /** Checks one write against the store as it is now (including earlier writes of the batch), then applies it. */
  function applyWrite(w: InstanceWrite, at: number): WriteOutcome {
    const { component, id, events, kv, dedup } = w;
    if (events && ((maxSeq.get(component, id) as number | null) ?? 0) !== events.expectedSeq) return conflict();
    if (kv && ((kvVersion.get(component, id) as number | undefined) ?? 0) !== kv.expectedVersion) return conflict();
    if (dedup.length > 0 && dedupTaken(component, id, dedup)) return conflict();
    // Last of the checks, because it also writes the record: nothing else is written before it.
    if (w.workflow && !writeWorkflow(component, id, w.workflow)) return conflict();

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

  /** Writes the record if it is at the expected version; false (and nothing written) if not. */
  function writeWorkflow(name: string, id: string, wf: NonNullable<InstanceWrite["workflow"]>): boolean {
    const { expectedVersion, record: r, transition: t } = wf;
    const version = expectedVersion + 1;
    // The columns after (name, id).
    const values = [
      version, r.status, r.step ?? null, encode(r.stepInput), encode(r.state), r.attempt, r.execId,
      r.dueAt ?? null, r.deadlineAt ?? null, r.lastError == null ? null : JSON.stringify(r.lastError),
      r.startHash, encode(r.startReply), r.createdAt, r.updatedAt,
    ];
    const changed = expectedVersion === 0
      ? insertWorkflow.run(name, id, ...values).changes
      : updateWorkflow.run(...values, name, id, expectedVersion).changes;
    if (changed === 0) return false;
    insertTransition.run(name, id, version, t.at, t.status, t.step ?? null, t.execId, t.attempt, t.detail);
    return true;
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
    loadWorkflow: db.prepare(`SELECT ${WORKFLOW_COLUMNS} FROM workflows WHERE name = ? AND id = ?`),
    /** Listing statements by SQL text: one per filter shape (see workflowListQuery), prepared on first use. */
    listWorkflows: new Map<string, Database.Statement>(),
    workflowHistory: db.prepare(
      `SELECT version, at, status, step, exec_id, attempt, detail FROM workflow_history
       WHERE name = ? AND id = ? ORDER BY version LIMIT ?`,
    ),
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

/**
 * The SQL and parameters listing the workflows a filter selects, or undefined when it selects
 * none (a limit of 0 or less, an empty `statuses`). The SQL text depends only on which filter
 * fields are set and on the number of statuses, so a few statements serve every call. Exported
 * for the tests, which check the query plans.
 */
export function workflowListQuery(filter: WorkflowFilter): { sql: string; params: unknown[] } | undefined {
  const { name, step, afterId, limit } = filter;
  checkAfterId(filter);
  const statuses = filter.statuses && [...new Set(filter.statuses)];
  // SQLite reads a negative LIMIT as "no limit".
  if (limit <= 0 || statuses?.length === 0) return undefined;
  const where: string[] = [];
  const params: unknown[] = [];
  if (name !== undefined) {
    where.push("name = ?");
    params.push(name);
  }
  if (statuses) {
    where.push(`status IN (${statuses.map(() => "?").join(", ")})`);
    params.push(...statuses);
  }
  if (step !== undefined) {
    where.push("step = ?");
    params.push(step);
  }
  if (afterId !== undefined) {
    where.push("id > ?");
    params.push(afterId);
  }
  params.push(limit);
  // With statuses, always the status index: without statistics the planner prefers the primary
  // key for `name = ?` (it saves a sort), which reads every instance of the name, ended or not.
  const sql =
    `SELECT ${WORKFLOW_COLUMNS} FROM workflows${statuses ? " INDEXED BY workflows_status" : ""}` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    " ORDER BY name, id LIMIT ?";
  return { sql, params };
}

/** `afterId` pages within one name: without a name, (name, id) order has no single id to go on from. */
function checkAfterId(filter: WorkflowFilter): void {
  if (filter.afterId !== undefined && filter.name === undefined) {
    throw new Error("listWorkflows: afterId needs a name (it pages through the ids of one workflow)");
  }
}

function toWorkflow(row: WorkflowRow): StoredWorkflow {
  return {
    name: row.name,
    id: row.id,
    version: row.version,
    status: row.status as WorkflowStatus,
    step: row.step,
    stepInput: decode(row.step_input),
    state: decode(row.state),
    attempt: row.attempt,
    execId: row.exec_id,
    dueAt: row.due_at,
    deadlineAt: row.deadline_at,
    lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as WorkflowRecord["lastError"]),
    startHash: row.start_hash,
    startReply: decode(row.start_reply),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toTransition(row: TransitionRow): WorkflowTransition & { version: number } {
  return {
    version: row.version,
    at: row.at,
    status: row.status as WorkflowStatus,
    step: row.step,
    execId: row.exec_id,
    attempt: row.attempt,
    detail: row.detail,
  };
}

function toDedup(row: DedupRow): DedupRecord {
  return { key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at };
}
