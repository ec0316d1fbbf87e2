import { errors, SagaflowError } from "../define/errors.ts";

export const maxIdLength = 256;
const idPattern = /^[A-Za-z0-9_.:@+=~-]+$/;

/**
 * Instance ids appear in URLs, logs and keys: printable, no "/" or control characters, at most
 * 256 characters, and not "." or ".." (which URL handling would swallow).
 */
export function checkId(id: unknown): string {
  // Not a string: most often a field the caller's input did not have (`ctx.call(room, s.room)`).
  if (typeof id !== "string") throw new SagaflowError("invalid_id", `an instance id must be a string, got ${id === null ? "null" : typeof id} (a missing field?)`);
  if (id.length === 0) throw errors.invalidId(id, "must be a non-empty string");
  if (id.length > maxIdLength) throw errors.invalidId(id, `longer than ${maxIdLength} characters`);
  if (!idPattern.test(id)) {
    throw errors.invalidId(id, "use letters, digits and _ . : @ + = ~ - only");
  }
  if (id === "." || id === "..") throw errors.invalidId(id, '"." and ".." are not ids');
  return id;
}

export const maxIdempotencyKeyLength = 256;

/**
 * How the runtime's own keys begin (a workflow step's, a consumer's, a topic consumer's, a timer's
 * and a schedule's calls; see KeyedCaller and retention/key-owner.ts). A caller's key that began
 * the same way could be taken for one of them and answer a step with someone else's reply.
 */
const runtimeKeyPrefixes = ["wf:", "consumer:", "topic:", "timer:", "schedule:"];

/** Whether a key is a caller's own rather than one of the runtime's (a step's, a consumer's…). */
export function isClientKey(key: string): boolean {
  return !runtimeKeyPrefixes.some((p) => key.startsWith(p));
}

/** Why a caller's key (HTTP, the client, an endpoint) may not be used: it begins like one of the runtime's own. */
export function runtimeKeyTaken(key: string | undefined): SagaflowError | undefined {
  const prefix = runtimeKeyPrefixes.find((p) => key?.startsWith(p));
  if (key === undefined || prefix === undefined) return undefined;
  return new SagaflowError(
    "invalid_idempotency_key",
    `idempotency key ${JSON.stringify(key.slice(0, 64))} begins with "${prefix}", which Sagaflow keeps for the calls of its workflow steps, consumers, timers and schedules: choose a key that does not`,
  );
}

export function checkIdempotencyKey(key: string): string {
  if (key.length === 0 || key.length > maxIdempotencyKeyLength || /[\u0000-\u001f]/.test(key)) {
    throw new SagaflowError("invalid_idempotency_key", `an idempotency key must be 1 to ${maxIdempotencyKeyLength} printable characters, not ${key.length}`);
  }
  return key;
}
