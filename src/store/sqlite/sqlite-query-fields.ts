import { KEY_COLUMN, ROW_COLUMN, checkedPath, isKeyPath, quoteIdent, quoteString } from "../../views/query/sql-names.ts";
import type { Scalar, TypeClass } from "../../views/query/values.ts";

/**
 * A field in SQLite, for sqlite-query-compiler.ts and the SQLite index plan: tables are
 * `(id TEXT PRIMARY KEY, row TEXT)` with the row as JSON text, a field is
 * `json_extract("row", '$."a"."b"')`.
 */

/** A value as bound to SQLite: booleans become 1/0, as json_extract returns JSON true/false. */
export type SqlValue = string | number | null | Uint8Array;

export function toSql(value: Scalar): SqlValue {
  return typeof value === "boolean" ? (value ? 1 : 0) : value;
}

/**
 * The JSON types (as `json_type` names them) a field must have to compare with a value of this
 * class: comparisons never cross types (`a = 1` does not match `"1"`, `true` nor `{}`).
 */
export const JSON_TYPES: Record<TypeClass, readonly [string | null, string | null]> = {
  number: ["integer", "real"],
  string: ["text", "text"],
  boolean: ["true", "false"],
  null: [null, null],
};

/** The JSON path literal of a field, each segment quoted: `["a", "b"]` → `'$."a"."b"'`. */
export function jsonPath(path: readonly string[]): string {
  return quoteString(`$.${checkedPath(path).map((s) => `"${s}"`).join(".")}`);
}

/**
 * The SQL value of a field, for WHERE, ORDER BY and indexes: `json_extract("row", '$."a"')`
 * (JSON true/false come back as 1/0, objects and arrays as JSON text), or `"id"` for `_id`.
 */
export function fieldSql(path: readonly string[]): string {
  return isKeyPath(path) ? quoteIdent(KEY_COLUMN) : `json_extract(${quoteIdent(ROW_COLUMN)}, ${jsonPath(path)})`;
}

/** The JSON type of a field as json_type names it ('integer', 'text', 'true', …; NULL if missing). */
export function fieldTypeSql(path: readonly string[]): string {
  return isKeyPath(path) ? `typeof(${quoteIdent(KEY_COLUMN)})` : `json_type(${quoteIdent(ROW_COLUMN)}, ${jsonPath(path)})`;
}

/** The field as JSON, for result objects (keeps true/false and nested objects as JSON). */
export function fieldJsonSql(path: readonly string[]): string {
  return isKeyPath(path) ? quoteIdent(KEY_COLUMN) : `${quoteIdent(ROW_COLUMN)} -> ${jsonPath(path)}`;
}
