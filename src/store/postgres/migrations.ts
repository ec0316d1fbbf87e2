/**
 * The PostgreSQL schema as forward-only migrations. All tables live in one PostgreSQL schema (the
 * store's `schema` option), so that several Sagaflow deployments, or test runs, can share one
 * database without seeing each other's data. The table `schema_migrations` in that schema holds
 * one row per migration applied.
 *
 * The layout is the SQLite adapter's (./../sqlite/migrations.ts) in its latest form, with
 * PostgreSQL types: every text key that is compared or ordered (component, id, workflow name,
 * consumer, timer name, dedup key) has COLLATE "C", so that ordering is by code point (UTF-8 byte
 * order), as SQLite's BINARY collation and the memory store order. JSON values are kept as TEXT,
 * byte for byte as JSON.stringify wrote them (no jsonb normalisation; "\u0000" escapes, which
 * jsonb refuses, are fine); SQL NULL stands for "no value" (`undefined`).
 *
 * Never edit a migration that has shipped: add a new one with the next version number.
 */
import type { PoolClient } from "pg";

/**
 * A session-temporary copy of src/store/buckets.ts's hash, for migrations that fill a bucket
 * column: FNV-1a over the UTF-16 code units of the parts joined by a 0 (PostgreSQL text cannot
 * hold one, so the 0 is hashed between parts), as JavaScript's charCodeAt sees them (a character
 * beyond the BMP is two surrogates), modulo 16. Dropped by the migration that creates it.
 */
const createBucketFunction = `CREATE FUNCTION pg_temp.sagaflow_bucket(parts text[]) RETURNS int AS $fn$
      DECLARE
        h bigint := 2166136261;
        c int;
        part text;
        first boolean := true;
      BEGIN
        FOREACH part IN ARRAY parts LOOP
          IF NOT first THEN
            h := (h * 16777619) % 4294967296; -- the 0 between two parts: h # 0 = h
          END IF;
          first := false;
          FOR i IN 1..length(part) LOOP
            c := ascii(substr(part, i, 1));
            IF c > 65535 THEN
              h := ((h # (55296 + ((c - 65536) >> 10))) * 16777619) % 4294967296;
              h := ((h # (56320 + ((c - 65536) & 1023))) * 16777619) % 4294967296;
            ELSE
              h := ((h # c) * 16777619) % 4294967296;
            END IF;
          END LOOP;
        END LOOP;
        RETURN (h % 16)::int;
      END
      $fn$ LANGUAGE plpgsql IMMUTABLE;`;

