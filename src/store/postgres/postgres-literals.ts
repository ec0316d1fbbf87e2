/**
 * Values written into SQL text as literals, for `EXECUTE name(…)` of a statement prepared with SQL
 * `PREPARE`: such a call takes no bound parameters, so it can travel in one simple-query round trip
 * with BEGIN or COMMIT, and it still runs the connection's prepared plan. Each literal is an
 * untyped string constant, so PostgreSQL reads it with the input function of the parameter's
 * declared type, exactly as it reads a bound parameter's text (a value that type cannot hold fails
 * the statement, as it would bound).
 */
import pg from "pg";

/** What one parameter may be: a scalar, or an array of scalars (one dimension). */
export type LiteralValue = string | number | boolean | null | undefined | ReadonlyArray<string | number | boolean | null | undefined>;

/** The SQL literal of `value`: NULL, or a quoted string constant (arrays in PostgreSQL's array syntax). */
export function sqlLiteral(value: LiteralValue): string {
  if (value === null || value === undefined) return "NULL";
  if (Array.isArray(value)) return pg.escapeLiteral(arrayText(value));
  return pg.escapeLiteral(scalarText(value as string | number | boolean));
}

/** `EXECUTE name(literal, …)` of a statement prepared on the connection. */
export function executeStatement(name: string, values: readonly LiteralValue[]): string {
  return `EXECUTE ${name}(${values.map(sqlLiteral).join(", ")})`;
}

function scalarText(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "t" : "f";
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`not a value PostgreSQL can store: ${value}`);
  return String(value);
}

/** PostgreSQL's array input syntax: every element double-quoted (backslash and quote escaped), NULL bare. */
function arrayText(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  let text = "{";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) text += ",";
    const v = values[i];
    text += v === null || v === undefined ? "NULL" : `"${scalarText(v).replace(/[\\"]/g, "\\$&")}"`;
  }
  return text + "}";
}
