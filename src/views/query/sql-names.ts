import { KEY_FIELD } from "./ast.ts";

/**
 * How view tables look in SQLite, and the SQL for a field. compile-sqlite.ts and index-plan.ts
 * both take field expressions from here, so an index's expressions are exactly the ones the
 * queries use (SQLite only uses an expression index for an identical expression).
 */

/** The physical table's columns: `id TEXT PRIMARY KEY` (the row key) and `row TEXT` (JSON). */
export const KEY_COLUMN = "id";
export const ROW_COLUMN = "row";
/** The result column of a count(*) query. */
export const COUNT_COLUMN = "count";

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A single-quoted SQL string literal. */
export function quoteString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The JSON path literal of a field, each segment quoted: `["a", "b"]` → `'$."a"."b"'`. Segments
 * must be identifiers (`[A-Za-z_][A-Za-z0-9_]*`), so nothing but a name ever reaches the SQL.
 */
export function jsonPath(path: readonly string[]): string {
  if (path.length === 0) throw new Error("a field path needs at least one segment");
  for (const segment of path) {
    if (!SEGMENT.test(segment)) throw new Error(`invalid field segment ${JSON.stringify(segment)}`);
  }
  return quoteString(`$.${path.map((s) => `"${s}"`).join(".")}`);
}

const isKey = (path: readonly string[]) => path.length === 1 && path[0] === KEY_FIELD;

/**
 * The SQL value of a field, for WHERE, ORDER BY and indexes: `json_extract("row", '$."a"')`
 * (JSON true/false come back as 1/0, objects and arrays as JSON text), or `"id"` for `_id`.
 */
export function fieldSql(path: readonly string[]): string {
  return isKey(path) ? quoteIdent(KEY_COLUMN) : `json_extract(${quoteIdent(ROW_COLUMN)}, ${jsonPath(path)})`;
}

/** The JSON type of a field as json_type names it ('integer', 'text', 'true', …; NULL if missing). */
export function fieldTypeSql(path: readonly string[]): string {
  return isKey(path) ? `typeof(${quoteIdent(KEY_COLUMN)})` : `json_type(${quoteIdent(ROW_COLUMN)}, ${jsonPath(path)})`;
}

/** The field as JSON, for result objects (keeps true/false and nested objects as JSON). */
export function fieldJsonSql(path: readonly string[]): string {
  return isKey(path) ? quoteIdent(KEY_COLUMN) : `${quoteIdent(ROW_COLUMN)} -> ${jsonPath(path)}`;
}
