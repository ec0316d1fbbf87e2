/**
 * How the memory store keeps values: as JSON text, exactly as the SQLite store keeps them, so
 * that callers get the same round-trip (Dates become strings, BigInt is refused, `undefined`
 * fields vanish) and can never reach stored state through a reference, in or out.
 */
import { jsonText } from "../unstorable-value.ts";

/** JSON text; `undefined` for no value. */
export type Json = string | undefined;

/** Throws UnstorableValueError on what JSON cannot hold (a BigInt, a cycle). */
export function encode(value: unknown): Json {
  return jsonText(value);
}

export function decode(text: Json): unknown {
  return text === undefined ? undefined : JSON.parse(text);
}

/** The key of an instance (or workflow) in the store's maps; length-prefixed so that no (component, id) pair can collide with another. */
export function instanceKey(component: string, id: string): string {
  return `${component.length}:${component}${id}`;
}
