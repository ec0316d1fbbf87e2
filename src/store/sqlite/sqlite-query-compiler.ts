import type { Column, Query } from "../../views/query/ast.ts";
import { isArrayParam } from "../../views/query/ast.ts";
import type { Leaf } from "../../views/query/normalize.ts";
import type { Bind, CompiledQuery, Dialect, PageOptions } from "../../views/query/sql-compile.ts";
import { compileQuery } from "../../views/query/sql-compile.ts";
import { quoteIdent, quoteString } from "../../views/query/sql-names.ts";
import { JSON_TYPES, fieldJsonSql, fieldSql, fieldTypeSql, toSql } from "./sqlite-query-fields.ts";
import type { Params, TypeClass } from "../../views/query/values.ts";
import { arrayOf, inListName, inListValues, likeRange, listClass, scalarOf, typeClass } from "../../views/query/values.ts";

export type { CompiledQuery, ResultShape } from "../../views/query/sql-compile.ts";
/** Page options of compileSqlite (the same for every dialect). */
export type SqlitePage = PageOptions;

/**
 * Compiles a parsed (and checked) query into one SQLite statement over `physicalTable`, a table
 * `(id TEXT PRIMARY KEY, row TEXT)`. Filtering, sorting and paging all run inside SQLite; result
 * rows have `id` and `row` (JSON text), or `count`. See sql-compile.ts for the outline.
 *
 * @example
 * const c = compileSqlite(parseQuery("SELECT * FROM carts WHERE userId = :u"), "view_carts__g1", { limit: 50, extra: 1 });
 * const rows = db.prepare(c.sql).all(...c.bind({ u: "alice" })) as { id: string; row: string }[];
 */
export function compileSqlite(query: Query, physicalTable: string, page: SqlitePage = {}): CompiledQuery {
  return compileQuery(sqlite, query, quoteIdent(physicalTable), page);
}

const sqlite: Dialect = {
  placeholder: () => "?",
  leaf,
  sortKeys: (path) => [fieldSql(path)],
  columns: (columns: readonly Column[]) =>
    `json_object(${columns.map((c) => `${quoteString(c.key)}, ${fieldJsonSql(c.field.path)}`).join(", ")})`,
  noLimit: -1,
};

/** Placeholders binding the two json_type names a field must have for a value of this class. */
function types(bind: Bind, classOf: (params: Params) => TypeClass): string {
  return `${bind((params) => JSON_TYPES[classOf(params)][0])}, ${bind((params) => JSON_TYPES[classOf(params)][1])}`;
}

/**
 * One leaf. Every comparison also requires the field's JSON type to match the value's
 * (`json_type(…) IN (?, ?)`, names bound like values), so types never cross: `a = false` does
 * not match `0`, and `a > 5` does not match strings. Missing fields and JSON null match only
 * IS NULL. The `json_extract(…) op ?` term comes first and stands alone, so an index applies.
 */
function leaf(node: Leaf, bind: Bind): string {
  const path = node.field.path;
  const field = fieldSql(path);
  const type = fieldTypeSql(path);
  switch (node.kind) {
    case "isNull":
      return `${field} IS ${node.negated ? "NOT " : ""}NULL`;
    case "compare": {
      const value = node.value;
      const compared = bind((params) => toSql(scalarOf(value, params)));
      return `(${field} ${node.op === "!=" ? "<>" : node.op} ${compared} AND ${type} IN (${types(bind, (params) => typeClass(scalarOf(value, params)))}))`;
    }
    case "like": {
      const pattern = node.pattern;
      const lower = bind((params) => likeRange(pattern, params).lower);
      // No upper bound: an empty BLOB, which every text sorts before.
      const upper = bind((params) => likeRange(pattern, params).upper ?? new Uint8Array(0));
      const range = `${field} >= ${lower} AND ${field} < ${upper}`;
      return node.negated ? `(${type} = 'text' AND NOT (${range}))` : `(${range} AND ${type} = 'text')`;
    }
    case "in":
      return inList(node, field, type, bind);
  }
}

function inList(node: Extract<Leaf, { kind: "in" }>, field: string, type: string, bind: Bind): string {
  const not = node.negated ? "NOT " : "";
  const values = node.values;
  const name = inListName(values);
  const classOf = (params: Params) => listClass(inListValues(values, params), name);
  if (isArrayParam(values)) {
    const array = (params: Params) => arrayOf(values, params);
    // `a NOT IN ()` is true of every row, as in SQL.
    const empty = node.negated ? `${bind((params) => array(params).length)} = 0 OR ` : "";
    const list = bind((params) => JSON.stringify(array(params)));
    const test = `${field} ${not}IN (SELECT value FROM json_each(${list})) AND ${type} IN (${types(bind, classOf)})`;
    return node.negated ? `(${empty}(${test}))` : `(${test})`;
  }
  const list = values.map((value) => bind((params) => toSql(scalarOf(value, params)))).join(", ");
  return `(${field} ${not}IN (${list}) AND ${type} IN (${types(bind, classOf)}))`;
}
