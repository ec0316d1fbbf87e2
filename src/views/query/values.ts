import type { Param, Value } from "./ast.ts";
import { QueryParamError } from "./errors.ts";
import { likePrefix, prefixUpperBound } from "./like-pattern.ts";

/** Parameter values, by name without the colon. */
export type Params = Readonly<Record<string, unknown>>;

/** A value as bound to SQLite: booleans become 1/0, as json_extract returns JSON true/false. */
export type SqlValue = string | number | null | Uint8Array;

export type TypeClass = "number" | "string" | "boolean" | "null";

/**
 * The JSON types (as `json_type` names them) a field must have to compare with a value of this
 * class: comparisons never cross types (`a = 1` does not match `"1"`, `true` nor `{}`).
 */
export const JSON_TYPES: Record<TypeClass, readonly [string | null, string | null]> = {
  number: ["integer", "real"],
  string: ["text", "text"],
  boolean: ["true", "false"],
  null: [null, null],
};

/** A scalar given for a parameter or written as a literal. */
export type Scalar = string | number | boolean | null;

export function typeClass(value: Scalar): TypeClass {
  return value === null ? "null" : (typeof value as "string" | "number" | "boolean");
}

export function toSql(value: Scalar): SqlValue {
  return typeof value === "boolean" ? (value ? 1 : 0) : value;
}

/** The parameter's value; throws QueryParamError when it is missing. */
function given(params: Params, name: string): unknown {
  const value = Object.hasOwn(params, name) ? params[name] : undefined;
  if (value === undefined) throw new QueryParamError(name, "is missing");
  return value;
}

function checkScalar(name: string, value: unknown, what = "must be"): Scalar {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  const got = Array.isArray(value) ? "an array" : typeof value === "number" ? String(value)
    : typeof value === "object" ? "an object" : `a ${typeof value}`;
  throw new QueryParamError(name, `${what} a string, a finite number, a boolean or null, not ${got}`);
}

/** The scalar a literal or parameter stands for. */
export function scalarOf(value: Value, params: Params): Scalar {
  return value.kind === "literal" ? value.value : checkScalar(value.name, given(params, value.name));
}

/** The elements of `IN :p`: an array of scalars. */
export function arrayOf(param: Param, params: Params): Scalar[] {
  const value = given(params, param.name);
  if (!Array.isArray(value)) throw new QueryParamError(param.name, "must be an array (it is used as IN :" + param.name + ")");
  return value.map((v) => checkScalar(param.name, v, "must hold only"));
}

/**
 * The type class of a list's values, ignoring nulls ("null" if all are null). Throws when the
 * values mix classes: `a IN (1, 'x')` has no single meaning once types never cross.
 */
export function listClass(values: readonly Scalar[], name: string | undefined): TypeClass {
  let found: TypeClass = "null";
  for (const value of values) {
    const cls = typeClass(value);
    if (cls === "null" || cls === found) continue;
    if (found !== "null") {
      const who = name ?? "IN";
      throw new QueryParamError(who, `gives an IN list both ${found}s and ${cls}s; use values of one type`);
    }
    found = cls;
  }
  return found;
}

/** A LIMIT or OFFSET value: a whole number ≥ 0. */
export function countOf(value: Value, params: Params): number {
  if (value.kind === "literal") return value.value as number;
  const n = given(params, value.name);
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new QueryParamError(value.name, `must be a whole number ≥ 0 (it is a LIMIT or OFFSET), not ${JSON.stringify(n)}`);
  }
  return n;
}

/**
 * The range `[lower, upper)` holding exactly the strings a LIKE pattern matches. With no upper
 * bound (prefix '' or U+10FFFF…), upper is an empty BLOB: in SQLite every text sorts before it.
 */
export function likeRange(pattern: Value, params: Params): { lower: string; upper: SqlValue } {
  const text = scalarOf(pattern, params);
  const name = pattern.kind === "param" ? pattern.name : "LIKE";
  if (typeof text !== "string") throw new QueryParamError(name, "must be a string (it is a LIKE pattern)");
  const checked = likePrefix(text);
  if ("error" in checked) throw new QueryParamError(name, `is not a usable LIKE pattern: ${checked.error}`);
  return { lower: checked.prefix, upper: prefixUpperBound(checked.prefix) ?? new Uint8Array(0) };
}
