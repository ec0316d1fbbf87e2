import type { OrderKey, Query } from "./ast.ts";
import { isArrayParam, isKeyField } from "./ast.ts";
import type { Leaf, Normal } from "./normalize.ts";
import { normalize } from "./normalize.ts";
import {
  COUNT_COLUMN, KEY_COLUMN, ROW_COLUMN, fieldJsonSql, fieldSql, fieldTypeSql, quoteIdent, quoteString,
} from "./sql-names.ts";
import type { Params, SqlValue, TypeClass } from "./values.ts";
import { JSON_TYPES, arrayOf, countOf, likeRange, listClass, scalarOf, toSql, typeClass } from "./values.ts";

/**
 * Which rows of the query's result to fetch, for page tokens. Only bound values change with it,
 * never the SQL text, so one prepared statement serves every page.
 */
export interface SqlitePage {
  /** Rows of the result to skip (a page token's position); added to the query's OFFSET. Default 0. */
  offset?: number;
  /** Page size: rows to return at most. The query's own LIMIT applies if smaller. Default: none. */
  limit?: number | undefined;
  /** Rows to fetch past the page, e.g. 1 to learn whether a next page exists. Default 0. */
  extra?: number;
}

/** What the compiled statement returns, for the runtime to shape the reply. */
export interface ResultShape {
  /** "rows": each result row has `id` (the row key) and `row` (JSON text of the result object).
   *  "count": one result row with `count` (an integer). */
  kind: "rows" | "count";
  /** The AS name: the reply wraps the rows (or the count) in it; undefined if none was given. */
  name: string | undefined;
  /** Keys of each result object for `SELECT a, b.c AS c`; undefined for `*` and count(*). */
  columns: string[] | undefined;
}

export interface CompiledQuery {
  /** The SQL, with `?` placeholders only: no value given to `bind` ever enters it. */
  sql: string;
  /** Positional values for `sql`; throws QueryParamError for a missing or unusable parameter. */
  bind(params: Params): unknown[];
  shape: ResultShape;
  /** Rows this page holds at most (not counting `page.extra`), or undefined for no limit. */
  pageLimit(params: Params): number | undefined;
}

type Slot = (params: Params) => SqlValue;

/**
 * Compiles a parsed (and checked) query into one SQLite statement over `physicalTable`, a table
 * `(id TEXT PRIMARY KEY, row TEXT)`. Filtering, sorting and paging all run inside SQLite.
 * Rows always come back in a total order: the ORDER BY keys, then `id` (in the direction of the
 * last key), so LIMIT/OFFSET pages neither skip nor repeat rows.
 *
 * @example
 * const c = compileSqlite(parseQuery("SELECT * FROM carts WHERE userId = :u"), "view_carts__g1", { limit: 50, extra: 1 });
 * const rows = db.prepare(c.sql).all(...c.bind({ u: "alice" })) as { id: string; row: string }[];
 */
export function compileSqlite(query: Query, physicalTable: string, page: SqlitePage = {}): CompiledQuery {
  const pageOffset = pageNumber(page.offset, "offset") ?? 0;
  const pageSize = pageNumber(page.limit, "limit");
  const extra = pageNumber(page.extra, "extra") ?? 0;
  const slots: Slot[] = [];
  const where = query.where === undefined ? "" : ` WHERE ${condition(normalize(query.where), slots)}`;
  const from = `FROM ${quoteIdent(physicalTable)}${where}`;
  const select = query.select;
  const shape: ResultShape = {
    kind: select.kind === "count" ? "count" : "rows",
    name: select.name,
    columns: select.kind === "columns" ? select.columns.map((c) => c.key) : undefined,
  };
  const bind = (params: Params): unknown[] => slots.map((slot) => slot(params));
  if (select.kind === "count") {
    return { sql: `SELECT count(*) AS ${quoteIdent(COUNT_COLUMN)} ${from}`, bind, shape, pageLimit: () => undefined };
  }
  const result = select.kind === "rows" ? quoteIdent(ROW_COLUMN)
    : `json_object(${select.columns.map((c) => `${quoteString(c.key)}, ${fieldJsonSql(c.field.path)}`).join(", ")})`;
  const pageLimit = (params: Params): number | undefined => {
    const own = query.limit === undefined ? undefined : countOf(query.limit, params);
    return own === undefined ? pageSize : pageSize === undefined ? own : Math.min(own, pageSize);
  };
  slots.push((params) => {
    const limit = pageLimit(params);
    return limit === undefined ? -1 : limit + extra;
  });
  slots.push((params) => (query.offset === undefined ? 0 : countOf(query.offset, params)) + pageOffset);
  const sql = `SELECT ${quoteIdent(KEY_COLUMN)} AS ${quoteIdent(KEY_COLUMN)}, ${result} AS ${quoteIdent(ROW_COLUMN)} ` +
    `${from} ORDER BY ${orderBy(query.orderBy)} LIMIT ? OFFSET ?`;
  return { sql, bind, shape, pageLimit };
}

