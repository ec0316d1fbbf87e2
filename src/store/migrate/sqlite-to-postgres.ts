import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { lockDatabase } from "../sqlite/data-lock.ts";
import { markMigrated, refuseIfMigrated } from "../sqlite/migrated-marker.ts";
import { applyMigrations as applySqliteMigrations } from "../sqlite/migrations.ts";
import { applyMigrations as applyPostgresMigrations, checkSchemaName, quoteIdent } from "../postgres/migrations.ts";
import { copyTable, type ColumnPair, type TableCopy } from "./copy-table.ts";

export interface SqliteToPostgresOptions {
  /** The stopped service's data folder (holding sagaflow.db). */
  dataDir: string;
  connectionString: string;
  /** The target schema (default "sagaflow"); created if missing, refused if any of its tables holds a row. */
  schema?: string;
  /** Rows per INSERT. Default 5,000. */
  batchRows?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface MigrationReport {
  schema: string;
  /** Rows copied per table (equal in both databases: verified before the commit). */
  tables: Array<{ table: string; rows: number }>;
  /** The feed's highest position, and the value PostgreSQL's position sequence continues after. */
  feedHead: number;
  nextPositionAfter: number;
  /** Views whose tables were not copied: they rebuild from the feed when the service starts on PostgreSQL. */
  viewsToRebuild: string[];
  durationMs: number;
}

/** Tables of the views (state kept per view generation): rebuilt on PostgreSQL rather than copied. */
const isViewTable = (name: string) => name === "views" || name === "views_parked" || name.startsWith("view_");

/**
 * Copies a stopped SQLite service's whole store into a PostgreSQL schema, for the same service
 * to go on there: entities' events and snapshots, key-value state, idempotency records,
 * workflows and their history (due times and deadlines kept), timers, consumer offsets and
 * parked messages, every feed entry at its own position. PostgreSQL's position sequence is set
 * past the highest position SQLite ever handed out, so a consumer's offset means the same thing
 * on both sides: nothing is delivered again, nothing skipped. View tables are not copied (their
 * layout comes from the service's code, which this does not load): each view rebuilds from the
 * feed on the first start on PostgreSQL.
 *
 * The tables are mapped by name and column (every table both schemas have, every column both
 * tables have), so a migration added to both adapters is carried over without a change here; a
 * SQLite table PostgreSQL lacks that holds rows, or a PostgreSQL column SQLite cannot fill, stops
 * the migration before anything is written.
 *
 * Safety: the data folder's lock is taken (a live service refuses the migration), a schema with a
 * row in any table is refused, the copy runs in one transaction with the tables locked, and the
 * row counts of every table are compared before it commits; any failure rolls everything back.
 */
export async function migrateSqliteToPostgres(options: SqliteToPostgresOptions): Promise<MigrationReport> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const schema = options.schema ?? "sagaflow";
  checkSchemaName(schema);
  const dbPath = resolve(join(options.dataDir, "sagaflow.db"));
  if (!existsSync(dbPath)) throw new Error(`no Sagaflow data in ${options.dataDir}: ${dbPath} does not exist`);
  refuseIfMigrated(dbPath);
  // Throws DataInUseError (naming the process) while a service serves this folder.
  const unlock = lockDatabase(dbPath);
  let db: Database.Database | undefined;
  let committed = false;
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 1, connectionTimeoutMillis: 10_000 });
  try {
    db = new Database(dbPath, { fileMustExist: true });
    // The file may be from an older Sagaflow: bring it to the layout this one copies.
    applySqliteMigrations(db);
    const client = await pool.connect();
    try {
      await refuseNonEmpty(client, schema);
      await applyPostgresMigrations(client, schema);
      const plan = await planCopies(db, client, schema);
      const views = db.prepare("SELECT name FROM views ORDER BY name").pluck().all() as string[];
      await client.query("BEGIN");
      try {
        const q = quoteIdent(schema);
        await client.query(`SET LOCAL search_path TO ${q}`);
        // Nothing else reads or writes these tables until the copy is committed (a node started
        // on the schema meanwhile waits), and a row written since the check above is seen.
        await client.query(`LOCK TABLE ${plan.map((p) => `${q}.${quoteIdent(p.table)}`).join(", ")} IN ACCESS EXCLUSIVE MODE`);
        await refuseNonEmpty(client, schema);
        // Said only now: every refusal (in use, migrated, not empty) comes before it.
        log(`sagaflow: copying ${dbPath} into PostgreSQL schema ${schema}`);
        const tables: MigrationReport["tables"] = [];
        for (const copy of plan) {
          const rows = await copyTable(db, client, schema, copy, options.batchRows ?? 5_000);
          log(`sagaflow: ${copy.table}: ${rows} rows`);
          tables.push({ table: copy.table, rows });
        }
        const { feedHead, nextPositionAfter } = await setSequences(db, client, schema);
        await verifyCounts(db, client, schema, tables);
        await client.query("COMMIT");
        committed = true;
        return { schema, tables, feedHead, nextPositionAfter, viewsToRebuild: views, durationMs: Math.round(performance.now() - started) };
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        // Outside the rollback: once committed, the folder is marked whatever happens after.
        if (committed) markMigrated(dbPath, options.connectionString, schema, log);
      }
    } finally {
      client.release();
    }
  } finally {
    db?.close();
    unlock();
    await pool.end();
  }
}

