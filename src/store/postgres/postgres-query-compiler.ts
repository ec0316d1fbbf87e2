import type { Column, Query, Value } from "../../views/query/ast.ts";
import { isArrayParam } from "../../views/query/ast.ts";
import { QueryParamError } from "../../views/query/errors.ts";
import type { Leaf } from "../../views/query/normalize.ts";
import type { PostgresField } from "./postgres-query-fields.ts";
import { RANK, postgresField, postgresSortKeys } from "./postgres-query-fields.ts";
import type { Bind, CompiledQuery, Dialect, PageOptions } from "../../views/query/sql-compile.ts";
import { compileQuery } from "../../views/query/sql-compile.ts";
import { quoteIdent } from "../../views/query/sql-names.ts";
import type { Params, Scalar, TypeClass } from "../../views/query/values.ts";
import { inListName, inListValues, likeRange, listClass, scalarOf, typeClass } from "../../views/query/values.ts";

export interface PostgresPage extends PageOptions {
  /** The schema holding the table; unqualified (search_path) if not given. */
  schema?: string;
}

/**
 * Compiles a parsed (and checked) query into one PostgreSQL statement over `physicalTable`, a
 * table `(id TEXT COLLATE "C" PRIMARY KEY, row JSONB NOT NULL)` (see postgres-query-fields.ts), with the
 * same meaning as compileSqlite: same rows, same order, same pages. Values are bound as $n
 * parameters; result rows have `id` and `row` (jsonb or json: pg hands back objects), or `count`.
 *
 * @example
 * const c = compilePostgres(parseQuery("SELECT * FROM carts WHERE userId = :u"), "view_carts__g1", { schema: "sagaflow", extra: 1 });
 * const { rows } = await pool.query(c.sql, c.bind({ u: "alice" }));
 */
export function compilePostgres(query: Query, physicalTable: string, page: PostgresPage = {}): CompiledQuery {
  const table = page.schema === undefined ? quoteIdent(physicalTable) : `${quoteIdent(page.schema)}.${quoteIdent(physicalTable)}`;
  return compileQuery(postgres, query, table, page);
}

const postgres: Dialect = {
  placeholder: (n) => `$${n}`,
  leaf,
  sortKeys: postgresSortKeys,
  columns: (columns: readonly Column[], bind: Bind) =>
    // json_build_object, not jsonb_build_object: keys stay in the order the query lists them.
    `json_build_object(${columns.map((c) => `${bind(() => c.key)}::text, ${postgresField(c.field.path).json}`).join(", ")})`,
  noLimit: null,
};

/** A value as the three sort keys of postgres-query-fields.ts, and the jsonb_typeof name it matches. */
interface SortValue {
  /** null for a null value: `=`, `<`, … with null match nothing. */
  rank: number | null;
  num: number;
  text: string;
  type: TypeClass | null;
}

const RANK_OF: Record<TypeClass, number | null> = { number: RANK.number, boolean: RANK.number, string: RANK.text, null: null };

function sortValue(value: Scalar, name: string): SortValue {
  const type = typeClass(value);
  const rank = RANK_OF[type];
  if (typeof value === "string") return { rank, num: 0, text: textOf(value, name), type };
  return { rank, num: typeof value === "boolean" ? Number(value) : value ?? 0, text: "", type: value === null ? null : type };
}

/** PostgreSQL text cannot hold U+0000 (nor can jsonb), so no stored value could be compared with it. */
function textOf(text: string, name: string): string {
  if (text.includes("\u0000")) throw new QueryParamError(name, "holds the character U+0000, which PostgreSQL cannot store or compare");
  return text;
}

const nameOf = (value: Value): string => (value.kind === "param" ? value.name : "literal");

