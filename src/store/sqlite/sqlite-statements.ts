/**
 * Every statement the SQLite store runs, prepared once the tables exist: the entity, key-value
 * and idempotency reads and the commit transaction here; the workflow, feed and timer parts from
 * their own files (./sqlite-workflows.ts, ./sqlite-feed.ts, ./sqlite-timers.ts).
 */
import type Database from "better-sqlite3";
import type {
  DedupRecord,
  EntityHistory,
  InstanceWrite,
  KvRecord,
  Snapshot,
  StoredEvent,
  StoredReply,
  WorkflowStateAt,
  WriteOutcome,
} from "../port.ts";
import { prepareFeed } from "./sqlite-feed.ts";
import { prepareRetention } from "./sqlite-retention.ts";
import { prepareTimers } from "./sqlite-timers.ts";
import { decode, encode, toEvent, toWorkflowState, type EventRow } from "../rows.ts";
import { prepareWorkflows } from "./sqlite-workflows.ts";

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

/** What a row of `events` is (migration 3): only kind 0 rows are an entity's history. */
const KIND_EVENT = 0;
const KIND_KV = 1;
const KIND_WORKFLOW = 2;

export type Statements = ReturnType<typeof prepareStatements>;

/** `db.transaction(fn)` with a return type declaration emit can name (the build emits .d.ts). */
function transaction<F extends (...args: never[]) => unknown>(db: Database.Database, fn: F): Database.Transaction<F> {
  return db.transaction(fn);
}

