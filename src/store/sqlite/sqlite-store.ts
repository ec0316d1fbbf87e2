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
  Snapshot,
  StoredEvent,
  StoredReply,
  StoredWorkflow,
  Store,
  TimerRecord,
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

interface FeedRow {
  position: number;
  component: string;
  id: string;
  seq: number;
  type: string;
  payload: string | null;
  at: number;
}

interface ParkedRow extends FeedRow {
  consumer: string;
  error: string;
  attempts: number;
  parked_at: number;
  blocked_by: number | null;
}

interface TimerRow {
  name: string;
  generation: number;
  due_at: number;
  component: string;
  id: string;
  handler: string;
  input: string | null;
  attempts: number;
  status: string;
  last_error: string | null;
  created_at: number;
}

type TimerChange = Parameters<Store["retryTimer"]>[2];

/** What a row of `events` is (migration 3): only kind 0 rows are an entity's history. */
const KIND_EVENT = 0;
const KIND_KV = 1;
const KIND_WORKFLOW = 2;

const FEED_COLUMNS = "position, component, id, seq, type, payload, at";
const PARKED_COLUMNS = `consumer, ${FEED_COLUMNS}, error, attempts, parked_at, blocked_by`;
const TIMER_COLUMNS = "name, generation, due_at, component, id, handler, input, attempts, status, last_error, created_at";

/**
 * The feed and timer queries, exported for the tests, which check their query plans. Each reads
 * a range of an index: `ofComponent` uses events_feed (the planner is told so: without
 * statistics it might take the primary key and filter, reading every other component's rows).
 */
