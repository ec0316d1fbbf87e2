/**
 * The SQLite schema as forward-only migrations. The database's `PRAGMA user_version` holds the
 * number of the last migration applied; each migration runs in its own transaction together with
 * the version bump, so a failure leaves the file at the previous version with nothing half-done.
 *
 * Never edit a migration that has shipped: add a new one with the next version number.
 */
import type Database from "better-sqlite3";

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
