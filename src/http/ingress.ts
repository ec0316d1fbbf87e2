import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { errors, refusalError, SagaflowError } from "../define/errors.ts";
import type { AccessRule } from "../define/access.ts";
import { workflowResultRoute } from "../define/exposure.ts";
import type { ServiceFacade } from "../runtime/facades.ts";
import { defaultMaxBodyBytes, idempotencyKeyOf, inputFromQuery, readJsonBody } from "./body.ts";
import { sendError, sendHealth, sendJson } from "./respond.ts";
import { viewRoute } from "./views-route.ts";
import { resolveViewStreamSettings, ViewStreams, type ViewStreamSettings } from "./view-streams.ts";
import type { ExposedRoutes } from "./exposed-routes.ts";
import type { EndpointRouter } from "./endpoint-router.ts";
import { writeEndpointReply } from "./endpoint-reply.ts";
import { waitForWorkflow } from "./long-poll.ts";
import { abandonedByCaller, answerSignal, toldToStop } from "./stopping.ts";
import { authorize, type Authenticate } from "./guard.ts";
import { applyServerLimits, resolveServerLimits, serverOptions, type ServerLimits } from "./server-limits.ts";
import { handleCors, type CorsConfig } from "./cors.ts";
import { applySecurityHeaders } from "./security-headers.ts";
import { inOrderPerConnection } from "./in-order.ts";
import { applyServerEdges } from "./server-edges.ts";
import { repeatedAuthorization } from "./auth-refusal.ts";

