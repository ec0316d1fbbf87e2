import type { CallOptions, InstanceClient } from "../define/handlers.ts";
import type { Component } from "../define/service.ts";
import type { ViewDefinition } from "../define/view.ts";
import type { WorkflowDefinition, WorkflowView } from "../define/workflow.ts";
import { Transport, type HeadersSource } from "./http-transport.ts";
import type { RetryTiming } from "./retry-delay.ts";

/**
 * Options of one call over HTTP: the in-process `CallOptions`, plus what only HTTP has.
 *
 * @example
 * await api.call(wallet, "alice").deposit({ amount: 5 }, { idempotencyKey: "order-17", signal: AbortSignal.timeout(5_000) });
 */
export interface HttpCallOptions extends CallOptions {
  /** Aborts the call (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Extra headers for this call only. */
  headers?: Record<string, string>;
}

/**
 * The commands and queries of one instance, as methods: the same shape as the in-process
 * `client.call(definition, id)`, so calling code reads the same in both places.
 *
 * @example
 * const alice: HttpInstanceClient<typeof wallet> = api.call(wallet, "alice");
 * const { balance } = await alice.balance();
 */
export type HttpInstanceClient<D> = InstanceClient<D, HttpCallOptions>;

/** The state type of a workflow definition. */
type StateOf<D> = D extends WorkflowDefinition<infer S> ? S : unknown;

/**
 * A workflow instance: `start`, its commands and queries, and `result` (which takes the place of
 * a command or query named `result`; call that one with `api.call`).
 *
 * @example
 * const t = api.workflow(transfer, "t1");
 * await t.start({ from: "alice", to: "bob", amount: 5 });
 * const { status, state } = await t.result({ wait: 30 });
 */
export type HttpWorkflowClient<D> = Omit<HttpInstanceClient<D>, "result"> & {
  /**
   * `GET /{workflow}/{id}`: `{ id, status, step, state }`. With `wait` (seconds, at most 60),
   * the answer is held until the workflow is over (ended, failed or terminated) or the wait
   * runs out — look at `status` to tell which.
   */
  result(options?: { wait?: number; signal?: AbortSignal }): Promise<WorkflowView<StateOf<D>>>;
};

/**
 * The query names of a view definition (any string when they are not known).
 *
 * @example
 * type CartQueries = ViewQueryName<typeof carts>; // "byUser" | "open"
 */
export type ViewQueryName<V> = V extends ViewDefinition<infer Q> ? (string extends keyof Q ? string : keyof Q & string) : string;

/**
 * What a view query answers: `{ <name>: rows }`, `{ rows }` or `{ count }`, and a page token when
 * more rows follow.
 *
 * @example
 * const page: ViewQueryResult = await api.view(carts).query("open");
 * if (page.nextPageToken) await api.view(carts).query("open", {}, { pageToken: page.nextPageToken });
 */
export interface ViewQueryResult {
  nextPageToken?: string;
  [key: string]: unknown;
}

/**
 * Options of a view query.
 *
 * @example
 * await api.view(carts).query("byUser", { userId: "u1" }, { waitForPosition: api.lastPosition });
 */
export interface ViewQueryOptions {
  /** A previous page's `nextPageToken`. */
  pageToken?: string;
  /**
   * Waits (boundedly, on the server) until the view has caught up with this feed position:
   * pass `api.lastPosition` to read your own writes.
   */
  waitForPosition?: number;
  signal?: AbortSignal;
}

/**
 * The named queries of one view, checked against its definition.
 *
 * @example
 * const { carts: rows } = await api.view(carts).query<{ carts: CartRow[] }>("byUser", { userId: "u1" });
 */
export interface HttpViewClient<V> {
  /**
   * `GET /views/{view}/{query}?param=…`. `R` names the result's shape (the rows are the view's,
   * so the definition cannot tell their type); `nextPageToken` is there when more rows follow.
   */
  query<R extends object = ViewQueryResult>(
    name: ViewQueryName<V>,
    params?: Record<string, unknown>,
    options?: ViewQueryOptions,
  ): Promise<R & { nextPageToken?: string }>;
}

/**
 * Options of `httpClient`.
 *
 * @example
 * const api = httpClient("https://bank.internal", {
 *   headers: async () => ({ authorization: `Bearer ${await token()}` }),
 *   retries: 5,
 *   retryTiming: { maxDelayMs: 2_000 },
 *   timeoutMs: 10_000,
 * });
 */
