import type { Condition, Param, Query, Value } from "./ast.ts";
import { isArrayParam } from "./ast.ts";
import { QueryError } from "./errors.ts";

/**
 * Checks a parsed query against the view it belongs to: the FROM table must be one of `tables`
 * (case-sensitive). Throws QueryError with the position of the table name. Run it at start-up.
 *
 * @example
 * checkQuery(parseQuery("SELECT * FROM carts"), ["carts", "items"]);
 */
export function checkQuery(query: Query, tables: readonly string[]): void {
  if (!tables.includes(query.from)) {
    const known = tables.length === 0 ? "the view has no tables" : `the view has ${tables.join(", ")}`;
    throw new QueryError(`unknown table "${query.from}" (${known})`, query.source, query.fromPos);
  }
}

/**
 * The names (without the colon) of the parameters the query needs, each once, in the order they
 * first appear. `bind` refuses to run the query unless every one is given.
 *
 * @example
 * queryParams(parseQuery("SELECT * FROM t WHERE a = :a AND b IN (:b, :a) LIMIT :n")); // ["a", "b", "n"]
 */
export function queryParams(query: Query): string[] {
  return [...new Set(paramsOf(query).map((p) => p.name))];
}

/** Every parameter occurrence in the query, in text order. */
export function paramsOf(query: Query): Param[] {
  const found: Param[] = [];
  const value = (v: Value | undefined) => {
    if (v?.kind === "param") found.push(v);
  };
  const walk = (c: Condition): void => {
    switch (c.kind) {
      case "and":
      case "or":
        return c.operands.forEach(walk);
      case "not":
        return walk(c.operand);
      case "compare":
        return value(c.value);
      case "in":
        return isArrayParam(c.values) ? value(c.values) : c.values.forEach(value);
      case "like":
        return value(c.pattern);
      case "isNull":
        return;
    }
  };
  if (query.where) walk(query.where);
  value(query.limit);
  value(query.offset);
  return found;
}