export interface Migration {
  /** 1, 2, 3, … with no gaps, in order. */
  version: number;
  description: string;
  /** Runs with `search_path` set to the store's schema: table names are not qualified. */
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: "change feed and entity events, snapshots, key-value state, idempotency records, workflows, consumers, timers",
    sql: `
      -- The change feed and the entities' events in one table, ordered by position: entity events
      -- (kind 0), a row for every key-value write (kind 1, seq = the new version) and every
      -- workflow write (kind 2, seq = the new record version). \`kind\` is part of the unique key,
      -- so a key-value entity or workflow never collides with, or shows up in the history of, an
      -- event-sourced entity of the same (component, id). A sequence never hands a value out twice,
      -- even after a rollback: consumers keep positions as offsets. Positions may have gaps.
      CREATE TABLE events (
        position  BIGSERIAL PRIMARY KEY,
        component TEXT COLLATE "C" NOT NULL,
        id        TEXT COLLATE "C" NOT NULL,
        kind      SMALLINT NOT NULL CHECK (kind IN (0, 1, 2)),
        seq       BIGINT   NOT NULL,
        type      TEXT     NOT NULL,
        payload   TEXT,
        at        BIGINT   NOT NULL,
        UNIQUE (component, id, kind, seq)
      );
      -- Reading the feed of some components from an offset (consumers, views): one range each.
      CREATE INDEX events_feed ON events (component, position);

      -- Only the latest snapshot of each instance is kept.
      CREATE TABLE snapshots (
        component TEXT COLLATE "C" NOT NULL,
        id        TEXT COLLATE "C" NOT NULL,
        seq       BIGINT NOT NULL,
        state     TEXT,
        PRIMARY KEY (component, id)
      );

      CREATE TABLE kv (
        component TEXT COLLATE "C" NOT NULL,
        id        TEXT COLLATE "C" NOT NULL,
        version   BIGINT  NOT NULL,
        state     TEXT,
        deleted   BOOLEAN NOT NULL,
        at        BIGINT  NOT NULL,
        PRIMARY KEY (component, id)
      );

      CREATE TABLE dedup (
        component    TEXT COLLATE "C" NOT NULL,
        id           TEXT COLLATE "C" NOT NULL,
        key          TEXT COLLATE "C" NOT NULL,
        request_hash TEXT   NOT NULL,
        reply        TEXT   NOT NULL,
        at           BIGINT NOT NULL,
        PRIMARY KEY (component, id, key)
      );
      -- For pruning by age.
      CREATE INDEX dedup_at ON dedup (at);

      -- One row per workflow instance; \`version\` counts its commits (optimistic concurrency).
      -- step_input, state, last_error and start_reply are JSON text; NULL is "no value".
      CREATE TABLE workflows (
        name        TEXT COLLATE "C" NOT NULL,
        id          TEXT COLLATE "C" NOT NULL,
        version     BIGINT NOT NULL,
        status      TEXT COLLATE "C" NOT NULL,
        step        TEXT,
        step_input  TEXT,
        state       TEXT,
        attempt     BIGINT NOT NULL,
        exec_id     BIGINT NOT NULL,
        due_at      BIGINT,
        deadline_at BIGINT,
        last_error  TEXT,
        start_hash  TEXT   NOT NULL,
        start_reply TEXT,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        PRIMARY KEY (name, id)
      );
      -- The start-up scan for workflows to resume (status IN ('running', 'paused')) and listing
      -- one workflow's instances by status, both in id order within a name.
      CREATE INDEX workflows_status ON workflows (status, name, id);

      -- One line per record version: the transition that produced it.
      CREATE TABLE workflow_history (
        name    TEXT COLLATE "C" NOT NULL,
        id      TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        at      BIGINT NOT NULL,
        status  TEXT   NOT NULL,
        step    TEXT,
        exec_id BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        detail  TEXT   NOT NULL,
        PRIMARY KEY (name, id, version)
      );

      -- Every feed entry at or below \`position\` is handled or parked by the consumer.
      CREATE TABLE offsets (
        consumer TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        position BIGINT NOT NULL
      );

      -- A copy of the feed entry, so that it stays visible and retryable whatever happens to the
      -- feed. error is JSON text ({ code, message }); blocked_by is NULL for the message that
      -- failed, else the position of the parked message it is held behind.
      CREATE TABLE parked (
        consumer   TEXT COLLATE "C" NOT NULL,
        position   BIGINT NOT NULL,
        component  TEXT   NOT NULL,
        id         TEXT   NOT NULL,
        seq        BIGINT NOT NULL,
        type       TEXT   NOT NULL,
        payload    TEXT,
        at         BIGINT NOT NULL,
        error      TEXT   NOT NULL,
        attempts   BIGINT NOT NULL,
        parked_at  BIGINT NOT NULL,
        blocked_by BIGINT,
        PRIMARY KEY (consumer, position)
      );

      -- due_at is DOUBLE PRECISION: it is now + a delay the user chose, which may have a fraction
      -- of a ms. input and last_error are JSON text; NULL is "no value".
      CREATE TABLE timers (
        name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        generation BIGINT NOT NULL,
        due_at     DOUBLE PRECISION NOT NULL,
        component  TEXT   NOT NULL,
        id         TEXT   NOT NULL,
        handler    TEXT   NOT NULL,
        input      TEXT,
        attempts   BIGINT NOT NULL,
        status     TEXT   NOT NULL CHECK (status IN ('pending', 'parked')),
        last_error TEXT,
        created_at BIGINT NOT NULL
      );
      -- Due pending timers, earliest first (equal due times in name order), and the next due time.
      CREATE INDEX timers_due ON timers (status, due_at, name);
    `,
  },
  {
    version: 2,
    description: "nodes and leases: several nodes share workflows, timers, consumers and views",
    sql: `
      -- One row per live node, heartbeat in the database's clock (epoch ms), so nodes' clocks
      -- never have to agree.
      CREATE TABLE nodes (
        id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        started_at   BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        info         TEXT   NOT NULL
      );

      -- A lease: who holds a share of the work until when. \`token\` grows by one at each change
      -- of holder: the fencing token every fenced write checks in its own transaction.
      CREATE TABLE leases (
        name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        holder     TEXT COLLATE "C",
        token      BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 3,
    description: "views: one row per view with its active and building generations",
    sql: `
      -- As SQLite's views table. The tables of each generation (view_{view}__{table}__g{n}) are
      -- created in this schema when it is built (src/store/postgres/postgres-views.ts).
      CREATE TABLE views (
        name                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        active_generation   INTEGER,
        active_version      INTEGER,
        active_offset       BIGINT,
        building_generation INTEGER,
        building_version    INTEGER,
        building_offset     BIGINT,
        last_generation     INTEGER NOT NULL
      );
    `,
  },
  {
    version: 4,
    description: "views_parked: feed entries a view could not apply, kept for an operator to retry or skip",
    sql: `
      -- error is JSON text ({code, message}); generation is the view generation that failed.
      CREATE TABLE views_parked (
        view       TEXT COLLATE "C" NOT NULL,
        position   BIGINT  NOT NULL,
        generation INTEGER NOT NULL,
        component  TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        type       TEXT    NOT NULL,
        error      TEXT    NOT NULL,
        attempts   INTEGER NOT NULL,
        parked_at  BIGINT  NOT NULL,
        PRIMARY KEY (view, position)
      );
    `,
  },
  {
    version: 5,
    description: "indexes for the sweep of due workflows",
    sql: `
      -- As SQLite's: the engine's periodic look for workflows past their due time or deadline.
      CREATE INDEX workflows_due ON workflows (status, due_at);
      CREATE INDEX workflows_deadline ON workflows (status, deadline_at);
    `,
  },
  {
    version: 6,
    description: "retention: tombstones of removed workflows, marks, indexes for pruning",
    sql: `
      -- As SQLite's (version 7): tombstones, marks and the indexes retention reads.
      CREATE TABLE removed_workflows (
        name       TEXT COLLATE "C" NOT NULL,
        id         TEXT COLLATE "C" NOT NULL,
        status     TEXT   NOT NULL,
        ended_at   BIGINT NOT NULL,
        removed_at BIGINT NOT NULL,
        PRIMARY KEY (name, id)
      );
      CREATE INDEX removed_workflows_at ON removed_workflows (removed_at);
      CREATE TABLE retention_marks (
        name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
      );
      CREATE INDEX workflows_finished ON workflows (name, status, updated_at);
      CREATE INDEX events_states ON events (position, at) WHERE kind > 0;
      -- Paging through old idempotency records in (at, component, id, key) order.
      CREATE INDEX dedup_at_key ON dedup (at, component, id, key);
    `,
  },
  {
    version: 7,
    description: "workflow buckets: a node reads only the workflows of the buckets it holds",
    sql: `
      -- As SQLite's (version 8): the bucket of each instance (src/store/buckets.ts), set when its
      -- row is inserted. Rows stored before get theirs from the same hash, FNV-1a over the UTF-16
      -- code units of name, a 0, and id (createBucketFunction).
      ${createBucketFunction}
      ALTER TABLE workflows ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
      UPDATE workflows SET bucket = pg_temp.sagaflow_bucket(ARRAY[name, id]);
      DROP FUNCTION pg_temp.sagaflow_bucket(text[]);
      DROP INDEX workflows_due;
      DROP INDEX workflows_deadline;
      CREATE INDEX workflows_due ON workflows (bucket, status, due_at);
      CREATE INDEX workflows_deadline ON workflows (bucket, status, deadline_at);
    `,
  },
  {
    version: 8,
    description: "timer buckets: a node fires only the timers of the buckets it holds",
    sql: `
      -- As SQLite's (version 10): the bucket of each timer (src/store/buckets.ts), set when its row
      -- is inserted. Rows stored before get theirs from the same hash of the name (createBucketFunction).
      ${createBucketFunction}
      ALTER TABLE timers ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
      UPDATE timers SET bucket = pg_temp.sagaflow_bucket(ARRAY[name]);
      DROP FUNCTION pg_temp.sagaflow_bucket(text[]);
      -- A node's due timers and next due time: one range per held bucket, in (due_at, name)
      -- order. timers_due stays for listing timers by status across buckets.
      CREATE INDEX timers_bucket_due ON timers (bucket, status, due_at, name);
      -- The one lease all timers had: its row would be listed as unheld for ever.
      DELETE FROM leases WHERE name = 'timers';
    `,
  },
  {
    version: 9,
    description: "trace contexts: with feed entries, workflows and timers",
    sql: `
      -- As SQLite's (version 11): the W3C traceparent of the command that wrote the row, NULL when
      -- nothing was traced. Nullable without a default: adding the columns rewrites no table.
      ALTER TABLE events ADD COLUMN trace TEXT;
      ALTER TABLE workflows ADD COLUMN trace TEXT;
      ALTER TABLE timers ADD COLUMN trace TEXT;
    `,
  },
  {
    version: 10,
    description: "the due, deadline and finished-workflow indexes hold only the rows their queries can select",
    sql: `
      -- As SQLite's (versions 9 and 12). A workflow update that changes an indexed column adds an
      -- entry to every index whose predicate the new row meets: partial, these leave out the rows
      -- none of their queries can select (ended workflows have nothing due, most have no
      -- deadline, a running one is not finished), so most writes skip them. Each query names its
      -- status or compares the column literally, which implies the predicate.
      DROP INDEX workflows_due;
      DROP INDEX workflows_deadline;
      DROP INDEX workflows_finished;
      CREATE INDEX workflows_due ON workflows (bucket, status, due_at) WHERE status IN ('running', 'paused');
      CREATE INDEX workflows_deadline ON workflows (bucket, status, deadline_at) WHERE deadline_at IS NOT NULL;
      CREATE INDEX workflows_finished ON workflows (name, status, updated_at) WHERE status IN ('ended', 'terminated');
    `,
  },
  {
    version: 11,
    description: "a timer's call key, when the code that started it has one (a step's execution, a consumer's message)",
    sql: `
      -- NULL: the timer's own key (timer:{name}:{created_at}:{generation}), as before.
      ALTER TABLE timers ADD COLUMN call_key TEXT;
    `,
  },
  {
    version: 12,
    description: "a snapshot's state version (the entity's stateVersion when it was taken)",
    sql: `
      -- As SQLite's (version 15). A constant default: adding the column rewrites no table.
      ALTER TABLE snapshots ADD COLUMN state_version INT4 NOT NULL DEFAULT 0;
    `,
  },
];

export const LATEST_SCHEMA_VERSION: number = migrations.length;

/** `pg_advisory_xact_lock(MIGRATION_LOCK_CLASS, hashtext(schema))` serialises migrations of one schema. */
const MIGRATION_LOCK_CLASS = 0x53464d01;

/** A schema name as an SQL identifier. Names are checked by `checkSchemaName`, quoted all the same. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Schema names: letters, digits and underscores, not starting with a digit, at most 63 characters
 * (PostgreSQL cuts longer identifiers silently, which would make two names one schema).
 */
export function checkSchemaName(schema: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new TypeError(
      `PostgresStore: schema "${schema}" is not a plain identifier (letters, digits and _, not starting with a digit, at most 63)`,
    );
  }
}

/** The number of the last migration applied to `schema`; 0 when the schema or its tables do not exist. */
export async function schemaVersionOf(client: Pick<PoolClient, "query">, schema: string): Promise<number> {
  const table = `${quoteIdent(schema)}.schema_migrations`;
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [table]);
  if (exists.rows[0]?.t == null) return 0;
  const result = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${table}`);
  return result.rows[0]?.v ?? 0;
}

/**
 * Applies the migrations above the schema's version, all in one transaction that first takes a
 * transaction-scoped advisory lock on the schema's name: several nodes starting at once queue up
 * on the lock, and each one after the first finds the work done. PostgreSQL's DDL is
 * transactional, so a failure leaves the schema as it was. Refuses a schema written by a newer
 * Sagaflow rather than guess at it.
 */
export async function applyMigrations(client: PoolClient, schema: string, list: readonly Migration[] = migrations): Promise<void> {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration list is out of order: entry ${i} has version ${m.version}, expected ${i + 1}`);
    }
  });
  const quoted = quoteIdent(schema);
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK_CLASS, schema]);
    // Read after the lock (a new statement, a new snapshot): whoever held it before has committed.
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(`SET LOCAL search_path TO ${quoted}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
    const current = (await client.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations")).rows[0]?.v ?? 0;
    if (current > list.length) {
      throw new Error(
        `PostgreSQL schema "${schema}" is at version ${current}, newer than this Sagaflow knows (${list.length}); upgrade Sagaflow`,
      );
    }
    for (const m of list.slice(current)) {
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)", [m.version, m.description]);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}
