import { errors } from "../define/errors.ts";
import type { StoredReply } from "../store/port.ts";

/**
 * `value` as JSON carries it: what an HTTP caller sends or gets, and what the store keeps.
 * In-process callers (the client, a step's or consumer's `ctx.call`) hand over and get copies,
 * so neither side can change the other's objects — an instance's state above all — and a value
 * JSON cannot carry (a `BigInt`, a `Map`'s entries, a `Date`'s type) fails or changes here, at the
 * call, as it would over HTTP, not later after a restart.
 */
export function jsonCopy<T>(value: T): T {
  if (value === undefined || value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  const text = JSON.stringify(value);
  return (text === undefined ? undefined : JSON.parse(text)) as T;
}

/** The input of an in-process call, copied; one JSON cannot carry is refused, naming the handler. */
export function copyInput(value: unknown, component: string, handler: string): unknown {
  try {
    return jsonCopy(value);
  } catch (error) {
    throw errors.invalidInput(`the input of ${component}.${handler} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The reply of an in-process call, copied; one JSON cannot carry is a bug in the handler, named. */
export function copyReply(value: unknown, component: string, handler: string): unknown {
  try {
    return jsonCopy(value);
  } catch (error) {
    throw new TypeError(`the reply of ${component}.${handler} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Refuses, before anything is kept, a command's reply JSON cannot carry (a BigInt, a cycle): its
 * caller could never be told it, over HTTP or in process, and the change would be kept all the same.
 */
export function checkReplyIsJson(reply: StoredReply, component: string, handler: string): void {
  if (!reply.ok || (typeof reply.value !== "object" && typeof reply.value !== "bigint")) return;
  try {
    JSON.stringify(reply.value);
  } catch (error) {
    throw new TypeError(`${component}.${handler} replied with a value that is not JSON, so nothing of it was kept: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Refuses a step's outcome whose state or next step's input JSON cannot hold, naming the step. */
export function checkStepOutcomeIsJson(record: { state: unknown; stepInput: unknown }, step: string): void {
  for (const [what, value] of [["state", record.state], ["next step's input", record.stepInput]] as const) {
    if (typeof value !== "object" && typeof value !== "bigint") continue;
    try {
      JSON.stringify(value);
    } catch (error) {
      throw new TypeError(`step ${step} made a ${what} that is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