/**
 * One leaf. A comparison matches the field's rank and sort keys against the value's (the rank
 * and keys are bound, so the SQL is the same whatever the value's type) and requires the same
 * jsonb type, so types never cross: `a = false` does not match `0`, `a > 5` no strings. Missing
 * fields and JSON null have rank 0 and match only IS NULL. `rank = $r` and the keys come as
 * index columns come, so an index on (rank, num, text, …) applies.
 */
function leaf(node: Leaf, bind: Bind): string {
  const field = postgresField(node.field.path);
  switch (node.kind) {
    case "isNull":
      return `${field.rank} ${node.negated ? ">" : "="} ${RANK.none}`;
    case "compare":
      return compare(field, node, bind);
    case "like":
      return like(field, node, bind);
    case "in":
      return inList(field, node, bind);
  }
}

function compare(field: PostgresField, node: Extract<Leaf, { kind: "compare" }>, bind: Bind): string {
  const key = (params: Params) => sortValue(scalarOf(node.value, params), nameOf(node.value));
  const op = node.op === "!=" ? "<>" : node.op;
  const rank = `${field.rank} = ${bind((params) => key(params).rank)}::int`;
  const num = () => `${bind((params) => key(params).num)}::numeric`;
  const text = () => `${bind((params) => key(params).text)}::text`;
  // A row comparison is the order of (num, text) itself; for `=` PostgreSQL splits it into two.
  const test = field.num === undefined ? `${field.text} ${op} ${text()}` : `(${field.num}, ${field.text}) ${op} (${num()}, ${text()})`;
  return `(${rank} AND ${test} AND ${field.type} = ${bind((params) => key(params).type)}::text)`;
}

function like(field: PostgresField, node: Extract<Leaf, { kind: "like" }>, bind: Bind): string {
  const name = nameOf(node.pattern);
  const range = (params: Params) => likeRange(node.pattern, params);
  const lower = `${bind((params) => textOf(range(params).lower, name))}::text`;
  const upper = `${bind((params) => range(params).upper ?? null)}::text`;
  const inRange = `${field.text} >= ${lower} AND (${upper} IS NULL OR ${field.text} < ${upper})`;
  if (node.negated) return `(${field.type} = 'string' AND NOT (${inRange}))`;
  const textual = field.num === undefined ? "" : `${field.rank} = ${RANK.text} AND ${field.num} = 0 AND `;
  return `(${textual}${inRange} AND ${field.type} = 'string')`;
}

/**
 * `IN` as `= ANY` of the values' sort keys: a list holds one type, so only one of num and text
 * varies. As in SQL, a null in a NOT IN list makes it match nothing, and `NOT IN` an empty array
 * matches every row.
 */
function inList(field: PostgresField, node: Extract<Leaf, { kind: "in" }>, bind: Bind): string {
  const name = inListName(node.values);
  const list = (params: Params) => inListValues(node.values, params);
  const classOf = (params: Params): TypeClass => {
    const values = list(params);
    const type = listClass(values, name);
    return node.negated && values.includes(null) ? "null" : type;
  };
  const keys = (params: Params) => list(params).flatMap((v) => (v === null ? [] : [sortValue(v, name ?? "IN")]));
  const empty = node.negated && isArrayParam(node.values) ? `${bind((params) => list(params).length === 0)}::boolean OR ` : "";
  const rank = `${field.rank} = ${bind((params) => RANK_OF[classOf(params)])}::int`;
  const anyOf = (column: string, values: string) => (node.negated ? `${column} <> ALL(${values})` : `${column} = ANY(${values})`);
  const tests = [
    ...(field.num === undefined ? [] : [anyOf(field.num, `${bind((params) => keys(params).map((k) => k.num))}::numeric[]`)]),
    anyOf(field.text, `${bind((params) => keys(params).map((k) => k.text))}::text[]`),
  ];
  const type = `${field.type} = ${bind((params) => (classOf(params) === "null" ? null : classOf(params)))}::text`;
  return `(${empty}(${rank} AND (${tests.join(node.negated ? " OR " : " AND ")}) AND ${type}))`;
}
