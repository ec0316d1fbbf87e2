/**
 * The SQLite schema as forward-only migrations. The database's `PRAGMA user_version` holds the
 * number of the last migration applied; each migration runs in its own transaction together with
 * the version bump, so a failure leaves the file at the previous version with nothing half-done.
 *
 * Never edit a migration that has shipped: add a new one with the next version number.
 */
import type Database from "better-sqlite3";
import { timerBucket, workflowBucket } from "../buckets.ts";

export interface Migration {
  /** 1, 2, 3, … with no gaps, in order. */
  version: number;
  description: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: "events, snapshots, key-value state and idempotency records",
    sql: `
      -- AUTOINCREMENT so that a position is never reused, even after the newest events are gone:
      -- consumers keep positions as offsets.
      CREATE TABLE events (
        position  INTEGER PRIMARY KEY AUTOINCREMENT,
        component TEXT    NOT NULL,
        id        TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        type      TEXT    NOT NULL,
        payload   TEXT,
        at        INTEGER NOT NULL,
        UNIQUE (component, id, seq)
      ) STRICT;

      -- Only the latest snapshot of each instance is kept.
      CREATE TABLE snapshots (
        component TEXT    NOT NULL,
        id        TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        state     TEXT,
        PRIMARY KEY (component, id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE kv (
        component TEXT    NOT NULL,
        id        TEXT    NOT NULL,
        version   INTEGER NOT NULL,
        state     TEXT,
        deleted   INTEGER NOT NULL,
        at        INTEGER NOT NULL,
        PRIMARY KEY (component, id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE dedup (
        component    TEXT    NOT NULL,
        id           TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        request_hash TEXT    NOT NULL,
        reply        TEXT    NOT NULL,
        at           INTEGER NOT NULL,
        PRIMARY KEY (component, id, key)
      ) STRICT, WITHOUT ROWID;

      -- For pruning by age.
      CREATE INDEX dedup_at ON dedup (at);
    `,
  },
  {
    version: 2,
    description: "workflow records and their transition history",
    sql: `
      -- One row per workflow instance; \`version\` counts its commits (optimistic concurrency).
      -- step_input, state, last_error and start_reply are JSON text; NULL is "no value".
      CREATE TABLE workflows (
        name        TEXT    NOT NULL,
        id          TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        status      TEXT    NOT NULL,
        step        TEXT,
        step_input  TEXT,
        state       TEXT,
        attempt     INTEGER NOT NULL,
        exec_id     INTEGER NOT NULL,
        due_at      INTEGER,
        deadline_at INTEGER,
        last_error  TEXT,
        start_hash  TEXT    NOT NULL,
        start_reply TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (name, id)
      ) STRICT, WITHOUT ROWID;

      -- Serves the start-up scan for workflows to resume (status IN ('running', 'paused'), one
      -- range per status) and listing one workflow's instances by status (name = ? AND status IN …),
      -- both in id order within a name. Listing by name alone uses the primary key.
      CREATE INDEX workflows_status ON workflows (status, name, id);

      -- One line per record version: the transition that produced it.
      CREATE TABLE workflow_history (
        name    TEXT    NOT NULL,
        id      TEXT    NOT NULL,
        version INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        status  TEXT    NOT NULL,
        step    TEXT,
        exec_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        detail  TEXT    NOT NULL,
        PRIMARY KEY (name, id, version)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    description: "change feed (key-value and workflow states in events), consumer offsets, parked messages, timers",
    sql: `
      -- The events table becomes the change feed: besides entity events (kind 0) it holds a row
      -- for every key-value write (kind 1, seq = the new version) and every workflow write
      -- (kind 2, seq = the new record version), all ordered by position. \`kind\` is part of the
      -- unique key, so a key-value entity or workflow can never collide with, or show up in the
      -- history of, an event-sourced entity of the same (component, id). SQLite cannot change a
      -- table's constraints in place: the table is rebuilt, positions kept as they are.
      CREATE TABLE events_v3 (
        position  INTEGER PRIMARY KEY AUTOINCREMENT,
        component TEXT    NOT NULL,
        id        TEXT    NOT NULL,
        kind      INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
        seq       INTEGER NOT NULL,
        type      TEXT    NOT NULL,
        payload   TEXT,
        at        INTEGER NOT NULL,
        UNIQUE (component, id, kind, seq)
      ) STRICT;
      INSERT INTO events_v3 (position, component, id, kind, seq, type, payload, at)
        SELECT position, component, id, 0, seq, type, payload, at FROM events ORDER BY position;
      -- Carry over the AUTOINCREMENT high-water mark: a position handed out once (even if its row
      -- is gone) is never handed out again. RENAME below renames this sqlite_sequence row too.
      DELETE FROM sqlite_sequence WHERE name = 'events_v3';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'events_v3', seq FROM sqlite_sequence WHERE name = 'events';
      DROP TABLE events;
      ALTER TABLE events_v3 RENAME TO events;

      -- Key-value entities and workflows stored before this version get one feed entry each, for
      -- their current state (as a commit would write it), so that a consumer or view reading the
      -- feed from the start sees every instance, not only those written after the upgrade.
      INSERT INTO events (component, id, kind, seq, type, payload, at)
        SELECT component, id, 1, version,
               CASE deleted WHEN 0 THEN '$state' ELSE '$deleted' END,
               CASE deleted WHEN 0 THEN state ELSE 'null' END,
               at
        FROM kv ORDER BY at, component, id;
      INSERT INTO events (component, id, kind, seq, type, payload, at)
        SELECT name, id, 2, version, '$state',
               '{"status":' || json_quote(status) || ',"step":' || json_quote(step) ||
                 coalesce(',"state":' || state, '') || '}',
               updated_at
        FROM workflows ORDER BY updated_at, name, id;

      -- Reading the feed of some components from an offset (consumers, views): one range each.
      CREATE INDEX events_feed ON events (component, position);

      -- Every feed entry at or below \`position\` is handled or parked by the consumer.
      CREATE TABLE offsets (
        consumer TEXT    NOT NULL PRIMARY KEY,
        position INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- A copy of the feed entry, so that it stays visible and retryable whatever happens to the
      -- feed. error is JSON text ({ code, message }); blocked_by is NULL for the message that
      -- failed, else the position of the parked message it is held behind.
      CREATE TABLE parked (
        consumer   TEXT    NOT NULL,
        position   INTEGER NOT NULL,
        component  TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        seq        INTEGER NOT NULL,
        type       TEXT    NOT NULL,
        payload    TEXT,
        at         INTEGER NOT NULL,
        error      TEXT    NOT NULL,
        attempts   INTEGER NOT NULL,
        parked_at  INTEGER NOT NULL,
        blocked_by INTEGER,
        PRIMARY KEY (consumer, position)
      ) STRICT, WITHOUT ROWID;

      -- due_at is REAL: it is now + a delay the user chose, which may have a fraction of a ms.
      -- input and last_error are JSON text; NULL is "no value".
      CREATE TABLE timers (
        name       TEXT    NOT NULL PRIMARY KEY,
        generation INTEGER NOT NULL,
        due_at     REAL    NOT NULL,
        component  TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        handler    TEXT    NOT NULL,
        input      TEXT,
        attempts   INTEGER NOT NULL,
        status     TEXT    NOT NULL CHECK (status IN ('pending', 'parked')),
        last_error TEXT,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Due pending timers, earliest first, and the next due time. The primary key (name) ends
      -- every entry of the index, so (due_at, name) order needs no sort.
      CREATE INDEX timers_due ON timers (status, due_at);
    `,
  },
  {
    version: 4,
    description: "views: one row per view with its active and building generations",
    sql: `
      -- The tables of each generation (view_{view}__{table}__g{n}) are created when it is built.
      CREATE TABLE views (
        name                TEXT    PRIMARY KEY,
        active_generation   INTEGER,
        active_version      INTEGER,
        active_offset       INTEGER,
        building_generation INTEGER,
        building_version    INTEGER,
        building_offset     INTEGER,
        last_generation     INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    description: "views_parked: feed entries a view could not apply, kept for an operator to retry or skip",
    sql: `
      -- error is JSON text ({code, message}); generation is the view generation that failed.
      CREATE TABLE views_parked (
        view       TEXT    NOT NULL,
        position   INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        component  TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        type       TEXT    NOT NULL,
        error      TEXT    NOT NULL,
        attempts   INTEGER NOT NULL,
        parked_at  INTEGER NOT NULL,
        PRIMARY KEY (view, position)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    description: "indexes for the sweep of due workflows",
    sql: `
      -- The engine's periodic look for workflows whose due time or deadline has passed (in case
      -- a wake-up in process was lost): one range per status and column.
      CREATE INDEX workflows_due ON workflows (status, due_at);
      CREATE INDEX workflows_deadline ON workflows (status, deadline_at);
    `,
  },
  {
    version: 7,
    description: "retention: tombstones of removed workflows, marks, indexes for pruning",
    sql: `
      -- What is left of a workflow instance retention removed: the admin API says "removed" rather
      -- than "never existed". Tombstones go too, after their own (longer) period.
      CREATE TABLE removed_workflows (
        name       TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        status     TEXT    NOT NULL,
        ended_at   INTEGER NOT NULL,
        removed_at INTEGER NOT NULL,
        PRIMARY KEY (name, id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX removed_workflows_at ON removed_workflows (removed_at);

      -- Marks retention keeps: 'feed_pruned_through' is the highest feed position it removed.
      CREATE TABLE retention_marks (
        name  TEXT    NOT NULL PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Ended and terminated instances of one workflow, oldest first.
      CREATE INDEX workflows_finished ON workflows (name, status, updated_at);
      -- Feed entries of key-value entities and workflows (not entity events), in position order.
      CREATE INDEX events_states ON events (position, at) WHERE kind > 0;
    `,
  },
  {
    version: 8,
    description: "workflow buckets: a node reads only the workflows of the buckets it holds",
    sql: `
      -- The bucket of each instance (src/store/buckets.ts), set when its row is inserted; rows
      -- stored before get theirs here, by the function applyMigrations registers.
      ALTER TABLE workflows ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
      UPDATE workflows SET bucket = sagaflow_workflow_bucket(name, id);
      -- Taking a bucket over, the sweep and the next wake-up read one range per bucket, status
      -- and column (running with no due time is a range too: NULLs first).
      DROP INDEX workflows_due;
      DROP INDEX workflows_deadline;
      CREATE INDEX workflows_due ON workflows (bucket, status, due_at);
      CREATE INDEX workflows_deadline ON workflows (bucket, status, deadline_at);
    `,
  },
  {
    version: 9,
    description: "the deadline and finished-workflow indexes hold only the rows their queries can select",
    sql: `
      -- Every workflow write updates the row's entries in every index on the table: partial
      -- indexes leave out the many rows no query of theirs can select (a running step has no
      -- deadline; a workflow is finished once), so most writes skip them. Same columns, so the
      -- queries' plans are unchanged: \`deadline_at <= ?\` implies \`deadline_at IS NOT NULL\`, and
      -- the retention query names the statuses literally (see ./sqlite-retention.ts). The due
      -- index stays whole: the sweep reads running workflows with no due time through it.
      DROP INDEX workflows_deadline;
      DROP INDEX workflows_finished;
      CREATE INDEX workflows_deadline ON workflows (bucket, status, deadline_at) WHERE deadline_at IS NOT NULL;
      CREATE INDEX workflows_finished ON workflows (name, status, updated_at) WHERE status IN ('ended', 'terminated');
    `,
  },
  {
    version: 10,
    description: "timer buckets: a node fires only the timers of the buckets it holds",
    sql: `
      -- The bucket of each timer (src/store/buckets.ts: a hash of its name), set when its row is
      -- inserted; rows stored before get theirs here, by the function applyMigrations registers.
      -- Kept so that a move to PostgreSQL copies it. No index of its own: a SQLite store serves
      -- one node, which holds every bucket, so the due queries read timers_due in order and the
      -- bucket is a filter every row passes.
      ALTER TABLE timers ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
      UPDATE timers SET bucket = sagaflow_timer_bucket(name);
    `,
  },
  {
    version: 11,
    description: "trace contexts: with feed entries, workflows and timers",
    sql: `
      -- The W3C traceparent of the command that wrote the row, NULL when nothing was traced: a
      -- workflow's steps join the trace of its start, after a restart too; a consumer's delivery
      -- and a timer's firing link to the span of the work that produced them.
      ALTER TABLE events ADD COLUMN trace TEXT;
      ALTER TABLE workflows ADD COLUMN trace TEXT;
      ALTER TABLE timers ADD COLUMN trace TEXT;
    `,
  },
  {
    version: 12,
    description: "the due index holds only running and paused workflows",
    sql: `
      -- Every query of workflows_due names status 'running' or 'paused' (the only ones with
      -- anything due), yet each ended workflow kept an entry, at a random place (its bucket), so
      -- a commit of many transfers wrote as many of its pages. Partial, the index holds the
      -- workflows in flight: a few pages, written over and over. The OR form lets a query's
      -- \`status = 'running'\` select it (SQLite matches a partial index by terms, not algebra).
      DROP INDEX workflows_due;
      CREATE INDEX workflows_due ON workflows (bucket, status, due_at) WHERE status = 'running' OR status = 'paused';
    `,
  },
  {
    version: 13,
    description: "the unique key of the feed holds entity events and workflow states, not key-value states",
    sql: `
      -- UNIQUE (component, id, kind, seq) put every feed row of a key-value write into an index
      -- keyed by instance: over many ids, one more page written at a random place per write (of
      -- about three), read by nothing (the kv table's version is the check; its feed rows are read
      -- by position). A partial unique index keeps the key for entity events (kind 0: their
      -- concurrency check and history) and workflow states (kind 2: a workflow's states, retention).
      -- The OR form lets a query's \`kind = 0\` or \`kind = 2\` select it (SQLite matches a partial index
      -- by terms). SQLite cannot drop a table's constraint: the table is rebuilt as in version 3,
      -- positions, the AUTOINCREMENT mark and the other indexes kept.
      CREATE TABLE events_v13 (
        position  INTEGER PRIMARY KEY AUTOINCREMENT,
        component TEXT    NOT NULL,
        id        TEXT    NOT NULL,
        kind      INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
        seq       INTEGER NOT NULL,
        type      TEXT    NOT NULL,
        payload   TEXT,
        at        INTEGER NOT NULL,
        trace     TEXT
      ) STRICT;
      INSERT INTO events_v13 (position, component, id, kind, seq, type, payload, at, trace)
        SELECT position, component, id, kind, seq, type, payload, at, trace FROM events ORDER BY position;
      DELETE FROM sqlite_sequence WHERE name = 'events_v13';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'events_v13', seq FROM sqlite_sequence WHERE name = 'events';
      DROP TABLE events;
      ALTER TABLE events_v13 RENAME TO events;
      CREATE UNIQUE INDEX events_key ON events (component, id, kind, seq) WHERE kind = 0 OR kind = 2;
      CREATE INDEX events_feed ON events (component, position);
      CREATE INDEX events_states ON events (position, at) WHERE kind > 0;
    `,
  },
  {
    version: 14,
    description: "a timer's call key, when the code that started it has one (a step's execution, a consumer's message)",
    sql: `
      -- NULL: the timer's own key (timer:{name}:{created_at}:{generation}), as before.
      ALTER TABLE timers ADD COLUMN call_key TEXT;
    `,
  },
  {
    version: 15,
    description: "a snapshot's state version (the entity's stateVersion when it was taken)",
    sql: `
      -- 0: taken by code that had no stateVersion, which is the version 0 of every entity.
      ALTER TABLE snapshots ADD COLUMN state_version INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

export const LATEST_SCHEMA_VERSION: number = migrations.length;

export function schemaVersionOf(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/**
 * Applies the migrations above the database's version, each in an IMMEDIATE transaction (so two
 * processes starting together cannot both apply the same one). Refuses a database written by a
 * newer Sagaflow rather than guess at its schema.
 */
export function applyMigrations(db: Database.Database, list: readonly Migration[] = migrations): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration list is out of order: entry ${i} has version ${m.version}, expected ${i + 1}`);
    }
  });
  // Migrations that fill a bucket column compute it as the runtime does.
  db.function("sagaflow_workflow_bucket", { deterministic: true }, (name, id) => workflowBucket(String(name), String(id)));
  db.function("sagaflow_timer_bucket", { deterministic: true }, (name) => timerBucket(String(name)));
  const current = schemaVersionOf(db);
  if (current > list.length) {
    throw new Error(
      `database schema is at version ${current}, newer than this Sagaflow knows (${list.length}); upgrade Sagaflow`,
    );
  }
  for (const m of list.slice(current)) {
    db.transaction(() => {
      // Re-read inside the transaction: another process may have applied it meanwhile.
      if (schemaVersionOf(db) >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
