import type { IncomingMessage, ServerResponse } from "node:http";
import type { CorsConfig } from "../define/cors.ts";
import { sendJson } from "./respond.ts";

export type { CorsConfig };

const originAllowed = (config: CorsConfig, origin: string) => config.origins === "*" || config.origins.includes(origin);

/**
 * CORS for one request. A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered
 * here, 204 or 403 `origin_not_allowed`, and `true` is returned: no handler runs for it. Any other
 * request from an allowed origin gets its `Access-Control-Allow-Origin` headers and goes on (`false`).
 */
export function handleCors(req: IncomingMessage, res: ServerResponse, config: CorsConfig | undefined): boolean {
  const origin = req.headers.origin;
  const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
  if (config === undefined || origin === undefined) return false;
  res.setHeader("vary", "Origin");
  if (!originAllowed(config, origin)) {
    if (!preflight) return false; // no CORS headers: the browser keeps the answer from the page
    sendJson(res, 403, { error: { code: "origin_not_allowed", message: `origin ${origin} may not call this service` } });
    return true;
  }
  const anyOrigin = config.origins === "*" && !config.credentials;
  res.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
  if (config.credentials) res.setHeader("access-control-allow-credentials", "true");
  if (!preflight) {
    res.setHeader("access-control-expose-headers", (config.exposeHeaders ?? ["sagaflow-position", "retry-after"]).join(", "));
    return false;
  }
  res.setHeader("access-control-allow-methods", (config.methods ?? ["GET", "POST"]).join(", "));
  res.setHeader("access-control-allow-headers", (config.headers ?? ["authorization", "content-type", "idempotency-key"]).join(", "));
  res.setHeader("access-control-max-age", String(config.maxAgeSeconds ?? 600));
  res.writeHead(204, { "content-length": "0" });
  res.end();
  return true;
}
