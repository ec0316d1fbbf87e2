import { KEY_FIELD } from "./ast.ts";

/**
 * Names both SQL dialects share: the view table's columns, identifier and string quoting, and the
 * check that keeps field paths to plain names. The field expressions themselves are per dialect
 * (the adapters' sqlite-query-fields.ts, postgres-query-fields.ts), each shared by its compiler
 * and its index DDL, so an index's expressions are exactly the ones the queries use.
 */

/** The physical table's columns: `id` (the row key) and `row` (the row's JSON). */
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
 * The path itself, once every segment is checked to be an identifier (`[A-Za-z_][A-Za-z0-9_]*`):
 * a path reaches SQL text (a JSON path literal), so nothing but names may be in it.
 */
export function checkedPath(path: readonly string[]): readonly string[] {
  if (path.length === 0) throw new Error("a field path needs at least one segment");
  for (const segment of path) {
    if (!SEGMENT.test(segment)) throw new Error(`invalid field segment ${JSON.stringify(segment)}`);
  }
  return path;
}

/** True for the row key `_id`, which is the `id` column rather than a JSON field. */
export const isKeyPath = (path: readonly string[]): boolean => path.length === 1 && path[0] === KEY_FIELD;
