import { SagaflowError } from "../define/errors.ts";

/**
 * The deepest nesting of arrays and objects accepted in input from outside (a body, a query
 * value). Handlers, schemas and the request hash walk input; a value nested 100,000 deep would
 * overflow any recursive walk, and no business input needs more than a few levels.
 */
export const maxInputDepth = 64;

/** One segment of a field path: an object key or an array index. */
type PathSegment = string | number;

/** `items.0.name`; the top level is `(input)`. */
function showPath(path: readonly PathSegment[]): string {
  return path.length === 0 ? "(input)" : path.map(String).join(".");
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why a string cannot be stored by every store, or undefined when it can. PostgreSQL's jsonb (view
 * rows) refuses U+0000 and unpaired UTF-16 surrogates, which SQLite and JSON text accept: refusing
 * both at the edge makes input the same on every store, and keeps a view from stopping on a row
 * one store cannot hold.
 */
function unstorable(text: string): string | undefined {
  if (text.includes("\u0000")) return "holds the character U+0000, which not every store can keep";
  if (LONE_SURROGATE.test(text)) return "holds an unpaired UTF-16 surrogate (not valid Unicode), which not every store can keep";
  return undefined;
}

/**
 * Checks input from outside before anything else reads it, without recursion: nesting at most
 * `maxDepth` deep (else 400 `nesting_too_deep`), no string or key holding U+0000 or an unpaired
 * surrogate, and no number JSON cannot hold (`1e400` parses as Infinity, which a handler would
 * keep in memory and the store as null) — else 400 `invalid_input`, naming the field's path.
 */
export function checkInput(input: unknown, maxDepth = maxInputDepth): void {
  const pending: Array<{ value: unknown; path: PathSegment[] }> = [{ value: input, path: [] }];
  while (pending.length > 0) {
    const { value, path } = pending.pop()!;
    if (typeof value === "string") {
      const why = unstorable(value);
      if (why) throw invalid(`the value at ${showPath(path)} ${why}`, path);
      continue;
    }
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw invalid(`the number at ${showPath(path)} is too large for JSON (a double holds up to about 1.8e308)`, path);
    }
    if (value === null || typeof value !== "object") continue;
    if (path.length >= maxDepth) {
      throw new SagaflowError("nesting_too_deep", `input is nested deeper than ${maxDepth} levels (at ${showPath(path.slice(0, 8))}…)`, {
        details: { maxDepth },
      });
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push({ value: item, path: [...path, index] }));
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      const why = unstorable(key);
      if (why) throw invalid(`the key ${JSON.stringify(key)} at ${showPath(path)} ${why}`, [...path, key]);
      pending.push({ value: item, path: [...path, key] });
    }
  }
}

function invalid(message: string, path: readonly PathSegment[]): SagaflowError {
  return new SagaflowError("invalid_input", message, { details: { path: path.map(String) } });
}
