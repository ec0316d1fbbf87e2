import { KEY_COLUMN, ROW_COLUMN, checkedPath, isKeyPath, quoteIdent } from "../../views/query/sql-names.ts";

/**
 * A field in PostgreSQL, for postgres-query-compiler.ts and the PostgreSQL index plan. Tables are
 * `(id TEXT COLLATE "C" PRIMARY KEY, row JSONB NOT NULL)`: JSONB because every field read is a
 * lookup in an already parsed value (a scan with json or text re-parses each row per field, about
 * 5× slower), and COLLATE "C" orders ids by code point, as SQLite's BINARY does.
 *
 * SQLite orders a field's values as json_extract returns them: missing/null, then numbers (JSON
 * true/false as 1/0 among them), then text (strings, and objects/arrays as their JSON text).
 * PostgreSQL has no value of mixed type, so a field is three sort keys that order the same way,
 * none of them ever NULL (so row comparisons and `=` work on all three):
 *   rank: 0 missing/null, 1 number/boolean, 2 string/object/array
 *   num:  the number, or 1/0 for true/false; 0 otherwise
 *   text: the string (objects/arrays: their JSON text), COLLATE "C" (code point order); '' otherwise
 * and `type`, the jsonb_typeof name (NULL when missing) that keeps types from crossing.
 */
export interface PostgresField {
  rank: string;
  /** Undefined for the row key (always a string): its `text` alone orders it. */
  num: string | undefined;
  text: string;
  type: string;
  /** The value as JSON, for result objects. */
  json: string;
}

/** The ranks of the three groups of values, as `rank` computes them. */
export const RANK = { none: 0, number: 1, text: 2 } as const;

const KEY: PostgresField = {
  rank: String(RANK.text),
  num: undefined,
  text: quoteIdent(KEY_COLUMN),
  type: "'string'",
  json: quoteIdent(KEY_COLUMN),
};

/** The expressions of a field; `_id` is the `id` column. Segments are checked identifiers. */
export function postgresField(path: readonly string[]): PostgresField {
  if (isKeyPath(path)) return KEY;
  // A text[] literal with each segment double-quoted: an unquoted NULL would be a null element.
  const literal = `'{${checkedPath(path).map((s) => `"${s}"`).join(",")}}'`;
  const value = `(${quoteIdent(ROW_COLUMN)} #> ${literal})`;
  const type = `jsonb_typeof${value}`;
  const numeric = `${type} IN ('number', 'boolean')`;
  const textual = `${type} IN ('string', 'object', 'array')`;
  return {
    rank: `(CASE WHEN ${numeric} THEN ${RANK.number} WHEN ${textual} THEN ${RANK.text} ELSE ${RANK.none} END)`,
    num: `(CASE ${type} WHEN 'number' THEN ${value}::numeric WHEN 'boolean' THEN ${value}::boolean::int ELSE 0 END)`,
    text: `(CASE WHEN ${textual} THEN ${quoteIdent(ROW_COLUMN)} #>> ${literal} ELSE '' END COLLATE "C")`,
    type,
    json: value,
  };
}

/** The ascending sort expressions of a field: rank, num, text; or `id` for the row key. */
export function postgresSortKeys(path: readonly string[]): string[] {
  const field = postgresField(path);
  return field.num === undefined ? [field.text] : [field.rank, field.num, field.text];
}
