/**
 * The syntax tree of a view query. Dialect-neutral: each adapter's compiler
 * (sqlite-query-compiler.ts, postgres-query-compiler.ts) turns the same tree into its SQL. Every node that can be the
 * subject of an error keeps `pos`, its 0-based offset in `Query.source`.
 */

/** A literal written in the query. */
export interface Literal {
  readonly kind: "literal";
  readonly value: string | number | boolean | null;
  readonly pos: number;
}

/** A parameter `:name`, given a value when the query runs. */
export interface Param {
  readonly kind: "param";
  readonly name: string;
  readonly pos: number;
}

export type Value = Literal | Param;

/**
 * A field of the row JSON, e.g. `address.city` → `["address", "city"]`. The single segment
 * `["_id"]` is the row key (the source instance id), not a JSON field.
 */
export interface Field {
  readonly kind: "field";
  readonly path: readonly string[];
  readonly pos: number;
}

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

export type Condition =
  /** Two or more operands (a chain `a AND b AND c` is one node). */
  | { readonly kind: "and" | "or"; readonly operands: readonly Condition[] }
  | { readonly kind: "not"; readonly operand: Condition }
  | { readonly kind: "compare"; readonly field: Field; readonly op: CompareOp; readonly value: Value }
  /** `f IN (v, …)`: `values` is a list; `f IN :p`: `values` is a parameter holding an array. */
  | {
      readonly kind: "in";
      readonly field: Field;
      readonly values: readonly Value[] | Param;
      readonly negated: boolean;
    }
  | { readonly kind: "isNull"; readonly field: Field; readonly negated: boolean }
  /** `f LIKE 'prefix%'`; a literal pattern is checked by the parser, a parameter when bound. */
  | { readonly kind: "like"; readonly field: Field; readonly pattern: Value; readonly negated: boolean };

/** One result column of `SELECT a, b.c AS city`: `key` is the alias, else the path as written. */
export interface Column {
  readonly field: Field;
  readonly key: string;
}

export type Select =
  /** `SELECT *` or `SELECT * AS name`: whole rows. */
  | { readonly kind: "rows"; readonly name: string | undefined }
  /** `SELECT a, b` or `SELECT (a, b) AS name`: one object per row with these keys. */
  | { readonly kind: "columns"; readonly columns: readonly Column[]; readonly name: string | undefined }
  /** `SELECT count(*)` or `SELECT count(*) AS name`. */
  | { readonly kind: "count"; readonly name: string | undefined };

export interface OrderKey {
  readonly field: Field;
  readonly descending: boolean;
}

export interface Query {
  /** The query text, kept for error positions. */
  readonly source: string;
  readonly select: Select;
  /** The table named after FROM, and where that name is in the text. */
  readonly from: string;
  readonly fromPos: number;
  readonly where: Condition | undefined;
  readonly orderBy: readonly OrderKey[];
  readonly limit: Value | undefined;
  readonly offset: Value | undefined;
}

/** The name the row key goes by in queries. */
export const KEY_FIELD = "_id";

export const isKeyField = (field: Field): boolean =>
  field.path.length === 1 && field.path[0] === KEY_FIELD;

export const fieldName = (field: Field): string => field.path.join(".");

/** True for `f IN :p` (one parameter holding an array), false for `f IN (v, …)`. */
export const isArrayParam = (values: readonly Value[] | Param): values is Param => "kind" in values;