export interface IngressOptions {
  /** Which automatic routes exist and who may call them; without it, none (deny by default). */
  exposed?: ExposedRoutes;
  /** The service's own routes, matched first. */
  endpoints?: EndpointRouter;
  /** Verifies bearer tokens; without it, every route that is not public answers 401. */
  authenticate?: Authenticate;
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** Timeouts and connection bounds; unset ones come from the environment or the defaults. */
  limits?: Partial<ServerLimits>;
  /** How streamed view queries are refreshed; unset ones come from the environment or the defaults. */
  viewStreams?: Partial<ViewStreamSettings>;
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

/** The rule of an exposed handler; an unexposed one answers exactly as one that does not exist. */
function ruleOf(exposed: ExposedRoutes | undefined, component: string, handler: string): AccessRule {
  const rules = exposed?.component(component);
  if (!rules) throw errors.unknownComponent(component);
  const rule = rules.get(handler);
  if (!rule || handler === workflowResultRoute) throw errors.unknownCommand(component, handler);
  return rule;
}

/** As the view service answers an unknown view or query: an unexposed one looks the same. */
function viewRuleOf(exposed: ExposedRoutes | undefined, view: string, query: string): AccessRule {
  const rules = exposed?.view(view);
  if (!rules) throw new SagaflowError("unknown_view", `no view named "${view}"`, { status: 404 });
  const rule = rules.get(query);
  if (!rule) throw new SagaflowError("unknown_query", `view "${view}" has no query "${query}"`, { status: 404 });
  return rule;
}

/** Whether the automatic routes may answer this path: a component's or a view's, as exposed. */
function componentPath(exposed: ExposedRoutes | undefined, segments: readonly string[]): boolean {
  if (segments[0] === "views" && segments.length === 3) return exposed?.view(segments[1]!) !== undefined;
  return (segments.length === 2 || segments.length === 3) && exposed?.component(segments[0]!) !== undefined;
}

/** 405 `method_not_allowed`, with the `Allow` header naming the methods the path answers. */
function methodNotAllowed(res: ServerResponse, allowed: readonly string[], message: string): SagaflowError {
  res.setHeader("allow", allowed.join(", "));
  return new SagaflowError("method_not_allowed", message, { status: 405 });
}

/**
 * The HTTP ingress as a Node request listener: `POST /{component}/{id}/{command}` with a JSON
 * body, `GET /{component}/{id}/{query}` with input in the query string, `GET /{workflow}/{id}`
 * and `GET /views/{view}/{query}` for what the definitions expose, and the service's endpoints.
 * Every route's access rule is applied before its body is read or anything else runs.
 */
export function ingressHandler(service: ServiceFacade, options: IngressOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const log = options.log ?? ((line: string) => console.error(line));
  const streams = new ViewStreams(service, resolveViewStreamSettings(options.viewStreams));
  const { exposed, endpoints, authenticate } = options;
  const authorization = (req: IncomingMessage) => req.headers.authorization;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const repeated = repeatedAuthorization(req);
    if (repeated) throw repeated;
    const target = req.url ?? "/";
    const queryAt = target.indexOf("?");
    const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
    const segments = pathSegments(pathname);
    // HEAD is answered as GET, without the body (Node leaves it out): a health check or a link
    // checker asking with HEAD gets what GET would say.
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "");
    // The query string is only read by GET routes.
    const url = method === "GET" ? new URL(target, "http://localhost") : undefined;
    if (method === "GET" && pathname === "/health") {
      sendHealth(res, service.storeStatus(), "public");
      return;
    }
    const matched = endpoints?.match(req.method ?? "", segments);
    if (matched) {
      const signal = answerSignal(res);
      const reply = await endpoints!.run(matched, {
        method: req.method ?? "",
        segments,
        path: pathname,
        query: new URL(target, "http://localhost").searchParams,
        headers: req.headers as Record<string, string | undefined>,
        readBody: () => readJsonBody(req, maxBodyBytes),
        signal,
      }, authenticate).catch((error: unknown) => {
        // A handler that failed once the stop aborted its signal (an AbortError): retry later, not a 500.
        if (toldToStop(res) && !(error instanceof SagaflowError)) throw errors.stopped();
        throw abandonedByCaller(res, signal, error) ?? error;
      });
      await writeEndpointReply(res, reply, signal, log);
      return;
    }
    if (endpoints && !componentPath(exposed, segments)) {
      // An endpoint's path with another method: say which methods it answers, not "no component".
      const wrong = endpoints.wrongMethod(segments, pathname, req.method ?? "");
      if (wrong) {
        res.setHeader("allow", wrong.allow);
        throw wrong.error;
      }
    }
    if (segments[0] === "views" && segments.length === 3) {
      const rule = viewRuleOf(exposed, segments[1]!, segments[2]!);
      if (method === "GET") {
        await authorize(rule, authorization(req), {}, authenticate);
        await viewRoute(service, streams, req, res, segments[1]!, segments[2]!, url!);
        return;
      }
      // A view query changes nothing: only GET reads it (a POST here is a common first guess).
      throw methodNotAllowed(res, ["GET", "HEAD"], `views are read with GET: GET /views/${segments[1]}/${segments[2]}?param=value, not ${req.method}`);
    }
    if (segments.length === 2 && method === "GET") {
      const [workflow, id] = segments as [string, string];
      const rules = exposed?.component(workflow);
      if (!rules) throw errors.unknownComponent(workflow);
      const rule = rules.get(workflowResultRoute);
      if (!rule) throw notFound(`no route for ${req.method} ${pathname}; use /{component}/{id}/{command}`);
      await authorize(rule, authorization(req), { id }, authenticate);
      const view = await waitForWorkflow(service, res, workflow, id, waitMs(url!.searchParams.get("wait")));
      if (view) sendJson(res, 200, view); // else the caller left
      return;
    }
    if (segments.length !== 3) {
      throw notFound(`no route for ${req.method} ${pathname}; use /{component}/{id}/{command}`);
    }
    const [component, id, handler] = segments as [string, string, string];
    const rule = ruleOf(exposed, component, handler);
    if (method !== "POST" && method !== "GET") throw methodNotAllowed(res, ["GET", "HEAD", "POST"], `${req.method} is not supported; use POST or GET`);
    // Before the body is read, the input parsed or the instance touched.
    const principal = await authorize(rule, authorization(req), { id }, authenticate);
    const who = principal === undefined ? {} : { principal };
    if (method === "POST") {
      const key = idempotencyKeyOf(req);
      const input = await readJsonBody(req, maxBodyBytes);
      const reply = await service.callForReply(component, id, handler, input, key === undefined ? who : { idempotencyKey: key, ...who });
      if (!reply.ok) throw refusalError(reply);
      // The feed position of this write: pass it to a view query as waitForPosition to read it back.
      sendJson(res, 200, reply.value, reply.position === undefined ? {} : { "sagaflow-position": String(reply.position) });
    } else {
      const reply = await service.call(component, id, handler, inputFromQuery(url!.searchParams), { queryOnly: true, ...who }).catch((error: unknown) => {
        // A command read with GET: it answers POST only.
        if (error instanceof SagaflowError && error.code === "method_not_allowed") res.setHeader("allow", "POST");
        throw error;
      });
      sendJson(res, 200, reply);
    }
  }

  return inOrderPerConnection((req, res) => {
    applySecurityHeaders(req, res);
    if (handleCors(req, res, options.corsFor?.(req) ?? options.cors)) return;
    route(req, res).catch((error: unknown) => {
      // A body still arriving is read and dropped after the answer, and the connection closed (sendJson).
      if (!res.headersSent) sendError(res, error, log, "public");
    });
  });
}

/** The HTTP ingress on its own server, with its connection limits (see server-limits.ts). */
export function createIngress(service: ServiceFacade, options: IngressOptions = {}): Server {
  const limits = resolveServerLimits(options.limits);
  const server = createServer(serverOptions(limits), ingressHandler(service, options));
  applyServerLimits(server, limits);
  applyServerEdges(server);
  return server;
}