export const feedAndTimerSql = {
  all: `SELECT ${FEED_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
  ofComponent: `SELECT ${FEED_COLUMNS} FROM events INDEXED BY events_feed WHERE component = ? AND position > ? ORDER BY position LIMIT ?`,
  dueTimers: `SELECT ${TIMER_COLUMNS} FROM timers WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, name LIMIT ?`,
  timersOfStatus: `SELECT ${TIMER_COLUMNS} FROM timers WHERE status = ? ORDER BY due_at, name LIMIT ?`,
  nextTimerDue: "SELECT min(due_at) FROM timers WHERE status = 'pending'",
} as const;

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

  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    const s = this.#s();
    // SQLite reads a negative LIMIT as "no limit".
    if (limit <= 0) return [];
    if (components === undefined) return (s.feedAll.all(afterPosition, limit) as FeedRow[]).map(toFeedEntry);
    return s.feedOf([...new Set(components)], afterPosition, limit).map(toFeedEntry);
  }

  async feedHead(): Promise<number> {
    return (this.#s().feedHead.get() as number | null) ?? 0;
  }

  async loadOffset(consumer: string): Promise<number> {
    return (this.#s().loadOffset.get(consumer) as number | undefined) ?? 0;
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    return this.#s().listOffsets.all() as Array<{ consumer: string; position: number }>;
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = []): Promise<void> {
    const s = this.#s();
    checkParkedConsumer(consumer, park);
    s.commitConsumer.immediate(consumer, offset, park, remove);
  }

  async listParked(consumer: string | undefined, limit: number): Promise<ParkedMessage[]> {
    const s = this.#s();
    if (limit <= 0) return [];
    const rows = consumer === undefined ? s.listParkedAll.all(limit) : s.listParkedOf.all(consumer, limit);
    return (rows as ParkedRow[]).map(toParked);
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    const s = this.#s();
    if (positions.length > 0) s.removeParked.immediate(consumer, positions);
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    const s = this.#s();
    checkDueAt(timer.dueAt);
    const { name, dueAt, component, id, handler, input, createdAt } = timer;
    return toTimer(s.putTimer.get(name, dueAt, component, id, handler, encode(input), createdAt) as TimerRow);
  }

  async cancelTimer(name: string): Promise<boolean> {
    return this.#s().cancelTimer.run(name).changes > 0;
  }

  async dueTimers(now: number, limit: number): Promise<TimerRecord[]> {
    const s = this.#s();
    if (limit <= 0) return [];
    return (s.dueTimers.all(now, limit) as TimerRow[]).map(toTimer);
  }

  async nextTimerDue(): Promise<number | undefined> {
    return (this.#s().nextTimerDue.get() as number | null) ?? undefined;
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>): Promise<void> {
    this.#s().finishTimers(fired);
  }

  async retryTimer(name: string, generation: number, change: TimerChange): Promise<void> {
    const s = this.#s();
    checkDueAt(change.dueAt);
    checkTimerStatus(change.status);
    const { dueAt, attempts, status, lastError } = change;
    s.retryTimer.run(dueAt, attempts, status, JSON.stringify(lastError), name, generation);
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number): Promise<TimerRecord[]> {
    const s = this.#s();
    if (status !== undefined) checkTimerStatus(status);
    if (limit <= 0) return [];
    if (status !== undefined) return (s.timersOfStatus.all(status, limit) as TimerRow[]).map(toTimer);
    return s.allTimers(limit).map(toTimer);
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
  // Entity reads and checks look at kind 0 rows only (see migration 3).
  const maxSeq = db.prepare(`SELECT max(seq) FROM events WHERE component = ? AND id = ? AND kind = ${KIND_EVENT}`).pluck();
  const kvVersion = db.prepare("SELECT version FROM kv WHERE component = ? AND id = ?").pluck();
  const dedupExists = db.prepare("SELECT 1 FROM dedup WHERE component = ? AND id = ? AND key = ?").pluck();
  // Entity events and the feed rows of key-value and workflow writes (by kind).
  const insertEvent = db.prepare(
    "INSERT INTO events (component, id, kind, seq, type, payload, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
     WHERE component = ? AND id = ? AND kind = ${KIND_EVENT} AND seq > ? ORDER BY seq LIMIT ?`,
  );
  const eventsAfter = db.prepare(
    `SELECT position, seq, type, payload, at FROM events
     WHERE component = ? AND id = ? AND kind = ${KIND_EVENT} AND seq > ? ORDER BY seq`,
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
    const workflowFeed = w.workflow && writeWorkflow(component, id, w.workflow);
    if (workflowFeed === false) return conflict();

    // Feed rows in this order: the events, the key-value state, the workflow state.
    const positions: number[] = [];
    if (events) {
      let seq = events.expectedSeq;
      for (const e of events.append) {
        const info = insertEvent.run(component, id, KIND_EVENT, ++seq, e.type, encode(e.payload), at);
        positions.push(Number(info.lastInsertRowid));
      }
      const snap = events.snapshot;
      if (snap) upsertSnapshot.run(component, id, snap.seq, encode(snap.state));
    }
    if (kv) {
      const version = kv.expectedVersion + 1;
      const state = encode(kv.state);
      upsertKv.run(component, id, version, state, kv.deleted ? 1 : 0, at);
      const info = kv.deleted
        ? insertEvent.run(component, id, KIND_KV, version, "$deleted", "null", at)
        : insertEvent.run(component, id, KIND_KV, version, "$state", state, at);
      positions.push(Number(info.lastInsertRowid));
    }
    if (workflowFeed) {
      const info = insertEvent.run(component, id, KIND_WORKFLOW, workflowFeed.version, "$state", workflowFeed.payload, at);
      positions.push(Number(info.lastInsertRowid));
    }
    for (const d of dedup) {
      insertDedup.run(component, id, d.key, d.requestHash, JSON.stringify(d.reply), d.at);
    }
    return { ok: true, positions };
  }

  /**
   * Writes the record if it is at the expected version and returns its feed row's seq and
   * payload (written by the caller, after the events); false (and nothing written) if not.
   */
  function writeWorkflow(
    name: string,
    id: string,
    wf: NonNullable<InstanceWrite["workflow"]>,
  ): { version: number; payload: string } | false {
    const { expectedVersion, record: r, transition: t } = wf;
    const version = expectedVersion + 1;
    const state = encode(r.state);
    // The columns after (name, id).
    const values = [
      version, r.status, r.step ?? null, encode(r.stepInput), state, r.attempt, r.execId,
      r.dueAt ?? null, r.deadlineAt ?? null, r.lastError == null ? null : JSON.stringify(r.lastError),
      r.startHash, encode(r.startReply), r.createdAt, r.updatedAt,
    ];
    const changed = expectedVersion === 0
      ? insertWorkflow.run(name, id, ...values).changes
      : updateWorkflow.run(...values, name, id, expectedVersion).changes;
    if (changed === 0) return false;
    insertTransition.run(name, id, version, t.at, t.status, t.step ?? null, t.execId, t.attempt, t.detail);
    return { version, payload: workflowFeedPayload(r.status, r.step ?? null, state) };
  }

  function dedupTaken(component: string, id: string, dedup: DedupRecord[]): boolean {
    for (const d of dedup) if (dedupExists.get(component, id, d.key) !== undefined) return true;
    // The same key twice in one write would overwrite itself.
    return dedup.length > 1 && new Set(dedup.map((d) => d.key)).size !== dedup.length;
  }

  const feedOfComponent = db.prepare(feedAndTimerSql.ofComponent);
  const timersOfStatus = db.prepare(feedAndTimerSql.timersOfStatus);
  const deleteParked = db.prepare("DELETE FROM parked WHERE consumer = ? AND position = ?");
  // Parking a position parked before replaces it (a message that failed again, say).
  const upsertParked = db.prepare(
    `INSERT INTO parked (${PARKED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (consumer, position) DO UPDATE SET
       component = excluded.component, id = excluded.id, seq = excluded.seq, type = excluded.type,
       payload = excluded.payload, at = excluded.at, error = excluded.error, attempts = excluded.attempts,
       parked_at = excluded.parked_at, blocked_by = excluded.blocked_by`,
  );
  const raiseOffset = db.prepare(
    `INSERT INTO offsets (consumer, position) VALUES (?, ?)
     ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)`,
  );

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

    feedAll: db.prepare(feedAndTimerSql.all),
    /**
     * The first `limit` entries after `after` of each component, merged: the first `limit` of
     * them all are among these. One read transaction, so that the ranges come from the same
     * state of the file: an entry committed between two reads could otherwise be passed over
     * by a reader whose offset moves past it.
     */
    feedOf: db.transaction((components: string[], after: number, limit: number): FeedRow[] => {
      if (components.length === 1) return feedOfComponent.all(components[0], after, limit) as FeedRow[];
      const rows: FeedRow[] = [];
      for (const c of components) rows.push(...(feedOfComponent.all(c, after, limit) as FeedRow[]));
      return rows.sort((a, b) => a.position - b.position).slice(0, limit);
    }),
    feedHead: db.prepare("SELECT max(position) FROM events").pluck(),

    loadOffset: db.prepare("SELECT position FROM offsets WHERE consumer = ?").pluck(),
    listOffsets: db.prepare("SELECT consumer, position FROM offsets ORDER BY consumer"),
    commitConsumer: db.transaction((consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[]) => {
      for (const position of remove) deleteParked.run(consumer, position);
      for (const p of park) {
        const e = p.entry;
        upsertParked.run(
          consumer, e.position, e.component, e.id, e.seq, e.type, encode(e.payload), e.at,
          JSON.stringify(p.error), p.attempts, p.parkedAt, p.blockedBy ?? null,
        );
      }
      raiseOffset.run(consumer, offset);
    }),
    listParkedAll: db.prepare(`SELECT ${PARKED_COLUMNS} FROM parked ORDER BY consumer, position LIMIT ?`),
    listParkedOf: db.prepare(`SELECT ${PARKED_COLUMNS} FROM parked WHERE consumer = ? ORDER BY position LIMIT ?`),
    removeParked: db.transaction((consumer: string, positions: readonly number[]) => {
      for (const position of positions) deleteParked.run(consumer, position);
    }),

    // One statement: a new name starts at generation 1, a known one goes on from its generation.
    putTimer: db.prepare(
      `INSERT INTO timers (${TIMER_COLUMNS}) VALUES (?, 1, ?, ?, ?, ?, ?, 0, 'pending', NULL, ?)
       ON CONFLICT (name) DO UPDATE SET
         generation = generation + 1, due_at = excluded.due_at, component = excluded.component,
         id = excluded.id, handler = excluded.handler, input = excluded.input, attempts = 0,
         status = 'pending', last_error = NULL, created_at = excluded.created_at
       RETURNING ${TIMER_COLUMNS}`,
    ),
    cancelTimer: db.prepare("DELETE FROM timers WHERE name = ?"),
    dueTimers: db.prepare(feedAndTimerSql.dueTimers),
    nextTimerDue: db.prepare(feedAndTimerSql.nextTimerDue).pluck(),
    finishTimers: ((finish: Database.Statement) =>
      db.transaction((fired: ReadonlyArray<{ name: string; generation: number }>) => {
        for (const { name, generation } of fired) finish.run(name, generation);
      }))(db.prepare("DELETE FROM timers WHERE name = ? AND generation = ?")),
    retryTimer: db.prepare(
      "UPDATE timers SET due_at = ?, attempts = ?, status = ?, last_error = ? WHERE name = ? AND generation = ?",
    ),
    timersOfStatus,
    /** Both statuses, merged by (due_at, name), from one state of the file. */
    allTimers: db.transaction((limit: number): TimerRow[] => {
      const rows = [
        ...(timersOfStatus.all("pending", limit) as TimerRow[]),
        ...(timersOfStatus.all("parked", limit) as TimerRow[]),
      ];
      return rows.sort((a, b) => a.due_at - b.due_at || compareBinary(a.name, b.name)).slice(0, limit);
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
 * A workflow's feed payload, `{ status, step, state }`, built around the state's JSON text
 * (already encoded for the record) rather than encoding the state twice. A state of `undefined`
 * is left out, as JSON.stringify would.
 */
function workflowFeedPayload(status: WorkflowStatus, step: string | null, state: string | null): string {
  const head = `{"status":${JSON.stringify(status)},"step":${JSON.stringify(step)}`;
  return state === null ? `${head}}` : `${head},"state":${state}}`;
}

function toFeedEntry(row: FeedRow): FeedEntry {
  return {
    position: row.position,
    component: row.component,
    id: row.id,
    seq: row.seq,
    type: row.type,
    payload: decode(row.payload),
    at: row.at,
  };
}

function toParked(row: ParkedRow): ParkedMessage {
  return {
    consumer: row.consumer,
    entry: toFeedEntry(row),
    error: JSON.parse(row.error) as ParkedMessage["error"],
    attempts: row.attempts,
    parkedAt: row.parked_at,
    blockedBy: row.blocked_by,
  };
}

function toTimer(row: TimerRow): TimerRecord {
  return {
    name: row.name,
    generation: row.generation,
    dueAt: row.due_at,
    component: row.component,
    id: row.id,
    handler: row.handler,
    input: decode(row.input),
    attempts: row.attempts,
    status: row.status as TimerRecord["status"],
    lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as TimerRecord["lastError"]),
    createdAt: row.created_at,
  };
}

/** A parked message is stored under the consumer it names; one naming another is a caller's bug. */
function checkParkedConsumer(consumer: string, park: readonly ParkedMessage[]): void {
  for (const p of park) {
    if (p.consumer !== consumer) {
      throw new Error(`commitConsumer: a parked message of consumer "${p.consumer}" given for consumer "${consumer}"`);
    }
  }
}

function checkDueAt(dueAt: number): void {
  if (typeof dueAt !== "number" || Number.isNaN(dueAt)) throw new TypeError(`a timer's dueAt must be a number, got ${String(dueAt)}`);
}

function checkTimerStatus(status: string): void {
  if (status !== "pending" && status !== "parked") throw new TypeError(`a timer's status is "pending" or "parked", got "${status}"`);
}

/** SQLite's BINARY collation on text: code point order (see compareText in the memory store). */
function compareBinary(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

function rank(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit;
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
