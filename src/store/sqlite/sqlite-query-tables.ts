import { KEY_FIELD } from "../../views/query/ast.ts";
import { KEY_COLUMN, quoteIdent } from "../../views/query/sql-names.ts";
import { fieldSql } from "./sqlite-query-fields.ts";

/** The DDL of a view's indexes in SQLite, as compileSqlite expects them. */

/**
 * `CREATE INDEX IF NOT EXISTS` for fields from indexesFor, on the expressions the compiled queries
 * use (`json_extract("row", '$."a"')`), with the row key `id` last. Identifiers are quoted; field
 * segments must be identifiers (throws otherwise).
 *
 * @example
 * db.exec(createSqliteIndexSql("view_carts__g1", "view_carts__g1__i0", ["userId", "at"]));
 */
export function createSqliteIndexSql(physicalTable: string, indexName: string, fields: readonly string[]): string {
  if (fields.length === 0) throw new Error("an index needs at least one field");
  const columns = fields.map((f) => (f === KEY_FIELD ? quoteIdent(KEY_COLUMN) : fieldSql(f.split("."))));
  if (!fields.includes(KEY_FIELD)) columns.push(quoteIdent(KEY_COLUMN));
  return `CREATE INDEX IF NOT EXISTS ${quoteIdent(indexName)} ON ${quoteIdent(physicalTable)} (${columns.join(", ")})`;
}
