/**
 * Structured events through the engine's plain `log: (line: string) => void` option. Embedding
 * users keep passing a function that takes a line; `sagaflow serve` passes one that also carries
 * a structured writer (under `structuredLog`), and the events below then become one JSON line
 * each with the documented fields, instead of the text line.
 *
 * Events (field `event`) and their fields:
 * - `message_parked`: consumer, position, component, id, type, attempts, error_code, error_message, held_behind
 * - `timer_parked`: timer, component, id, handler, attempts, error_code, error_message
 * - `step_attempt_failed`: workflow, id, step, attempt, outcome (retry | failover), retry_in_ms or next_step, refused (true: failed over on a refusal, an info line), error_code, error_message, suppressed (once per workflow step per 10 s)
 * - `workflow_failed`: workflow, id, step, attempt, error_code, error_message, partial (true when part of the step took effect)
 * - `leases_acquired`, `leases_lost`: leases, node (and reason, for lost): one line per heartbeat round
 * - `clock_offset`: node, offset_ms (+: the database ahead): a warning past 1 s, an info line once back within
 * - `older_nodes`: nodes (those alive on an older engine protocol), node, protocol: a warning when this node yields the work to them, an info line when none is left
 * - `store_unavailable`: reason, error_message, suppressed (requests failed and not logged since the last line)
 * - `startup_refused`: the reason is the message itself (`msg`), which may span lines (a query with a caret)
 * - `internal_error`: correlation_id, where, error_message (with the stack)
 */
import { randomUUID } from "node:crypto";

export const structuredLog = Symbol.for("sagaflow.structuredLog");

export type LogLevel = "debug" | "info" | "warn" | "error";

/** One structured event: `event` names it; the other fields are the documented ones for it. */
export type LogFields = { event: string } & Record<string, unknown>;

/** A log function that can also write structured events. */
export interface StructuredLogFunction {
  (line: string): void;
  [structuredLog]?: (level: LogLevel, fields: LogFields, message: string) => void;
}

/** Writes `fields` as one structured line where `log` supports it; else `message` as a text line. */
export function logEvent(log: (line: string) => void, level: LogLevel, fields: LogFields, message: string): void {
  const structured = (log as StructuredLogFunction)[structuredLog];
  if (structured) structured(level, fields, withoutDetail(message, fields));
  else log(message);
}

/** A JSON line's `msg` leaves out the `error_message` it ends with: said once, in its field (a long message, a stack). */
function withoutDetail(message: string, fields: LogFields): string {
  const detail = fields["error_message"];
  return typeof detail === "string" && detail !== "" && message.endsWith(`: ${detail}`) ? message.slice(0, -(detail.length + 2)) : message;
}

/**
 * Logs an error nobody expected (event `internal_error`) with a new correlation id, which it
 * returns so that a reply can name it. `where` says what failed: "http", a handler, a signal.
 */
export function logInternalError(log: (line: string) => void, error: unknown, where: string): string {
  const correlationId = randomUUID();
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  logEvent(log, "error", { event: "internal_error", correlation_id: correlationId, where, error_message: detail }, `sagaflow: internal error in ${where} [${correlationId}]: ${detail}`);
  return correlationId;
}