export function prepareStatements(db: Database.Database) {
  const workflows = prepareWorkflows(db);
  const writeWorkflow = workflows.write;
  // Entity reads and checks look at kind 0 rows only (see migration 3).
  const maxSeq = db.prepare(`SELECT max(seq) FROM events WHERE component = ? AND id = ? AND kind = ${KIND_EVENT}`).pluck();
  const kvVersion = db.prepare("SELECT version FROM kv WHERE component = ? AND id = ?").pluck();
  const dedupExists = db.prepare("SELECT 1 FROM dedup WHERE component = ? AND id = ? AND key = ?").pluck();
  // Entity events and the feed rows of key-value and workflow writes (by kind).
  const insertEvent = db.prepare(
    "INSERT INTO events (component, id, kind, seq, type, payload, at, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const upsertSnapshot = db.prepare(
    `INSERT INTO snapshots (component, id, seq, state, state_version) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (component, id) DO UPDATE SET seq = excluded.seq, state = excluded.state, state_version = excluded.state_version`,
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
  // A record kept only if its key is free (DedupRecord.ifAbsent), not checked beforehand.
  const insertDedupIfAbsent = db.prepare(
    "INSERT OR IGNORE INTO dedup (component, id, key, request_hash, reply, at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const loadSnapshot = db.prepare("SELECT seq, state, state_version FROM snapshots WHERE component = ? AND id = ?");
  const readEvents = db.prepare(
    `SELECT position, seq, type, payload, at FROM events
     WHERE component = ? AND id = ? AND kind = ${KIND_EVENT} AND seq > ? ORDER BY seq LIMIT ?`,
  );
  const eventsAfter = db.prepare(
    `SELECT position, seq, type, payload, at FROM events
     WHERE component = ? AND id = ? AND kind = ${KIND_EVENT} AND seq > ? ORDER BY seq`,
  );
  const loadKv = db.prepare("SELECT version, state, deleted FROM kv WHERE component = ? AND id = ?");
  const listKv = db.prepare("SELECT id, version, state, deleted FROM kv WHERE component = ? AND id > ? ORDER BY id LIMIT ?");
  const findDedup = db.prepare("SELECT key, request_hash, reply, at FROM dedup WHERE component = ? AND id = ? AND key = ?");
  // Admin reads (the console): an instance's idempotency keys by key; a workflow's states by version, from its feed rows.
  const listDedup = db.prepare("SELECT key, request_hash, reply, at FROM dedup WHERE component = ? AND id = ? AND key > ? ORDER BY key LIMIT ?");
  const workflowStates = db.prepare(
    `SELECT seq, at, payload FROM events WHERE component = ? AND id = ? AND kind = ${KIND_WORKFLOW} AND seq > ? ORDER BY seq LIMIT ?`,
  );
  const pruneDedup = db.prepare("DELETE FROM dedup WHERE at < ?");

  /**
   * The checks of a write that only read: its events' expected seq, its key-value version, its
   * idempotency keys unused. The workflow record's version is checked as it is written (writeWorkflow).
   */
  function passesReadChecks(w: InstanceWrite): boolean {
    const { component, id, events, kv, dedup } = w;
    if (events && ((maxSeq.get(component, id) as number | null) ?? 0) !== events.expectedSeq) return false;
    if (kv && ((kvVersion.get(component, id) as number | undefined) ?? 0) !== kv.expectedVersion) return false;
    return !(dedup.length > 0 && dedupTaken(component, id, dedup));
  }

  /** Writes the rows of a write whose checks passed, its workflow record already written; its feed positions. */
  function writeRows(w: InstanceWrite, at: number, workflowFeed: { version: number; payload: string } | undefined): number[] {
    const { component, id, events, kv, dedup } = w;
    // Feed rows in this order: the events, the key-value state, the workflow state.
    const positions: number[] = [];
    const trace = w.trace ?? null;
    if (events) {
      let seq = events.expectedSeq;
      for (const e of events.append) {
        const info = insertEvent.run(component, id, KIND_EVENT, ++seq, e.type, encode(e.payload), at, e.trace ?? trace);
        positions.push(Number(info.lastInsertRowid));
      }
      const snap = events.snapshot;
      if (snap) upsertSnapshot.run(component, id, snap.seq, encode(snap.state), snap.stateVersion);
    }
    if (kv) {
      const version = kv.expectedVersion + 1;
      const state = encode(kv.state);
      upsertKv.run(component, id, version, state, kv.deleted ? 1 : 0, at);
      const info = kv.deleted
        ? insertEvent.run(component, id, KIND_KV, version, "$deleted", "null", at, trace)
        : insertEvent.run(component, id, KIND_KV, version, "$state", state, at, trace);
      positions.push(Number(info.lastInsertRowid));
    }
    if (workflowFeed) {
      const info = insertEvent.run(component, id, KIND_WORKFLOW, workflowFeed.version, "$state", workflowFeed.payload, at, trace ?? w.workflow!.record.trace ?? null);
      positions.push(Number(info.lastInsertRowid));
    }
    for (const d of dedup) {
      (d.ifAbsent ? insertDedupIfAbsent : insertDedup).run(component, id, d.key, d.requestHash, encode(d.reply), d.at);
    }
    return positions;
  }

  /** Checks one write against the store as it is now (including earlier writes of the batch), then applies it. */
  function applyWrite(w: InstanceWrite, at: number): WriteOutcome {
    if (!passesReadChecks(w)) return conflict();
    // Last of the checks, because it also writes the record: nothing else is written before it.
    const workflowFeed = w.workflow && writeWorkflow(w.component, w.id, [w.workflow]);
    if (workflowFeed === false) return conflict();
    return { ok: true, positions: writeRows(w, at, workflowFeed?.[0]) };
  }

  // Called inside the batch's transaction, so a SAVEPOINT: a refusal rolls back the group's writes only.
  const inSavepoint = transaction(db, (w: InstanceWrite, at: number): WriteOutcome => {
    const positions: number[][] = [];
    for (const member of w.together ?? []) {
      const outcome = applyWrite(member, at);
      if (!outcome.ok) throw new RefusedTogether(outcome);
      positions.push(outcome.positions);
    }
    const outcome = applyWrite(w, at);
    if (!outcome.ok) throw new RefusedTogether(outcome);
    return { ...outcome, together: positions };
  });

  /**
   * A write and its `together` writes: all kept, or none and the first refusal. The usual group
   * (a step's call to one entity, and the workflow's transition) is checked in full before anything
   * is written, so it needs no SAVEPOINT: a savepoint copies every page the group then changes into
   * SQLite's sub-journal, which past 64 KiB spills to a temporary file (measured: ~100 more writes
   * to disk per transfer, and twice the CPU of the commit).
   */
  function applyTogether(w: InstanceWrite, at: number): WriteOutcome {
    const members = w.together ?? [];
    if (!checkableFirst(w, members)) {
      try {
        return inSavepoint(w, at);
      } catch (error) {
        if (error instanceof RefusedTogether) return error.outcome;
        throw error;
      }
    }
    for (const member of members) if (!passesReadChecks(member)) return conflict();
    if (!passesReadChecks(w)) return conflict();
    // The one check that writes, last: nothing of the group is written before it passes. An eager
    // start's versions are written as one (the row once, with the last record).
    const versions = w.workflow ? [...earlierVersions(w, members), w] : [];
    const feeds = new Map<InstanceWrite, { version: number; payload: string }>();
    if (versions.length > 0) {
      const written = writeWorkflow(w.component, w.id, versions.map((v) => v.workflow!));
      if (written === false) return conflict();
      versions.forEach((v, i) => feeds.set(v, written[i]!));
    }
    const together = members.map((member) => writeRows(member, at, feeds.get(member)));
    return { ok: true, positions: writeRows(w, at, feeds.get(w)), together };
  }

  function dedupTaken(component: string, id: string, dedup: DedupRecord[]): boolean {
    for (const d of dedup) if (!d.ifAbsent && dedupExists.get(component, id, d.key) !== undefined) return true;
    // The same key twice in one write would overwrite itself.
    return dedup.length > 1 && new Set(dedup.map((d) => d.key)).size !== dedup.length;
  }

  return {
    // One read transaction, so the snapshot and the events come from the same state of the file.
    loadHistory: transaction(db, (component: string, id: string): EntityHistory => {
      const row = loadSnapshot.get(component, id) as { seq: number; state: string | null; state_version: number } | undefined;
      const snapshot: Snapshot | undefined = row && { seq: row.seq, state: decode(row.state), stateVersion: row.state_version };
      const events = (eventsAfter.all(component, id, snapshot?.seq ?? 0) as EventRow[]).map(toEvent);
      return { snapshot, events };
    }),

    /** `limit` must be above 0: SQLite reads a negative LIMIT as "no limit". */
    readEvents(component: string, id: string, afterSeq: number, limit: number): StoredEvent[] {
      return (readEvents.all(component, id, afterSeq, limit) as EventRow[]).map(toEvent);
    },

    loadKv(component: string, id: string): KvRecord | undefined {
      const row = loadKv.get(component, id) as KvRow | undefined;
      return row && { version: row.version, state: decode(row.state), deleted: row.deleted !== 0 };
    },

    /** `limit` must be above 0 (see readEvents). */
    listKv(component: string, afterId: string, limit: number): Array<KvRecord & { id: string }> {
      const rows = listKv.all(component, afterId, limit) as Array<KvRow & { id: string }>;
      return rows.map((row) => ({ id: row.id, version: row.version, state: decode(row.state), deleted: row.deleted !== 0 }));
    },

    findDedup(component: string, id: string, key: string): DedupRecord | undefined {
      const row = findDedup.get(component, id, key) as DedupRow | undefined;
      return row && toDedup(row);
    },

    /** `limit` must be above 0 (see readEvents). */
    listDedup(component: string, id: string, afterKey: string, limit: number): DedupRecord[] {
      return (listDedup.all(component, id, afterKey, limit) as DedupRow[]).map(toDedup);
    },

    /** `limit` must be above 0 (see readEvents). */
    workflowStates(name: string, id: string, afterVersion: number, limit: number): WorkflowStateAt[] {
      return (workflowStates.all(name, id, afterVersion, limit) as Array<{ seq: number; at: number; payload: string | null }>).map(toWorkflowState);
    },

    pruneDedup(before: number): number {
      return pruneDedup.run(before).changes;
    },

    /** All writes of a batch; run with `.immediate(writes, at)`. */
    commit: transaction(db, (writes: InstanceWrite[], at: number): WriteOutcome[] => {
      const outcomes: WriteOutcome[] = [];
      for (const w of writes) outcomes.push(w.together ? applyTogether(w, at) : applyWrite(w, at));
      return outcomes;
    }),

    workflows,
    feed: prepareFeed(db),
    retention: prepareRetention(db),
    timers: prepareTimers(db),
  };
}

/**
 * Whether a group's checks can all run before any of its writes: only `w` writes a workflow
 * record (the check that writes), or an eager start's versions and then `w` (earlierVersions), and
 * no two other writes of the group are to the same instance (one's checks would have to see the
 * other's rows).
 */
function checkableFirst(w: InstanceWrite, members: readonly InstanceWrite[]): boolean {
  const chain = new Set(earlierVersions(w, members));
  const others = members.filter((m) => !chain.has(m));
  if (others.some((m) => m.workflow !== undefined)) return false;
  const seen = new Set<string>([`${w.component}\u0000${w.id}`]);
  for (const m of others) {
    const key = `${m.component}\u0000${m.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
  }
  return true;
}

/**
 * An eager start's group (WorkflowOptions.eagerStart): the members that write earlier versions of
 * `w`'s workflow record, in order, each expecting the one before it and `w` the last; they and
 * `w` write no events or state else. Empty when the group is not one.
 */
function earlierVersions(w: InstanceWrite, members: readonly InstanceWrite[]): InstanceWrite[] {
  const chain = members.filter((m) => m.workflow !== undefined && m.component === w.component && m.id === w.id);
  if (chain.length === 0 || !w.workflow || w.events !== undefined || w.kv !== undefined) return [];
  const versions = [...chain, w];
  const consecutive = versions.every((v, i) => i === 0 || v.workflow!.expectedVersion === versions[i - 1]!.workflow!.expectedVersion + 1);
  const plain = chain.every((v) => v.events === undefined && v.kv === undefined);
  return consecutive && plain ? chain : [];
}

/** Rolls a group of writes back to its savepoint (see applyTogether). */
class RefusedTogether extends Error {
  constructor(readonly outcome: WriteOutcome) {
    super("a write of the group was refused");
  }
}

function conflict(): WriteOutcome {
  return { ok: false, reason: "conflict" };
}

function toDedup(row: DedupRow): DedupRecord {
  return { key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at };
}
