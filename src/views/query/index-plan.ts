import type { Query } from "./ast.ts";
import { fieldName, isKeyField } from "./ast.ts";
import { conjuncts, normalize } from "./normalize.ts";

/**
 * The indexes worth having for a query, each as a list of dotted field paths (`"address.city"`):
 * the fields compared with `=`, `IN` or `IS NULL` in the top-level AND of the WHERE (after NOTs
 * are pushed down), then the ORDER BY fields — or, with no ORDER BY, the first field with a
 * range (`<`, `<=`, `>`, `>=`, `LIKE 'p%'`). Each adapter's index DDL (createSqliteIndexSql,
 * createPostgresIndexSql) appends the row key, which the compiled query always sorts by last, so
 * such an index serves both the lookup and the order.
 *
 * Returns [] when no index helps: no such fields, or an equality on `_id` (the primary key).
 * An ORDER BY mixing ASC and DESC still needs a sort; ORs are not planned.
 *
 * @example
 * indexesFor(parseQuery("SELECT * FROM t WHERE userId = :u AND NOT done = true ORDER BY at DESC"));
 * // [["userId", "done", "at"]]
 */
export function indexesFor(query: Query): string[][] {
  const leaves = conjuncts(query.where === undefined ? undefined : normalize(query.where));
  const equal: string[] = [];
  const ranges: string[] = [];
  for (const leaf of leaves) {
    if ("operands" in leaf) continue;
    const isEquality = leaf.kind === "compare" ? leaf.op === "="
      : leaf.kind === "in" || leaf.kind === "isNull" ? !leaf.negated : false;
    const isRange = leaf.kind === "compare" ? leaf.op !== "=" && leaf.op !== "!="
      : leaf.kind === "like" && !leaf.negated;
    if (isEquality && isKeyField(leaf.field)) return [];
    if (isEquality) equal.push(fieldName(leaf.field));
    else if (isRange && !isKeyField(leaf.field)) ranges.push(fieldName(leaf.field));
  }
  const order: string[] = [];
  for (const key of query.orderBy) {
    if (isKeyField(key.field)) break;
    order.push(fieldName(key.field));
  }
  const fields = [...new Set([...equal, ...(query.orderBy.length > 0 ? order : ranges.slice(0, 1))])];
  return fields.length === 0 ? [] : [fields];
}