export interface HttpClientOptions {
  /** Sent with every request (say `authorization`); a function is asked before each request. */
  headers?: HeadersSource;
  /**
   * Retries after the first attempt, of a 503 (with or without `Retry-After`) or of a request that
   * got no answer (refused, dropped, cut short, timed out) — only GETs and commands with an
   * idempotency key. Default 3; 0 turns them off.
   */
  retries?: number;
  /** Back-off without `Retry-After` (default 200 ms, doubling) and the longest wait (default 5 s). */
  retryTiming?: Partial<RetryTiming>;
  /**
   * How long one attempt may take, from sending to the end of the answer's body (default 30 s);
   * past it the attempt counts as no answer. `result({ wait })` gets `wait` seconds more.
   */
  timeoutMs?: number;
  /**
   * Gives each command called without an `idempotencyKey` a fresh one (default true), so that a
   * retry cannot apply it twice. With `false`, such a command is sent once and never retried.
   */
  autoIdempotencyKeys?: boolean;
  /** The `fetch` to use (default the global one): for tests, proxies, or another agent. */
  fetch?: typeof fetch;
}

/**
 * A typed client of a Sagaflow service over HTTP; `httpClient(url)` makes one.
 *
 * @example
 * const api: HttpClient = httpClient("http://127.0.0.1:3000");
 * await api.call(wallet, "alice").create({ initialBalance: 100 });
 * // Without importing the definitions' module, by name and type only:
 * await api.call<typeof wallet>("wallet", "alice").deposit({ amount: 5 });
 */
export interface HttpClient {
  /**
   * An entity's, key-value entity's or workflow's instance: its commands (POST) and queries
   * (GET) as methods, typed from the definition.
   */
  call<D extends Component>(definition: D, id: string): HttpInstanceClient<D>;
  /**
   * The same, for a program that cannot import the definitions' module: name the component and
   * give its type (`call<typeof wallet>("wallet", id)`). Without the definition the client
   * cannot tell queries from commands, so every call is a POST (the service takes both).
   */
  call<D extends Component = never>(name: string, id: string): HttpInstanceClient<D>;
  /** A workflow (or saga) instance: `start`, its commands and queries, and `result({ wait })`. */
  workflow<D extends WorkflowDefinition>(definition: D, id: string): HttpWorkflowClient<D>;
  /** The same by name, typed with `workflow<typeof transfer>("transfer", id)`. */
  workflow<D extends WorkflowDefinition = never>(name: string, id: string): HttpWorkflowClient<D>;
  /** A view's named queries, checked against the definition. */
  view<V extends ViewDefinition<any>>(definition: V): HttpViewClient<V>;
  /** The same by name, typed with `view<typeof carts>("carts")`. */
  view<V extends ViewDefinition<any> = ViewDefinition>(name: string): HttpViewClient<V>;
  /**
   * The highest feed position this client's commands have written (`Sagaflow-Position`), or
   * `undefined` before the first: a view query with `{ waitForPosition: api.lastPosition }`
   * sees every write this client made.
   */
  readonly lastPosition: number | undefined;
}

/** View query parameters the route reads itself; a view parameter cannot be named so. */
const reservedParams = new Set(["pageToken", "waitForPosition"]);

/** How long a service holds a view query for its `waitForPosition` (the server's own bound; a test keeps the two equal). */
export const viewPositionWaitMs = 5_000;

/** Query-string values are JSON (`"alice"` with its quotes, `5`, `true`), as the service reads them. */
function queryParams(input: unknown): Array<[string, string]> {
  if (input === undefined || input === null) return [];
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new TypeError(`a query's input must be an object of named values, not ${JSON.stringify(input)}`);
  }
  return Object.entries(input)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]): [string, string] => [name, JSON.stringify(value)]);
}

/**
 * A typed client of a running Sagaflow service, over HTTP, for another program. Types come from
 * the service's definitions (imported as values: they are plain data, cheap to import); nothing
 * is generated. It speaks the service's HTTP contract:
 *
 * - commands are `POST /{component}/{id}/{command}` with a JSON body; queries are
 *   `GET /{component}/{id}/{query}?name=<JSON value>`;
 * - workflows: `start` is `POST /{workflow}/{id}/start`, `result` is `GET /{workflow}/{id}?wait=N`;
 * - views: `GET /views/{view}/{query}?param=…&pageToken=…&waitForPosition=N`.
 *
 * Every error answer rejects with a `SagaflowError` carrying the service's `code`, `message` and
 * HTTP `status` (an answer that is not Sagaflow's JSON gets code `http_error`; no answer at all,
 * code `network_error` and status 0, with the command's key in `details.idempotencyKey`). Each
 * attempt has `timeoutMs` (default 30 s) to get its whole answer. A 503 is retried (`retries`,
 * default 3), after the `Retry-After` it gives or a back-off (capped, with jitter), and so is a
 * request that got no answer — but only a GET or a command with an idempotency key: the retry
 * sends the same `Idempotency-Key`, so the service applies the command once. A command called
 * without a key gets a fresh one per call (turn this off with `autoIdempotencyKeys: false`; such
 * commands are then never retried).
 *
 * @example
 * import { httpClient } from "sagaflow/client";
 * import { wallet } from "./wallet.ts";
 *
 * const api = httpClient("http://127.0.0.1:3000");
 * await api.call(wallet, "alice").deposit({ amount: 5 }, { idempotencyKey: "k1" });
 * const { balance } = await api.call(wallet, "alice").balance();
 */
