import type { Column, OrderKey, Query } from "./ast.ts";
import { isKeyField } from "./ast.ts";
import type { Leaf, Normal } from "./normalize.ts";
import { normalize } from "./normalize.ts";
import { COUNT_COLUMN, KEY_COLUMN, ROW_COLUMN, quoteIdent } from "./sql-names.ts";
import type { Params } from "./values.ts";
import { countOf } from "./values.ts";

/**
 * The part of compiling a query that is the same in every SQL dialect: the statement's outline,
 * AND/OR, the total order, paging and the result shape. A Dialect (the adapters'
 * sqlite-query-compiler.ts, postgres-query-compiler.ts) gives the rest: leaves, sort keys, result
 * objects, placeholders.
 */

/**
 * Which rows of the query's result to fetch, for page tokens. Only bound values change with it,
 * never the SQL text, so one prepared statement serves every page.
 */
export interface PageOptions {
  /** Rows of the result to skip (a page token's position); added to the query's OFFSET. Default 0. */
  offset?: number;
  /** Page size: rows to return at most. The query's own LIMIT applies if smaller. Default: none. */
  limit?: number | undefined;
  /** Rows to fetch past the page, e.g. 1 to learn whether a next page exists. Default 0. */
  extra?: number;
}

/** What the compiled statement returns, for the runtime to shape the reply. */
export interface ResultShape {
  /** "rows": each result row has `id` (the row key) and `row` (the result object as JSON).
   *  "count": one result row with `count` (an integer). */
  kind: "rows" | "count";
  /** The AS name: the reply wraps the rows (or the count) in it; undefined if none was given. */
  name: string | undefined;
  /** Keys of each result object for `SELECT a, b.c AS c`; undefined for `*` and count(*). */
  columns: string[] | undefined;
}

export interface CompiledQuery {
  /** The SQL, with placeholders only: no value given to `bind` ever enters it. */
  sql: string;
  /** Positional values for `sql`; throws QueryParamError for a missing or unusable parameter. */
  bind(params: Params): unknown[];
  shape: ResultShape;
  /** Rows this page holds at most (not counting `page.extra`), or undefined for no limit. */
  pageLimit(params: Params): number | undefined;
}

/** A value to bind, computed from the parameters when the query runs. */
export type Slot = (params: Params) => unknown;

/** Adds a slot and returns its placeholder. Call it in the order the SQL text is written. */
export type Bind = (slot: Slot) => string;

/** What one SQL dialect writes its own way. */
export interface Dialect {
  /** The placeholder of the n-th bound value (1-based): "?" or "$n". */
  placeholder(n: number): string;
  /** A comparison, IN, IS NULL or LIKE; never true for a missing field or one of another type. */
  leaf(node: Leaf, bind: Bind): string;
  /** The ascending sort expressions of a field (a field may need several). */
  sortKeys(path: readonly string[]): string[];
  /** The JSON object of `SELECT a, b.c AS c`. */
  columns(columns: readonly Column[], bind: Bind): string;
  /** The LIMIT value that means "no limit". */
  noLimit: number | null;
}

/**
 * One statement over `from` (a quoted table name) for a checked query. Rows always come back in a
 * total order: the ORDER BY keys, then `id` (in the direction of the last key), so LIMIT/OFFSET
 * pages neither skip nor repeat rows.
 */
export function compileQuery(dialect: Dialect, query: Query, from: string, page: PageOptions): CompiledQuery {
  const pageOffset = pageNumber(page.offset, "offset") ?? 0;
  const pageSize = pageNumber(page.limit, "limit");
  const extra = pageNumber(page.extra, "extra") ?? 0;
  const slots: Slot[] = [];
  const bind: Bind = (slot) => {
    slots.push(slot);
    return dialect.placeholder(slots.length);
  };
  const select = query.select;
  const shape: ResultShape = {
    kind: select.kind === "count" ? "count" : "rows",
    name: select.name,
    columns: select.kind === "columns" ? select.columns.map((c) => c.key) : undefined,
  };
  const result = select.kind === "count" ? `count(*) AS ${quoteIdent(COUNT_COLUMN)}`
    : `${quoteIdent(KEY_COLUMN)} AS ${quoteIdent(KEY_COLUMN)}, ` +
      `${select.kind === "rows" ? quoteIdent(ROW_COLUMN) : dialect.columns(select.columns, bind)} AS ${quoteIdent(ROW_COLUMN)}`;
  const where = query.where === undefined ? "" : ` WHERE ${condition(dialect, normalize(query.where), bind)}`;
  const statement = `SELECT ${result} FROM ${from}${where}`;
  const values = (params: Params): unknown[] => slots.map((slot) => slot(params));
  if (select.kind === "count") return { sql: statement, bind: values, shape, pageLimit: () => undefined };

  const pageLimit = (params: Params): number | undefined => {
    const own = query.limit === undefined ? undefined : countOf(query.limit, params);
    return own === undefined ? pageSize : pageSize === undefined ? own : Math.min(own, pageSize);
  };
  const limit = bind((params) => {
    const rows = pageLimit(params);
    return rows === undefined ? dialect.noLimit : rows + extra;
  });
  const offset = bind((params) => (query.offset === undefined ? 0 : countOf(query.offset, params)) + pageOffset);
  const sql = `${statement} ORDER BY ${orderBy(dialect, query.orderBy)} LIMIT ${limit} OFFSET ${offset}`;
  return { sql, bind: values, shape, pageLimit };
}

function pageNumber(value: number | undefined, what: string): number | undefined {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new RangeError(`page.${what} must be a whole number ≥ 0, not ${value}`);
  }
  return value;
}

/** The ORDER BY keys up to `_id` (a unique key: nothing after it matters), then `id` as tie-breaker. */
function orderBy(dialect: Dialect, keys: readonly OrderKey[]): string {
  const parts: string[] = [];
  const add = (expressions: string[], descending: boolean) =>
    parts.push(...expressions.map((e) => `${e}${descending ? " DESC" : ""}`));
  for (const key of keys) {
    add(dialect.sortKeys(key.field.path), key.descending);
    if (isKeyField(key.field)) return parts.join(", ");
  }
  add([quoteIdent(KEY_COLUMN)], keys.at(-1)?.descending ?? false);
  return parts.join(", ");
}

function condition(dialect: Dialect, node: Normal, bind: Bind): string {
  if ("operands" in node) {
    return `(${node.operands.map((c) => condition(dialect, c, bind)).join(` ${node.kind.toUpperCase()} `)})`;
  }
  return dialect.leaf(node, bind);
}
