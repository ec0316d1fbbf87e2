import type { ServerResponse } from "node:http";
import type { AuthFailure } from "../auth/authenticator.ts";
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
