import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { refusalError, SagaflowError } from "../define/errors.ts";
import type { ServiceFacade } from "../runtime/facades.ts";
import { defaultMaxBodyBytes, idempotencyKeyOf, inputFromQuery, readJsonBody } from "./body.ts";
import { sendError, sendHealth, sendJson } from "./respond.ts";
import { viewRoute } from "./views-route.ts";
import { resolveViewStreamSettings, ViewStreams, type ViewStreamSettings } from "./view-streams.ts";
import { applyServerLimits, resolveServerLimits, serverOptions, type ServerLimits } from "./server-limits.ts";
import { handleCors, type CorsConfig } from "./cors.ts";
import { applySecurityHeaders } from "./security-headers.ts";
import type { Authenticator } from "../auth/authenticator.ts";

export interface IngressOptions {
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** Timeouts and connection bounds; unset ones come from the environment or the defaults. */
  limits?: Partial<ServerLimits>;
  /** How streamed view queries are refreshed; unset ones come from the environment or the defaults. */
  viewStreams?: Partial<ViewStreamSettings>;
  /** Checks callers' bearer tokens (the service's issuers); access rules use it. */
  authenticator?: Authenticator;
  /** The service's CORS rules; preflights are answered without running a handler. */
  cors?: CorsConfig;
  /** The CORS rules of one request's route when they differ from the service's (per endpoint); undefined: the service's. */
  corsFor?: (req: IncomingMessage) => CorsConfig | undefined;
}

/** Longest `?wait=` a request may hold a connection for. */
export const maxWaitSeconds = 60;

function waitMs(raw: string | null): number {
  if (raw === null) return 0;
  const seconds = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(seconds <= maxWaitSeconds)) {
    throw new SagaflowError("invalid_wait", `wait must be a number of seconds from 0 to ${maxWaitSeconds}`);
  }
  return seconds * 1000;
}

const notFound = (what: string) => new SagaflowError("not_found", what, { status: 404 });

/**
 * The path's segments, percent-decoded. Parsed by hand rather than with `new URL` (which costs
 * ≈5% of a command's CPU): dot segments are not resolved, so `..` reaches the id check and is
 * refused there.
 */
function pathSegments(path: string): string[] {
  const raw = path.split("/").slice(1);
  try {
    return raw.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new SagaflowError("invalid_path", "the path is not valid percent-encoding");
  }
}

/**
 * The HTTP ingress as a Node request listener: `POST /{component}/{id}/{command}` with a JSON
 * body, `GET /{component}/{id}/{query}` with input in the query string, `GET /{workflow}/{id}`
 * and `GET /views/{view}/{query}`.
 */
export function ingressHandler(service: ServiceFacade, options: IngressOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const log = options.log ?? ((line: string) => console.error(line));
  const streams = new ViewStreams(service, resolveViewStreamSettings(options.viewStreams));

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? "/";
    const queryAt = target.indexOf("?");
    const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
    const segments = pathSegments(pathname);
    // The query string is only read by GET routes.
    const url = req.method === "GET" ? new URL(target, "http://localhost") : undefined;
    if (req.method === "GET" && pathname === "/health") {
      sendHealth(res, service.storeStatus());
      return;
    }
    if (segments[0] === "views" && segments.length === 3 && req.method === "GET") {
      await viewRoute(service, streams, req, res, segments[1]!, segments[2]!, url!);
      return;
    }
    if (segments[0] === "views" && segments.length === 3) {
      // A view query changes nothing: only GET reads it (a POST here is a common first guess).
      res.setHeader("allow", "GET");
      throw new SagaflowError("method_not_allowed", `views are read with GET: GET /views/${segments[1]}/${segments[2]}?param=value, not ${req.method}`, {
        status: 405,
      });
    }
    if (segments.length === 2 && req.method === "GET") {
      const [workflow, id] = segments as [string, string];
      const view = await service.workflowResult(workflow, id, waitMs(url!.searchParams.get("wait")));
      sendJson(res, 200, view);
      return;
    }
    if (segments.length !== 3) {
      throw notFound(`no route for ${req.method} ${pathname}; use /{component}/{id}/{command}`);
    }
    const [component, id, handler] = segments as [string, string, string];
    if (req.method === "POST") {
      const key = idempotencyKeyOf(req);
      const input = await readJsonBody(req, maxBodyBytes);
      const reply = await service.callForReply(component, id, handler, input, key === undefined ? {} : { idempotencyKey: key });
      if (!reply.ok) throw refusalError(reply);
      // The feed position of this write: pass it to a view query as waitForPosition to read it back.
      sendJson(res, 200, reply.value, reply.position === undefined ? {} : { "sagaflow-position": String(reply.position) });
    } else if (req.method === "GET") {
      const reply = await service.call(component, id, handler, inputFromQuery(url!.searchParams), { queryOnly: true });
      sendJson(res, 200, reply);
    } else {
      throw new SagaflowError("method_not_allowed", `${req.method} is not supported; use POST or GET`, { status: 405 });
    }
  }

  return (req, res) => {
    applySecurityHeaders(req, res);
    if (handleCors(req, res, options.corsFor?.(req) ?? options.cors)) return;
    route(req, res).catch((error: unknown) => {
      // A body we refused may still be arriving: drop the connection rather than read it. The
      // socket itself must go (`connection: close` makes Node end it after this response): the
      // body reader may already have destroyed `req`, which leaves the socket paused mid-body but
      // open, and a client reusing it (keep-alive) would wait forever.
      const unread = !req.complete;
      const socket = res.socket;
      if (unread && !res.headersSent) res.setHeader("connection", "close");
      if (!res.headersSent) sendError(res, error, log);
      if (unread) res.once("finish", () => socket?.destroy());
    });
  };
}

/** The HTTP ingress on its own server, with its connection limits (see server-limits.ts). */
export function createIngress(service: ServiceFacade, options: IngressOptions = {}): Server {
  const limits = resolveServerLimits(options.limits);
  const server = createServer(serverOptions(limits), ingressHandler(service, options));
  applyServerLimits(server, limits);
  return server;
}
