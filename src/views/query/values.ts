import type { Param, Value } from "./ast.ts";
import { isArrayParam } from "./ast.ts";
import { QueryParamError } from "./errors.ts";
import { likePrefix, prefixUpperBound } from "./like-pattern.ts";

/**
 * Parameter and literal values as both SQL dialects bind them: checked, typed, and with the
 * errors a caller can fix (QueryParamError).
 */

/** Parameter values, by name without the colon. */
export type Params = Readonly<Record<string, unknown>>;

export type TypeClass = "number" | "string" | "boolean" | "null";

/** A scalar given for a parameter or written as a literal. */
export type Scalar = string | number | boolean | null;

export function typeClass(value: Scalar): TypeClass {
  return value === null ? "null" : (typeof value as "string" | "number" | "boolean");
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

/** The values of an IN list (`IN (v, …)` or `IN :array`), and the name its errors go by. */
export function inListValues(values: readonly Value[] | Param, params: Params): Scalar[] {
  return isArrayParam(values) ? arrayOf(values, params) : values.map((v) => scalarOf(v, params));
}

/** The parameter an IN list's errors name: the array parameter, else the list's first parameter. */
export function inListName(values: readonly Value[] | Param): string | undefined {
  if (isArrayParam(values)) return values.name;
  const first = values.find((v) => v.kind === "param");
  return first?.kind === "param" ? first.name : undefined;
}

/**
 * The range `[lower, upper)` holding exactly the strings a LIKE pattern matches, in code point
 * order; `upper` is undefined when there is no upper bound (prefix '' or U+10FFFF…).
 */
export function likeRange(pattern: Value, params: Params): { lower: string; upper: string | undefined } {
  const text = scalarOf(pattern, params);
  const name = pattern.kind === "param" ? pattern.name : "LIKE";
  if (typeof text !== "string") throw new QueryParamError(name, "must be a string (it is a LIKE pattern)");
  const checked = likePrefix(text);
  if ("error" in checked) throw new QueryParamError(name, `is not a usable LIKE pattern: ${checked.error}`);
  return { lower: checked.prefix, upper: prefixUpperBound(checked.prefix) };
}
