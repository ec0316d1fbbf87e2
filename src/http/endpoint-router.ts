import type { Client } from "../client/client.ts";
import type { EndpointDefinition, EndpointRoute } from "../define/endpoint.ts";
import { EndpointReply } from "../define/endpoint.ts";
import { SagaflowError } from "../define/errors.ts";
import { workflowResultRoute } from "../define/exposure.ts";
import { validateInput } from "../runtime/validate-input.ts";
import { inputFromQuery } from "./body.ts";
import type { ExposedRoutes } from "./exposed-routes.ts";
import { authorize, type Authenticate } from "./guard.ts";

/** A request as the router sees it, from a socket or from the testkit. */
export interface RouterRequest {
  method: string;
  /** Percent-decoded path segments. */
  segments: readonly string[];
  path: string;
  query: URLSearchParams;
  headers: Readonly<Record<string, string | undefined>>;
  /** Reads the JSON body (called after the access check, only for methods that carry one). */
  readBody: () => Promise<unknown>;
  signal: AbortSignal;
}

interface Matched {
  route: EndpointRoute;
  endpoint: string;
  params: Record<string, string>;
}

type Segment = EndpointRoute["segments"][number];
const shown = (route: EndpointRoute, endpoint: string) => `${route.method} ${route.path} (endpoint "${endpoint}")`;

/** Whether a segment of a template can match the literal `name` (or anything, with `name` undefined). */
const fits = (segment: Segment, name: string | undefined) => "param" in segment || name === undefined || segment.literal === name;

/**
 * The routes of a service's endpoints: matched before the components' automatic routes, so two
 * routes that match one request would make one unreachable; `check` refuses that at start-up.
 */
export class EndpointRouter {
  private readonly routes: Array<{ route: EndpointRoute; endpoint: string }> = [];

  constructor(
    endpoints: readonly EndpointDefinition[],
    private readonly client: Client,
  ) {
    for (const endpoint of endpoints) for (const route of endpoint.routes) this.routes.push({ route, endpoint: endpoint.name });
  }

  get size(): number {
    return this.routes.length;
  }

  /**
   * Throws, naming both, if two endpoint routes, or an endpoint route and an exposed component
   * route, match the same request.
   */
  check(exposed: ExposedRoutes): void {
    this.routes.forEach(({ route: a, endpoint: ea }, index) => {
      for (const { route: b, endpoint: eb } of this.routes.slice(index + 1)) {
        if (a.method === b.method && a.segments.length === b.segments.length && a.segments.every((s, i) => overlaps(s, b.segments[i]!))) {
          throw new TypeError(`route conflict: ${shown(a, ea)} and ${shown(b, eb)} match the same requests`);
        }
      }
      const conflict = componentConflict(a, exposed);
      if (conflict) throw new TypeError(`route conflict: ${shown(a, ea)} and ${conflict} match the same requests`);
    });
  }

  /** The route matching the method and path, with its raw path parameters (HEAD is answered by a GET route). */
  match(method: string, segments: readonly string[]): Matched | undefined {
    const wanted = method === "HEAD" ? "GET" : method;
    for (const { route, endpoint } of this.routes) {
      if (route.method !== wanted) continue;
      const params = paramsOf(route, segments);
      if (params) return { route, endpoint, params };
    }
    return undefined;
  }

  /**
   * For a path endpoint routes answer under other methods than `method`: the `Allow` header's
   * value and the 405 to answer (undefined when no route has this path).
   */
  wrongMethod(segments: readonly string[], pathname: string, method: string): { allow: string; error: SagaflowError } | undefined {
    const methods = new Set<string>(this.routes.filter(({ route }) => paramsOf(route, segments)).map(({ route }) => route.method));
    if (methods.size === 0) return undefined;
    if (methods.has("GET")) methods.add("HEAD");
    const allow = [...methods].join(", ");
    return { allow, error: new SagaflowError("method_not_allowed", `${pathname} answers ${allow}, not ${method}`, { status: 405 }) };
  }

  /**
   * Runs a matched route: the access rule first (401/403 before anything is read), then the
   * validators of params, query and body (400 `invalid_input` with paths), then the handler.
   */
  async run(matched: Matched, request: RouterRequest, authenticate: Authenticate | undefined): Promise<EndpointReply> {
    const { route, params: raw } = matched;
    const where = `${route.method} ${route.path}`;
    const principal = await authorize(route.options.access, request.headers.authorization, raw, authenticate);
    const params = await validateInput(route.options.params, raw, `${where} (path parameters)`);
    const query = await validateInput(route.options.query, inputFromQuery(request.query), `${where} (query)`);
    const carriesBody = route.method === "POST" || route.method === "PUT" || route.method === "PATCH";
    const body = await validateInput(route.options.body, carriesBody ? await request.readBody() : {}, `${where} (body)`);
    const result = await route.handler(
      { method: route.method, path: request.path, params, query, body, headers: request.headers, principal },
      // The endpoint's calls carry its caller: handlers read who did it as fx.principal.
      { client: this.client.actingFor(principal, request.signal), signal: request.signal },
    );
    if (result instanceof EndpointReply) return result;
    if (result === undefined) return new EndpointReply(204, {}, { kind: "empty" });
    return new EndpointReply(200, {}, { kind: "json", value: result });
  }
}

/** The raw path parameters if `route`'s template matches `segments` (a parameter takes no empty segment). */
function paramsOf(route: EndpointRoute, segments: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  const ok = route.segments.every((segment, i) => {
    const value = segments[i]!;
    if ("literal" in segment) return segment.literal === value;
    if (value === "") return false;
    params[segment.param] = value;
    return true;
  });
  return ok ? params : undefined;
}

function overlaps(a: Segment, b: Segment): boolean {
  return "param" in a || "param" in b || a.literal === b.literal;
}

/** The exposed automatic route an endpoint route shadows, if any, described for the error. */
function componentConflict(route: EndpointRoute, exposed: ExposedRoutes): string | undefined {
  const s = route.segments;
  if (route.method === "GET" && s.length === 1 && fits(s[0]!, "health")) return "the built-in health check GET /health";
  if (route.method === "GET" && s.length === 3 && fits(s[0]!, "views")) {
    for (const [view, rules] of exposed.viewRoutes()) {
      if (!fits(s[1]!, view)) continue;
      for (const query of rules.keys()) if (fits(s[2]!, query)) return `the view query GET /views/${view}/${query}`;
    }
  }
  if (route.method !== "GET" && route.method !== "POST") return undefined;
  for (const [component, rules] of exposed.componentRoutes()) {
    if (!fits(s[0]!, component)) continue;
    if (s.length === 2 && route.method === "GET" && rules.has(workflowResultRoute)) return `the workflow route GET /${component}/{id}`;
    if (s.length !== 3) continue;
    for (const handler of rules.keys()) {
      if (handler === workflowResultRoute || !fits(s[2]!, handler)) continue;
      // POST reaches every handler; GET on a command answers 405 there, which counts as taken too.
      return `the component route ${route.method} /${component}/{id}/${handler}`;
    }
  }
  return undefined;
}
