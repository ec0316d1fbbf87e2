import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthFailure } from "../auth/authenticator.ts";
import { SagaflowError } from "../define/errors.ts";
import { sendJson } from "./respond.ts";

/**
 * Answers a refused token: 401 `{"error":{"code","message"}}` with `WWW-Authenticate: Bearer`
 * (RFC 6750: `error="invalid_token"` when a token was sent, none when it was missing).
 */
export function sendUnauthorized(res: ServerResponse, failure: Pick<AuthFailure, "code" | "message">, realm = "sagaflow"): void {
  const challenge = failure.code === "missing_token" ? `Bearer realm="${realm}"` : `Bearer realm="${realm}", error="invalid_token"`;
  sendJson(res, 401, { error: { code: failure.code, message: failure.message } }, { "www-authenticate": challenge, "cache-control": "no-store" });
}

/** Answers a valid caller who may not do this: 403 `forbidden` (no challenge: another token would not help unless it has other claims). */
export function sendForbidden(res: ServerResponse, message: string, code = "forbidden"): void {
  sendJson(res, 403, { error: { code, message } }, { "cache-control": "no-store" });
}

/**
 * The refusal of a request with more than one Authorization header (400 `malformed_request`, as
 * RFC 6750 has it for a repeated credential), or undefined. Node keeps the first such header and
 * silently drops the others, so which one the client meant cannot be told.
 */
export function repeatedAuthorization(req: IncomingMessage): SagaflowError | undefined {
  if (req.headers.authorization === undefined) return undefined;
  const sent = req.headersDistinct["authorization"]?.length ?? 0;
  return sent > 1 ? new SagaflowError("malformed_request", `send one Authorization header, not ${sent}`, { status: 400 }) : undefined;
}
