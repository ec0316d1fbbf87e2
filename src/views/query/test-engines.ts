/**
 * The databases the query tests run on, behind one interface, so that one test body checks that
 * both compilers mean the same: SQLite in memory, and PostgreSQL in a fresh schema of its own
 * (dropped on close).
 */
import Database from "better-sqlite3";
import { compilePostgres } from "../../store/postgres/postgres-query-compiler.ts";
import { createPostgresIndexSql, createPostgresTableSql } from "../../store/postgres/postgres-query-tables.ts";
import { testbed } from "../../store/postgres/postgres-test-support.ts";
import { compileSqlite } from "../../store/sqlite/sqlite-query-compiler.ts";
import { createSqliteIndexSql } from "../../store/sqlite/sqlite-query-tables.ts";
import type { CompiledQuery, PageOptions, Query } from "./index.ts";
import type { Stored } from "./test-fixture.ts";
import { createSqliteTable } from "./test-fixture.ts";
import type { Params } from "./values.ts";

export interface ResultRow {
  id: string;
  /** The result object (parsed). */
  row: unknown;
}

export interface QueryEngine {
  readonly name: "sqlite" | "postgres";
  /** Creates the view table `table` holding `rows`. */
  load(table: string, rows: readonly Stored[]): Promise<void>;
  compile(query: Query, table: string, page?: PageOptions): CompiledQuery;
  /** The result rows of a compiled `SELECT *` or column query. */
  rows(compiled: CompiledQuery, params?: Params): Promise<ResultRow[]>;
  /** The result of a compiled count(*) query. */
  count(compiled: CompiledQuery, params?: Params): Promise<number>;
  /** The dialect's CREATE INDEX for view-table fields. */
  indexSql(table: string, indexName: string, fields: readonly string[]): string;
  exec(sql: string): Promise<void>;
  /** The plan of a compiled query, one line per step. */
  explain(compiled: CompiledQuery, params?: Params): Promise<string>;
  /** Each table of the database (or schema), with its row count. */
  tables(): Promise<Record<string, number>>;
  /** What a query of a table that does not exist fails with. */
  readonly missingTable: RegExp;
  close(): Promise<void>;
}

export function sqliteEngine(): QueryEngine {
  const db = new Database(":memory:");
  return {
    name: "sqlite",
    load: async (table, rows) => createSqliteTable(db, table, rows),
    compile: (query, table, page) => compileSqlite(query, table, page),
    rows: async (compiled, params = {}) =>
      (db.prepare(compiled.sql).all(...compiled.bind(params)) as Array<{ id: string; row: string }>)
        .map((r) => ({ id: r.id, row: JSON.parse(r.row) })),
    count: async (compiled, params = {}) => (db.prepare(compiled.sql).get(...compiled.bind(params)) as { count: number }).count,
    indexSql: createSqliteIndexSql,
    exec: async (sql) => {
      db.exec(sql);
    },
    explain: async (compiled, params = {}) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${compiled.sql}`).all(...compiled.bind(params)) as Array<{ detail: string }>)
        .map((r) => r.detail).join("\n"),
    tables: async () => {
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>);
      return Object.fromEntries(names.map(({ name }) => [name, (db.prepare(`SELECT count(*) AS c FROM "${name}"`).get() as { c: number }).c]));
    },
    missingTable: /no such table/,
    close: async () => {
      db.close();
    },
  };
}

/** Resolves once the engine's schema exists. */
export async function postgresEngine(connectionString: string): Promise<QueryEngine> {
  const bed = testbed(connectionString);
  const schema = bed.freshSchema();
  const client = await bed.rawClient();
  await client.query(`CREATE SCHEMA "${schema}"`);
  return {
    name: "postgres",
    load: async (table, rows) => {
      await client.query(createPostgresTableSql(schema, table));
      await client.query(`INSERT INTO "${schema}"."${table}" (id, row) SELECT * FROM unnest($1::text[], $2::jsonb[])`, [
        rows.map((r) => r.id),
        rows.map((r) => JSON.stringify(r.row)),
      ]);
      await client.query(`ANALYZE "${schema}"."${table}"`);
    },
    compile: (query, table, page) => compilePostgres(query, table, { ...page, schema }),
    rows: async (compiled, params = {}) => (await client.query<ResultRow>(compiled.sql, compiled.bind(params))).rows,
    count: async (compiled, params = {}) => Number((await client.query<{ count: string }>(compiled.sql, compiled.bind(params))).rows[0]!.count),
    indexSql: (table, indexName, fields) => createPostgresIndexSql(schema, table, indexName, fields),
    exec: async (sql) => {
      await client.query(sql);
    },
    explain: async (compiled, params = {}) =>
      (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN ${compiled.sql}`, compiled.bind(params))).rows
        .map((r) => r["QUERY PLAN"]).join("\n"),
    tables: async () => {
      const { rows } = await client.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        [schema],
      );
      const counts: Record<string, number> = {};
      for (const { name } of rows) counts[name] = Number((await client.query(`SELECT count(*) AS c FROM "${schema}"."${name}"`)).rows[0].c);
      return counts;
    },
    missingTable: /does not exist/,
    close: async () => {
      await client.end();
      await bed.dropSchemas();
    },
  };
}
