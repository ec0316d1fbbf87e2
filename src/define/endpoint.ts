import { checkRuleParams, isAccessRule, type AccessRule, type Principal } from "./access.ts";
import { checkComponentName, described } from "./component.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";
import type { InstanceClient } from "./handlers.ts";
import type { Component } from "./service.ts";
import type { ViewDefinition } from "./view.ts";
import type { WorkflowDefinition, WorkflowView } from "./workflow.ts";

/** The in-process client as endpoints see it (the `Client` of `app.client`). */
export interface EndpointClient {
  call<D extends Component>(definition: D, id: string): InstanceClient<D>;
  /** With `waitSeconds`, waits for its end; the wait ends early when the request's signal aborts (or `options.signal`). */
  result<S>(definition: WorkflowDefinition<S>, id: string, waitSeconds?: number, options?: { signal?: AbortSignal }): Promise<WorkflowView<S>>;
  query<Q extends Record<string, string>>(
    definition: ViewDefinition<Q>,
    query: keyof Q & string,
    params?: Record<string, unknown>,
    options?: { pageToken?: string; waitForPosition?: number },
  ): Promise<unknown>;
}

/** HTTP methods an endpoint route may answer. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** The parameters a path template names: `/customers/:id/overview` → `{ id: string }`. */
export type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? { [K in Name]: string } & PathParams<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? { [K in Name]: string }
    : {};

/** What a route handler receives about the request (params, query and body already validated). */
export interface EndpointRequest<Params, Query, Body> {
  readonly method: HttpMethod;
  /** The path as sent, without the query string. */
  readonly path: string;
  readonly params: Params;
  /** Query-string values, read as JSON when they parse (`?n=5` is a number), else as strings. */
  readonly query: Query;
  /** The JSON body (`{}` when empty); GET and DELETE routes get `{}`. */
  readonly body: Body;
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The caller, verified from its bearer token; undefined on a public route. */
  readonly principal: Principal | undefined;
}

/** What a route handler can use: the service's components, in process and typed. */
export interface EndpointContext {
  /** Commands, queries, workflow start (`call(wf, id).start(…)`) and result, view queries. */
  readonly client: EndpointClient;
  /**
   * Aborted when the caller goes away or half-closes its connection (TCP cannot tell the two
   * apart; an answer is still sent), and when the service stops (then with a `shutting_down` error
   * as its reason): pass it to what the handler waits on, and end an event stream's waits on it.
   * A stop closes the connection of a handler that ignores it after `SAGAFLOW_SHUTDOWN_DRAIN_MS` (10 s).
   */
  readonly signal: AbortSignal;
}

/** One event of a `text/event-stream` answer: `data` is sent as JSON (a string as it is). */
export interface ServerSentEvent {
  event?: string;
  id?: string;
  data: unknown;
}

/** An answer built with `reply`: status, headers and a JSON, text or event-stream body. */
export class EndpointReply {
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly body:
      | { kind: "json"; value: unknown }
      | { kind: "text"; text: string }
      | { kind: "events"; events: AsyncIterable<ServerSentEvent> }
      | { kind: "empty" },
  ) {
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new TypeError(`reply status must be 200–599, not ${String(status)}`);
  }
}

interface ReplyOptions {
  status?: number;
  headers?: Record<string, string>;
}

/**
 * Answers of endpoint routes. A handler may also return a plain value (200, JSON) or nothing
 * (204); to refuse, throw a `SagaflowError` (`{"error": {"code","message"}}` with its status).
 *
 * @example
 * return reply.json({ id }, { status: 201, headers: { location: `/orders/${id}` } });
 */
export const reply = {
  json: (value: unknown, options: ReplyOptions = {}) => new EndpointReply(options.status ?? 200, options.headers ?? {}, { kind: "json", value }),
  text: (text: string, options: ReplyOptions = {}) => new EndpointReply(options.status ?? 200, options.headers ?? {}, { kind: "text", text }),
  /**
   * A `text/event-stream`: each item of `events` is sent as it comes; the stream ends with it, or
   * when the caller goes away or the service stops (`events` is then closed at its next item: a
   * generator that waits without yielding must end on the handler's `signal`).
   */
  events: (events: AsyncIterable<ServerSentEvent>, options: Omit<ReplyOptions, "status"> = {}) =>
    new EndpointReply(200, options.headers ?? {}, { kind: "events", events }),
  empty: (options: ReplyOptions = {}) => new EndpointReply(options.status ?? 204, options.headers ?? {}, { kind: "empty" }),
};

