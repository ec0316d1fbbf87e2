import { Client } from "../client/client.ts";
import { checkComponentList, type ServiceComponent } from "../define/service.ts";
import { settle, VirtualClock } from "../runtime/clock.ts";
import { Runtime } from "../runtime/runtime.ts";
import type { AdminFacade } from "../runtime/facades.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import type { Principal } from "../define/auth.ts";
import type { EndpointDefinition, EndpointReply } from "../define/endpoint.ts";
import { SagaflowError } from "../define/errors.ts";
import type { ViewQueryOptions } from "../runtime/views/view-service.ts";
import { EndpointRouter } from "../http/endpoint-router.ts";
import { ExposedRoutes } from "../http/exposed-routes.ts";
import { checkInput } from "../http/input-check.ts";

/** A request to `ServiceUnderTest.request`. */
export interface TestRequestOptions {
  /** The verified caller (as if its token had been checked); without one, no credentials. */
  principal?: Principal;
  /** The JSON body (POST, PUT, PATCH). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** An endpoint's answer in the testkit. */
export interface TestResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  /** JSON value, text, or undefined (an empty answer or a stream). */
  body: unknown;
  /** The events of a `text/event-stream` answer, in order. */
  events?: unknown[];
}

async function testResponse(reply: EndpointReply): Promise<TestResponse> {
  const { status, headers, body } = reply;
  switch (body.kind) {
    case "json":
      return { status, headers, body: JSON.parse(JSON.stringify(body.value ?? {})) };
    case "text":
      return { status, headers, body: body.text };
    case "empty":
      return { status, headers, body: undefined };
    case "events": {
      const events: unknown[] = [];
      for await (const event of body.events) events.push(event);
      return { status, headers, body: undefined, events };
    }
  }
}

function pathSegments(path: string): string[] {
  try {
    return path.split("/").slice(1).map((s) => decodeURIComponent(s));
  } catch {
    throw new SagaflowError("invalid_path", "the path is not valid percent-encoding");
  }
}

/**
 * A whole service in process — entities, workflows, consumers, timers — on an in-memory store
 * with a virtual clock: `advance` fires timers, retries and timeouts without sleeping.
 *
 * @example
 * const t = await testService([user, email, reservations, confirmations]);
 * await t.client.call(user, "u1").register({ email: "a@b.c", name: "A" });
 * await t.settle();
 * await t.advance(10_000); // reservation timers fire
 * assert.deepEqual(await t.admin.timers("pending", 10), []);
 */
export class ServiceUnderTest {
  readonly clock = new VirtualClock();
  private readonly runtime: Runtime;
  readonly client: Client;
  /** What an operator sees and does (the admin API's operations): timers, parked messages, workflows, views. */
  readonly admin: AdminFacade;

  /** The endpoints' routes, checked for conflicts as `serve` checks them (a conflict fails the constructor). */
  private readonly router: EndpointRouter;

  constructor(components: readonly ServiceComponent[]) {
    // Views run their queries inside SQL: a service with views gets an in-memory SQLite store.
    const store = components.some((c) => c.kind === "view") ? new SqliteStore({ path: ":memory:" }) : new MemoryStore();
    this.runtime = new Runtime({ store, components, clock: this.clock, log: () => {} });
    const dispatcher = this.runtime.dispatcher;
    this.client = new Client({
      call: (...args) => dispatcher.call(...args),
      workflowResult: (...args) => dispatcher.workflowResult(...args),
      component: (name) => dispatcher.component(name),
      queryView: (...args) => this.runtime.service.queryView(...args),
    });
    this.admin = this.runtime.admin;
    this.router = new EndpointRouter(components.filter((c): c is EndpointDefinition => c.kind === "endpoint"), this.client);
    this.router.check(new ExposedRoutes(components));
  }

  /**
   * Sends a request to the service's endpoint routes without a socket: the route's access rule
   * (with `principal` as the verified caller; none: no credentials), its validators and its
   * handler run as over HTTP. Errors come back as `{ status, body: { error: { code, message } } }`;
   * an event stream as `events` (read to its end).
   *
   * @example
   * const res = await t.request("GET", "/customers/c1/overview", { principal: { subject: "c1", issuer: "bank-example", claims: {} } });
   * assert.equal(res.status, 200);
   */
  async request(method: string, path: string, options: TestRequestOptions = {}): Promise<TestResponse> {
    const router = this.router;
    try {
      const [pathname, search = ""] = path.split("?", 2) as [string, string?];
      const segments = pathSegments(pathname);
      const matched = router.match(method.toUpperCase(), segments);
      if (!matched) {
        const wrong = router.wrongMethod(segments, pathname, method.toUpperCase());
        if (wrong) return { status: 405, headers: { allow: wrong.allow }, body: { error: wrong.error.toJSON() } };
        throw new SagaflowError("not_found", `no endpoint route for ${method} ${pathname} (the testkit answers endpoint routes only)`, { status: 404 });
      }
      const principal = options.principal;
      const reply = await router.run(matched, {
        method: method.toUpperCase(),
        segments,
        path: pathname,
        query: new URLSearchParams(search),
        headers: { ...options.headers },
        readBody: async () => {
          const body = options.body ?? {};
          checkInput(body);
          return body;
        },
        signal: new AbortController().signal,
      }, async () => (principal ? { ok: true, principal } : { ok: false, status: 401, code: "missing_token", message: "no principal given" }));
      return await testResponse(reply);
    } catch (error) {
      if (!(error instanceof SagaflowError)) throw error;
      return { status: error.status, headers: {}, body: { error: error.toJSON() } };
    }
  }

  /** Runs a view's named query, as `GET /views/{view}/{query}` does. */
  query(view: string, query: string, params: Record<string, unknown> = {}, options: ViewQueryOptions = {}): Promise<unknown> {
    return this.runtime.service.queryView(view, query, params, options);
  }

  /** Starts the service (`testService` does this). */
  start(): Promise<void> {
    return this.runtime.start();
  }

  /** Lets everything that can happen without time passing happen (consumers and views catch up). */
  async settle(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      await settle();
      const head = await this.runtime.store.feedHead();
      const consumersDone = [...this.runtime.consumers.values()].every((c) => c.position >= head);
      const viewsDone = this.runtime.views.runners().every((v) => (v.serving?.offset ?? -1) >= head);
      if (consumersDone && viewsDone) {
        await settle();
        if ((await this.runtime.store.feedHead()) === head) return;
      }
    }
  }

  /** Moves virtual time on, firing what falls due, then settles. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
    await this.settle();
  }

  /** Stops the service; step attempts waiting on the virtual clock are abandoned, not waited for. */
  stop(): Promise<void> {
    this.runtime.workflows.abandonAttempts();
    return this.runtime.stop();
  }
}

export async function testService(components: readonly ServiceComponent[]): Promise<ServiceUnderTest> {
  checkComponentList("testService()", "its argument", components);
  const t = new ServiceUnderTest(components);
  await t.start();
  return t;
}
