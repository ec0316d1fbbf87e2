/**
 * The view query language: parse → check → compile, all inside the database. See README.md in
 * this folder for the language and its semantics. This folder is database-neutral: each
 * adapter compiles the checked tree for its database (src/store/sqlite/sqlite-query-compiler.ts,
 * src/store/postgres/postgres-query-compiler.ts) on the shared outline of sql-compile.ts.
 *
 * @example
 * const query = parseQuery("SELECT * AS carts FROM carts WHERE userId = :user ORDER BY at DESC LIMIT 20");
 * checkQuery(query, ["carts"]);                       // at start-up
 * for (const [i, fields] of indexesFor(query).entries()) db.exec(createSqliteIndexSql(table, `${table}__i${i}`, fields));
 * const compiled = compileSqlite(query, table, { offset: 0, extra: 1 });
 * const rows = db.prepare(compiled.sql).all(...compiled.bind({ user: "alice" }));
 * // PostgreSQL: createPostgresTableSql / createPostgresIndexSql, then
 * const pg = compilePostgres(query, table, { schema: "sagaflow", extra: 1 });
 * const { rows: found } = await pool.query(pg.sql, pg.bind({ user: "alice" }));
 */
export type {
  Column, CompareOp, Condition, Field, Literal, OrderKey, Param, Query, Select, Value,
} from "./ast.ts";
export { KEY_FIELD } from "./ast.ts";
export { QueryError, QueryParamError } from "./errors.ts";
export { parseQuery } from "./parser.ts";
export { checkQuery, queryParams } from "./check.ts";
export type { CompiledQuery, PageOptions, ResultShape } from "./sql-compile.ts";
export { COUNT_COLUMN, KEY_COLUMN, ROW_COLUMN } from "./sql-names.ts";
export { indexesFor } from "./index-plan.ts";
