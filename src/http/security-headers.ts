import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";

/**
 * Headers set on every answer (before the handler runs; a handler may still replace one, e.g. an
 * endpoint that wants its answer cached): the answer is never sniffed as another type, never framed,
 * loads nothing, leaks no referrer, and is not stored by caches (answers may carry personal data).
 * On HTTPS, browsers are told to keep using HTTPS (HSTS, one year).
 */
export function applySecurityHeaders(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("x-frame-options", "DENY");
  res.setHeader("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
  res.setHeader("cache-control", "no-store");
  if ((req.socket as TLSSocket).encrypted) res.setHeader("strict-transport-security", "max-age=31536000; includeSubDomains");
}
