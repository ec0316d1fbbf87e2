import type { ServerResponse } from "node:http";
import { SagaflowError } from "../define/errors.ts";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Errors leave as `{"error": {"code", "message"}}`; anything not a SagaflowError is a bug (500). */
export function sendError(res: ServerResponse, error: unknown, log: (line: string) => void): void {
  if (error instanceof SagaflowError) {
    const headers: Record<string, string> = error.retryable ? { "retry-after": "1" } : {};
    sendJson(res, error.status, { error: error.toJSON() }, headers);
    return;
  }
  const correlationId = crypto.randomUUID();
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  log(`sagaflow: internal error [${correlationId}]: ${detail}`);
  sendJson(res, 500, {
    error: { code: "internal", message: `internal error (correlation id ${correlationId})`, details: { correlationId } },
  });
}
