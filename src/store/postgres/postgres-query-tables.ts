import { KEY_FIELD } from "../../views/query/ast.ts";
import { postgresSortKeys } from "./postgres-query-fields.ts";
import { KEY_COLUMN, ROW_COLUMN, quoteIdent } from "../../views/query/sql-names.ts";

/** The DDL of a view's table in PostgreSQL, and of its indexes, as compilePostgres expects them. */

/** PostgreSQL indexes hold at most 32 columns: ten fields of three sort keys each, then `id`. */
const MAX_FIELDS = 10;

const qualified = (schema: string, table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;

/** The table: `id` ordered by code point (COLLATE "C"), the row as JSONB (see postgres-query-fields.ts). */
export function createPostgresTableSql(schema: string, physicalTable: string): string {
  return `CREATE TABLE ${qualified(schema, physicalTable)} ` +
    `(${quoteIdent(KEY_COLUMN)} TEXT COLLATE "C" PRIMARY KEY, ${quoteIdent(ROW_COLUMN)} JSONB NOT NULL)`;
}

/**
 * `CREATE INDEX IF NOT EXISTS` for fields from indexesFor (views/query/index-plan.ts): each
 * field's sort keys exactly as compilePostgres writes them (rank, num, text), then `id`. So an
 * equality on the leading fields and an ORDER BY of the next ones in one direction read the index
 * in order, with no sort. Fields past the tenth are left out (the index still serves its prefix).
 *
 * @example
 * await client.query(createPostgresIndexSql("sagaflow", "view_carts__g1", "view_carts__g1__i0", ["userId", "at"]));
 */
export function createPostgresIndexSql(schema: string, physicalTable: string, indexName: string, fields: readonly string[]): string {
  if (fields.length === 0) throw new Error("an index needs at least one field");
  const kept = fields.slice(0, MAX_FIELDS);
  const columns = kept.flatMap((f) => postgresSortKeys(f.split(".")));
  if (!kept.includes(KEY_FIELD)) columns.push(quoteIdent(KEY_COLUMN));
  return `CREATE INDEX IF NOT EXISTS ${quoteIdent(indexName)} ON ${qualified(schema, physicalTable)} (${columns.join(", ")})`;
}
