import type { ServerResponse } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import { isStoreUnavailable } from "../store/unavailable.ts";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Errors leave as `{"error": {"code", "message"}}`. A database out of reach is 503 (try again);
 * anything else that is not a SagaflowError is a bug (500).
 */
export function sendError(res: ServerResponse, error: unknown, log: (line: string) => void): void {
  if (error instanceof SagaflowError) {
    const headers: Record<string, string> = error.retryable ? { "retry-after": "1" } : {};
    sendJson(res, error.status, { error: error.toJSON() }, headers);
    return;
  }
  if (isStoreUnavailable(error)) {
    // Not a bug: the database is away for a moment (a restart, a failover, a dropped connection).
    log(`sagaflow: store unavailable: ${error instanceof Error ? error.message : String(error)}`);
    sendError(res, new SagaflowError("store_unavailable", "the database cannot be reached right now; try again", { status: 503, retryable: true }), log);
    return;
  }
  const correlationId = crypto.randomUUID();
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  log(`sagaflow: internal error [${correlationId}]: ${detail}`);
  sendJson(res, 500, {
    error: { code: "internal", message: `internal error (correlation id ${correlationId})`, details: { correlationId } },
  });
}