/** Refuses a schema in which any table holds a row (an empty or missing schema is fine). */
async function refuseNonEmpty(client: pg.PoolClient, schema: string): Promise<void> {
  const { rows } = await client.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name",
    [schema],
  );
  for (const { table_name: table } of rows) {
    const found = await client.query(`SELECT 1 FROM ${quoteIdent(schema)}.${quoteIdent(table)} LIMIT 1`);
    if (found.rowCount !== 0) {
      throw new Error(
        `PostgreSQL schema "${schema}" is not empty (table ${table} holds rows): migrate into a new schema (--postgres-schema) or drop this one first`,
      );
    }
  }
}

/** Which tables to copy and which columns, checked before anything is written. */
async function planCopies(db: Database.Database, client: pg.PoolClient, schema: string): Promise<TableCopy[]> {
  const sqliteTables = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  const { rows: pgColumns } = await client.query<{ table_name: string; column_name: string; udt_name: string; is_nullable: string; column_default: string | null }>(
    "SELECT table_name, column_name, udt_name, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
    [schema],
  );
  const plan: TableCopy[] = [];
  const problems: string[] = [];
  for (const table of sqliteTables) {
    if (isViewTable(table)) continue;
    const target = pgColumns.filter((c) => c.table_name === table);
    const count = (db.prepare(`SELECT count(*) FROM ${quoteIdent(table)}`).pluck().get() as number) ?? 0;
    if (target.length === 0) {
      if (count > 0) problems.push(`SQLite table ${table} (${count} rows) has no PostgreSQL counterpart`);
      continue;
    }
    const sourceColumns = (db.prepare(`PRAGMA table_info(${quoteIdent(table)})`).all() as Array<{ name: string }>).map((c) => c.name);
    const columns: ColumnPair[] = [];
    for (const column of target) {
      if (sourceColumns.includes(column.column_name)) {
        columns.push({ name: column.column_name, pgType: column.udt_name });
      } else if (column.is_nullable === "NO" && column.column_default === null) {
        problems.push(`PostgreSQL column ${table}.${column.column_name} is required but SQLite has no such column`);
      }
    }
    const lost = sourceColumns.filter((name) => !target.some((c) => c.column_name === name));
    if (lost.length > 0 && count > 0) problems.push(`SQLite columns ${lost.map((c) => `${table}.${c}`).join(", ")} have no PostgreSQL counterpart`);
    plan.push({ table, columns, sourceRows: count });
  }
  if (problems.length > 0) throw new Error(`cannot map the SQLite store onto PostgreSQL schema "${schema}": ${problems.join("; ")}`);
  return plan;
}

/**
 * Sets every sequence of the copied tables (the feed's positions) past both the highest value
 * copied and the highest SQLite ever handed out (AUTOINCREMENT's high-water mark, which is above
 * the last row when the newest rows were removed): no position is ever handed out twice.
 */
async function setSequences(db: Database.Database, client: pg.PoolClient, schema: string): Promise<{ feedHead: number; nextPositionAfter: number }> {
  const highWater = new Map(
    (db.prepare("SELECT name, seq FROM sqlite_sequence").all() as Array<{ name: string; seq: number }>).map((r) => [r.name, r.seq]),
  );
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND column_default LIKE 'nextval(%'",
    [schema],
  );
  let feedHead = 0;
  let nextPositionAfter = 0;
  for (const { table_name: table, column_name: column } of rows) {
    const q = `${quoteIdent(schema)}.${quoteIdent(table)}`;
    const max = Number((await client.query<{ m: string | null }>(`SELECT max(${quoteIdent(column)}) AS m FROM ${q}`)).rows[0]?.m ?? 0);
    const last = Math.max(max, highWater.get(table) ?? 0);
    if (last > 0) await client.query("SELECT setval(pg_get_serial_sequence($1, $2), $3, true)", [q, column, last]);
    if (table === "events" && column === "position") [feedHead, nextPositionAfter] = [max, last];
  }
  return { feedHead, nextPositionAfter };
}

/** Every copied table holds as many rows in PostgreSQL as in SQLite; else the copy is rolled back. */
async function verifyCounts(db: Database.Database, client: pg.PoolClient, schema: string, tables: MigrationReport["tables"]): Promise<void> {
  for (const { table, rows } of tables) {
    const source = db.prepare(`SELECT count(*) FROM ${quoteIdent(table)}`).pluck().get() as number;
    const target = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(schema)}.${quoteIdent(table)}`)).rows[0]?.n);
    if (source !== rows || target !== rows) {
      throw new Error(`verification failed for ${table}: SQLite holds ${source} rows, ${rows} were copied, PostgreSQL holds ${target}; nothing was kept`);
    }
  }
}