export function httpClient(baseUrl: string, options: HttpClientOptions = {}): HttpClient {
  const transport = new Transport(baseUrl, options);
  const autoKeys = options.autoIdempotencyKeys ?? true;

  const invoke = (component: string, id: string, handler: string, isQuery: boolean) => async (input?: unknown, callOptions: HttpCallOptions = {}) => {
    const common = {
      segments: [component, id, handler],
      ...(callOptions.signal === undefined ? {} : { signal: callOptions.signal }),
      ...(callOptions.headers === undefined ? {} : { headers: callOptions.headers }),
    };
    if (isQuery) return transport.send({ method: "GET", query: queryParams(input), ...common });
    const key = callOptions.idempotencyKey ?? (autoKeys ? crypto.randomUUID() : undefined);
    return transport.send({ method: "POST", body: input ?? {}, ...(key === undefined ? {} : { idempotencyKey: key }), ...common });
  };

  /** With the definition: each declared handler, a query by GET, a command by POST. */
  const instance = (definition: Component, id: string): Record<string, unknown> => {
    const methods: Record<string, unknown> = {};
    for (const name of Object.keys(definition.commands)) methods[name] = invoke(definition.name, id, name, false);
    for (const name of Object.keys(definition.queries)) methods[name] = invoke(definition.name, id, name, true);
    return methods;
  };

  /** By name only: any method name is a handler, sent by POST. */
  const namedInstance = (name: string, id: string, own: Record<string, unknown> = {}): Record<string, unknown> =>
    new Proxy(own, {
      get(target, handler) {
        if (typeof handler !== "string") return undefined;
        if (Object.hasOwn(target, handler)) return target[handler];
        // Not a thenable: `await api.call("x", id)` must not call a handler named "then".
        if (handler === "then") return undefined;
        return invoke(name, id, handler, false);
      },
    });

  const result = (name: string, id: string) => ({ wait, signal }: { wait?: number; signal?: AbortSignal } = {}) =>
    transport.send({
      method: "GET",
      segments: [name, id],
      query: wait === undefined ? [] : [["wait", String(wait)]],
      // The server holds the answer up to `wait` seconds: the attempt's timeout must outlast it.
      holdMs: wait !== undefined && wait > 0 ? wait * 1000 : 0,
      ...(signal === undefined ? {} : { signal }),
    });

  const viewClient = (name: string): HttpViewClient<unknown> => ({
    // Async, so that bad parameters reject like every other error rather than throw.
    async query(queryName, params, queryOptions = {}) {
      const query = queryParams(params);
      for (const [param] of query) {
        if (reservedParams.has(param)) throw new TypeError(`view parameter "${param}" is reserved: pass it in the options`);
      }
      if (queryOptions.pageToken !== undefined) query.push(["pageToken", queryOptions.pageToken]);
      if (queryOptions.waitForPosition !== undefined) query.push(["waitForPosition", String(queryOptions.waitForPosition)]);
      return transport.send({
        method: "GET",
        segments: ["views", name, queryName],
        query,
        // The server holds a query waiting for its position up to 5 s: the attempt's timeout must outlast it.
        holdMs: queryOptions.waitForPosition === undefined ? 0 : viewPositionWaitMs,
        ...(queryOptions.signal === undefined ? {} : { signal: queryOptions.signal }),
      }) as never;
    },
  });

  return {
    call: (target: Component | string, id: string) =>
      (typeof target === "string" ? namedInstance(target, id) : instance(target, id)) as never,
    workflow: (target: WorkflowDefinition | string, id: string) =>
      (typeof target === "string"
        ? namedInstance(target, id, { result: result(target, id) })
        : { ...instance(target, id), result: result(target.name, id) }) as never,
    view: (target: ViewDefinition<any> | string) => viewClient(typeof target === "string" ? target : target.name),
    get lastPosition() {
      return transport.lastPosition;
    },
  };
}