export interface RouteOptions<Params, Query, Body> {
  /** Who may call the route (required: an endpoint route states it, `access.anyone` included). */
  access: AccessRule;
  /** Validates the path parameters (strings); its output is `request.params`. */
  params?: StandardSchemaV1<unknown, Params>;
  /** Validates the query string's values; its output is `request.query`. */
  query?: StandardSchemaV1<unknown, Query>;
  /** Validates the JSON body; its output is `request.body`. */
  body?: StandardSchemaV1<unknown, Body>;
}

export type RouteHandler<Params, Query, Body> = (
  request: EndpointRequest<Params, Query, Body>,
  context: EndpointContext,
) => unknown;

/** One route of an endpoint. */
export interface EndpointRoute {
  readonly method: HttpMethod;
  readonly path: string;
  /** The template's segments: literals, or `:name` parameters. */
  readonly segments: ReadonlyArray<{ literal: string } | { param: string }>;
  readonly options: RouteOptions<unknown, unknown, unknown>;
  readonly handler: RouteHandler<any, any, any>;
}

const paramPattern = /^:([A-Za-z_][A-Za-z0-9_]*)$/;
const literalPattern = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;

function parseTemplate(method: string, path: string): EndpointRoute["segments"] {
  if (!path.startsWith("/") || path === "/") throw new TypeError(`route ${method} ${path}: a path starts with "/" and has at least one segment`);
  const seen = new Set<string>();
  return path.slice(1).split("/").map((segment) => {
    const param = paramPattern.exec(segment)?.[1];
    if (param !== undefined) {
      if (seen.has(param)) throw new TypeError(`route ${method} ${path}: parameter :${param} appears twice`);
      seen.add(param);
      return { param };
    }
    if (!literalPattern.test(segment)) throw new TypeError(`route ${method} ${path}: invalid segment "${segment}"`);
    return { literal: segment };
  });
}

function makeRoute(method: HttpMethod) {
  return <const P extends string, Params = PathParams<P>, Query = Record<string, unknown>, Body = Record<string, unknown>>(
    path: P,
    options: RouteOptions<Params, Query, Body>,
    handler: RouteHandler<Params, Query, Body>,
  ): EndpointRoute => {
    if (typeof path !== "string") throw new TypeError(`route ${method}: the path must be a string such as "/customers/:id", got ${described(path)}`);
    if (!isAccessRule(options?.access)) throw new TypeError(`route ${method} ${path}: options.access must be an access rule (access.anyone, …)`);
    if (typeof handler !== "function") throw new TypeError(`route ${method} ${path}: the handler (third argument) must be a function, got ${described(handler)}`);
    const segments = parseTemplate(method, path);
    checkRuleParams(options.access, segments.flatMap((s) => ("param" in s ? [s.param] : [])), `route ${method} ${path}`);
    return { method, path, segments, options: options, handler };
  };
}

/**
 * Routes of an endpoint: method, path template with `:param`s, options (access rule, validators)
 * and the handler.
 *
 * @example
 * route.get("/customers/:id/overview", { access: access.authenticated }, async ({ params }, { client }) =>
 *   client.call(customer, params.id).get())
 */
export const route = {
  get: makeRoute("GET"),
  post: makeRoute("POST"),
  put: makeRoute("PUT"),
  patch: makeRoute("PATCH"),
  delete: makeRoute("DELETE"),
};

export interface EndpointDefinition {
  readonly kind: "endpoint";
  readonly name: string;
  readonly routes: readonly EndpointRoute[];
}

/**
 * Defines an endpoint: HTTP routes of your own, part of a service (list it in `service(…)`),
 * calling the components in process through a typed client. Two routes that match the same
 * request (here, in another endpoint, or a component's exposed route) stop start-up.
 *
 * @example
 * export const overview = endpoint("overview", [
 *   route.get("/customers/:id/overview", { access: access.authenticated }, async ({ params }, { client }) => {
 *     const profile = await client.call(customer, params.id).get();
 *     return reply.json({ name: profile.name });
 *   }),
 * ]);
 */
export function endpoint(name: string, routes: readonly EndpointRoute[]): EndpointDefinition {
  checkComponentName(name);
  if (!Array.isArray(routes) || routes.length === 0) throw new TypeError(`endpoint "${name}" needs at least one route`);
  routes.forEach((r: unknown, i) => {
    const made = typeof r === "object" && r !== null && "segments" in r && typeof (r as { handler?: unknown }).handler === "function";
    if (!made) throw new TypeError(`endpoint "${name}": routes[${i}] must be made with route.get/post/put/patch/delete(path, options, handler), got ${described(r)}`);
  });
  return { kind: "endpoint", name, routes: [...routes] };
}
