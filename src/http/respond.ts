import type { ServerResponse } from "node:http";
import { RetryLaterError, SagaflowError, StoreUnavailableError, storeUnavailableMeaning } from "../define/errors.ts";
import type { StoreStatus } from "../store/outage.ts";
import { AuthenticationError } from "./guard.ts";
import { logEvent, logInternalError } from "../observe/log-event.ts";
import { LogThrottle } from "../observe/log-throttle.ts";
import { bodyArriving, endAfterBody } from "./linger.ts";

/**
 * `body` as JSON; a reply of `undefined` (which JSON cannot say) is `{}`, a reply of `null` is
 * `null`. An answer sent before the request's body has arrived (a refusal, mostly) closes the
 * connection, once the rest of the body has been read and dropped within bounds: closing on a
 * client still sending would reset the connection, and the answer could be lost with it.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body === undefined ? {} : body);
  const arriving = bodyArriving(res.req);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
    ...(arriving ? { connection: "close" } : {}),
  });
  if (!arriving) return void res.end(text);
  res.write(text);
  endAfterBody(res.req, res);
}

/** One log line per reason per 10 s, however many requests the outage fails. */
const outageLog = new LogThrottle(10_000);

/** Logs a store outage once per interval (with how many failed requests were not logged). */
function logOutage(error: StoreUnavailableError, log: (line: string) => void, now = Date.now()): void {
  const passed = outageLog.pass(error.reason, now);
  if (passed === undefined) return;
  const more = passed.suppressed > 0 ? ` (and ${passed.suppressed} more requests in the last ${Math.round(passed.sinceMs / 1000)} s)` : "";
  const fields = { event: "store_unavailable", reason: error.reason, error_message: error.message, suppressed: passed.suppressed };
  logEvent(log, "error", fields, `sagaflow: store unavailable (${error.reason}): ${error.message}${more}`);
}

/**
 * Who reads an answer: the service's own callers (`public`, anyone the service is exposed to) or
 * its operators (the admin API). An outage's message names the database's address or file, which
 * only operators are told (and the log); the public get what the reason means.
 */
export type Audience = "public" | "operator";

/**
 * Errors leave as `{"error": {"code", "message"}}`. A RetryLaterError (overloaded, write conflict,
 * shutting down, the store unavailable) is 503 with `Retry-After`; anything else that is not a
 * SagaflowError is a bug (500). The store adapters turn their outages into StoreUnavailableError.
 */
export function sendError(res: ServerResponse, error: unknown, log: (line: string) => void, audience: Audience = "operator"): void {
  if (error instanceof SagaflowError) {
    if (error instanceof StoreUnavailableError) logOutage(error, log);
    const retryAfter = error instanceof RetryLaterError ? error.retryAfterSeconds : error.retryable ? 1 : undefined;
    const headers: Record<string, string> = retryAfter === undefined ? {} : { "retry-after": String(retryAfter) };
    if (error instanceof AuthenticationError) headers["www-authenticate"] = error.challenge;
    const body = error instanceof StoreUnavailableError && audience === "public" ? { ...error.toJSON(), message: storeUnavailableMeaning[error.reason] } : error.toJSON();
    sendJson(res, error.status, { error: body }, headers);
    return;
  }
  const correlationId = logInternalError(log, error, "http");
  sendJson(res, 500, {
    error: { code: "internal", message: `internal error (correlation id ${correlationId})`, details: { correlationId } },
  });
}

/** `GET /health`: 200 `{"status":"ok"}`, or 503 with the store's outage (reason, message, since) and `Retry-After`. */
export function sendHealth(res: ServerResponse, status: StoreStatus, audience: Audience = "operator"): void {
  if (status.status === "ok") sendJson(res, 200, status);
  else sendJson(res, 503, audience === "public" ? { ...status, message: storeUnavailableMeaning[status.reason] } : status, { "retry-after": "1" });
}