function pageNumber(value: number | undefined, what: string): number | undefined {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new RangeError(`page.${what} must be a whole number ≥ 0, not ${value}`);
  }
  return value;
}

/** The ORDER BY keys up to `_id` (a unique key: nothing after it matters), then `id` as tie-breaker. */
function orderBy(keys: readonly OrderKey[]): string {
  const parts: string[] = [];
  for (const key of keys) {
    parts.push(`${fieldSql(key.field.path)}${key.descending ? " DESC" : ""}`);
    if (isKeyField(key.field)) return parts.join(", ");
  }
  parts.push(`${quoteIdent(KEY_COLUMN)}${keys.at(-1)?.descending ? " DESC" : ""}`);
  return parts.join(", ");
}

function condition(node: Normal, slots: Slot[]): string {
  if ("operands" in node) {
    return `(${node.operands.map((c) => condition(c, slots)).join(` ${node.kind.toUpperCase()} `)})`;
  }
  return leaf(node, slots);
}

/** Slots binding the two json_type names a field must have for a value of this class. */
function typeSlots(slots: Slot[], classOf: (params: Params) => TypeClass): void {
  slots.push((params) => JSON_TYPES[classOf(params)][0], (params) => JSON_TYPES[classOf(params)][1]);
}

/**
 * One leaf. Every comparison also requires the field's JSON type to match the value's
 * (`json_type(…) IN (?, ?)`, names bound like values), so types never cross: `a = false` does
 * not match `0`, and `a > 5` does not match strings. Missing fields and JSON null match only
 * IS NULL. The `json_extract(…) op ?` term comes first and stands alone, so an index applies.
 */
function leaf(node: Leaf, slots: Slot[]): string {
  const path = node.field.path;
  const field = fieldSql(path);
  const type = fieldTypeSql(path);
  switch (node.kind) {
    case "isNull":
      return `${field} IS ${node.negated ? "NOT " : ""}NULL`;
    case "compare": {
      const value = node.value;
      slots.push((params) => toSql(scalarOf(value, params)));
      typeSlots(slots, (params) => typeClass(scalarOf(value, params)));
      return `(${field} ${node.op === "!=" ? "<>" : node.op} ? AND ${type} IN (?, ?))`;
    }
    case "like": {
      const pattern = node.pattern;
      slots.push((params) => likeRange(pattern, params).lower, (params) => likeRange(pattern, params).upper);
      const range = `${field} >= ? AND ${field} < ?`;
      return node.negated ? `(${type} = 'text' AND NOT (${range}))` : `(${range} AND ${type} = 'text')`;
    }
    case "in":
      return inList(node, field, type, slots);
  }
}

function inList(node: Extract<Leaf, { kind: "in" }>, field: string, type: string, slots: Slot[]): string {
  const not = node.negated ? "NOT " : "";
  const values = node.values;
  if (isArrayParam(values)) {
    const array = (params: Params) => arrayOf(values, params);
    const test = `${field} ${not}IN (SELECT value FROM json_each(?)) AND ${type} IN (?, ?)`;
    if (node.negated) slots.push((params) => array(params).length);
    slots.push((params) => JSON.stringify(array(params)));
    typeSlots(slots, (params) => listClass(array(params), values.name));
    // `a NOT IN ()` is true of every row, as in SQL.
    return node.negated ? `(? = 0 OR (${test}))` : `(${test})`;
  }
  for (const value of values) slots.push((params) => toSql(scalarOf(value, params)));
  const firstParam = values.find((v) => v.kind === "param");
  const name = firstParam?.kind === "param" ? firstParam.name : undefined;
  typeSlots(slots, (params) => listClass(values.map((v) => scalarOf(v, params)), name));
  return `(${field} ${not}IN (${values.map(() => "?").join(", ")}) AND ${type} IN (?, ?))`;
}
