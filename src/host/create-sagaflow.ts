import type { RetentionSettings } from "../runtime/retention/retention-service.ts";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createAuthenticator, type Authenticator } from "../auth/authenticator.ts";
import type { TracerProvider } from "@opentelemetry/api";
import { Client, type ClientDispatcher } from "../client/client.ts";
import type { AuthConfig } from "../define/auth.ts";
import { errors, SagaflowError } from "../define/errors.ts";
import type { Component, ServiceDefinition } from "../define/service.ts";
import { adminHandler } from "../http/admin.ts";
import { ingressHandler } from "../http/ingress.ts";
import { ExposedRoutes } from "../http/exposed-routes.ts";
import { EndpointRouter } from "../http/endpoint-router.ts";
import type { Authenticate } from "../http/guard.ts";
import type { EndpointDefinition } from "../define/endpoint.ts";
import { sendError } from "../http/respond.ts";
import { drainAnswers, shutdownDrainMs, stopAnswers } from "../http/stopping.ts";
import type { Clock } from "../runtime/clock.ts";
import { Runtime } from "../runtime/runtime.ts";
import { brokerUser } from "../runtime/topics/topic-service.ts";
import type { Store } from "../store/port.ts";
import type { Broker } from "../broker/port.ts";
import { listenOn, probePorts, type ListenOptions, type Listening } from "./listen.ts";
import { openStore, type StoreDescriptor } from "./stores.ts";

/** Verifies tokens against the service's `auth` issuers (every token refused without any). */

/** A Node request listener: mount it in `http.createServer`, Express, Hono's node adapter… */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface SagaflowOptions {
  /** Where the data lives: `sqlite(path)`, `postgres(url)` or `memoryStore()`. */
  store: StoreDescriptor;
  /** Where Sagaflow writes what operators should see. Default: stderr. */
  log?: (line: string) => void;
  /** Instances kept in memory: ended and terminated workflows are dropped first, then the least recently used. Default 10,000. */
  cacheSize?: number;
  /** Several nodes on one PostgreSQL schema: this node's name (shown by `sagaflow nodes`). */
  nodeName?: string;
  /** Several nodes: how long a lease lasts unrenewed; a dead node's work moves within about twice this. Default 5,000 ms. */
  leaseMs?: number;
  /** Several nodes: a node silent for longer than this is deleted from `sagaflow nodes`. Default 1 hour. */
  forgetDeadNodesAfterMs?: number;
  /** At start, workflows standing at a step the code no longer defines: refuse to start (default) or terminate them. */
  orphanedWorkflows?: "refuse" | "terminate";
  /** Time for workflows and timers (tests pass a virtual clock). */
  clock?: Clock;
  /** The largest request body the HTTP handler reads. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Verifies bearer tokens for routes whose access rule is not `access.anyone`, instead of the
   * service's issuers (`auth`). Without either, those routes answer 401.
   */
  authenticate?: Authenticate;
  /** Trusted JWT issuers, replacing the service's `auth` (`sagaflow serve --jwt-…` flags end up here). */
  auth?: AuthConfig;
  /** Traces go to this OpenTelemetry provider (default: the global one, a no-op unless an SDK is registered). */
  tracerProvider?: TracerProvider;
  /** Metrics (`GET /metrics` on the admin port, and what `sagaflow serve` exports over OTLP); false records none. Default true. */
  metrics?: boolean;
  /**
   * What retention removes after how long (docs/site/guides/operations.md, "Retention"): feed states (`feedMs`),
   * idempotency records (`idempotencyMs`), ended workflows (`workflowsMs`, or a workflow's own
   * `retentionMs`), tombstones (`tombstonesMs`). Default 7, 7, 7 and 90 days.
   */
  retention?: Partial<RetentionSettings>;
  /**
   * The message broker of topic consumers and producers (closed when the service stops). Default:
   * NATS at `natsUrl`, connected only when the service has topic components, in the background
   * (the service starts while NATS is away, and its topics wait for it).
   */
  broker?: Broker;
  /** Where NATS listens (comma-separated for several servers). Default: the `NATS_URL` environment variable. */
  natsUrl?: string;
}

/** A service running inside your program. */
export interface Sagaflow {
  readonly service: ServiceDefinition;
  /** Calls the service's components in process, typed by their definitions. Usable once started. */
  readonly client: Client;
  /** The service's HTTP API as a Node request listener (answers 503 until started). */
  readonly handler: RequestListener;
  /** The admin API as a Node request listener. It has no access control of its own (`listen` adds it): mount it where only operators reach it. */
  readonly adminHandler: RequestListener;
  /** Opens the store, checks the definitions against it and starts workflows, consumers, timers and views. */
  start(): Promise<void>;
  /** Starts (if not yet) and serves `handler` and `adminHandler` on their own ports. */
  listen(options?: ListenOptions): Promise<Listening>;
  /**
   * Stops listening and refuses new requests (503 `shutting_down`), answers long polls now, aborts
   * endpoint handlers' `signal`, ends event streams, waits for the answers in flight (at most
   * `SAGAFLOW_SHUTDOWN_DRAIN_MS`, default 10 s, then closes their connections), lets in-flight
   * work finish, and closes the store. A stopped service cannot start again.
   */
  stop(): Promise<void>;
}

type State = { kind: "new" } | { kind: "starting"; started: Promise<void> } | { kind: "running"; runtime: Runtime } | { kind: "stopped" };

const notStarted = () =>
  new SagaflowError("not_started", "the service has not started yet (call start())", { status: 503, retryable: true });

/** The one `Runtime` of each running app, for the CLI and the project's own tests (not public). */
const runtimes = new WeakMap<Sagaflow, Runtime>();

/** The composition root behind an app, once started. Internal: the CLI reports cluster details from it. */
export function runtimeOf(app: Sagaflow): Runtime | undefined {
  return runtimes.get(app);
}

class SagaflowApp implements Sagaflow {
  readonly client: Client;
  readonly handler: RequestListener;
  readonly adminHandler: RequestListener;
  private state: State = { kind: "new" };
  private stopping: Promise<void> | undefined;
  /** Set as stop() begins: requests from then on are refused. */
  private refusing = false;
  private readonly drainMs = shutdownDrainMs();
  private readonly listening = new Set<Listening>();
  /** Answers not sent yet, from any server this app's handler is mounted in. */
  private readonly open = new Set<ServerResponse>();
  private ingress: RequestListener | undefined;
  private admin: RequestListener | undefined;
  /** Made at start, when environment values (`env("…")`) are read. */
  private authenticator: Authenticator | undefined;
  private readonly log: (line: string) => void;
  private readonly components: Map<string, Component>;
  private readonly exposed: ExposedRoutes;
  private readonly endpoints: EndpointRouter;

  constructor(
    readonly service: ServiceDefinition,
    private readonly options: SagaflowOptions,
  ) {
    if (!options || typeof options.store !== "object") throw new TypeError("createSagaflow needs { store: sqlite(path) | postgres(url) | memoryStore() }");
    this.log = options.log ?? ((line) => console.error(line));
    this.components = new Map(service.components.filter((c): c is Component => c.kind !== "consumer" && c.kind !== "view" && c.kind !== "endpoint" && c.kind !== "topic-consumer" && c.kind !== "topic-producer" && c.kind !== "schedule").map((c) => [c.name, c]));
    // Calls before start are refused with a clear error rather than lost.
    const gate: ClientDispatcher = {
      call: async (...args) => this.runtime().dispatcher.call(...args),
      workflowResult: async (...args) => this.runtime().dispatcher.workflowResult(...args),
      component: (name) => this.components.get(name),
      queryView: async (...args) => this.runtime().service.queryView(...args),
    };
    this.client = new Client(gate);
    this.exposed = new ExposedRoutes(service.components);
    this.endpoints = new EndpointRouter(service.components.filter((c): c is EndpointDefinition => c.kind === "endpoint"), this.client);
    // Two routes answering one request: one of them could never be reached, so refuse now.
    this.endpoints.check(this.exposed);
    // Mounted in another server, answers are tracked here for stop(); listen() tracks its own.
    this.handler = (req, res) => {
      if (this.stopping) res.setHeader("connection", "close");
      this.open.add(res);
      res.once("close", () => this.open.delete(res));
      this.route(req, res);
    };
    this.adminHandler = (req, res) => {
      if (this.admin) this.admin(req, res);
      else sendError(res, this.state.kind === "stopped" ? errors.stopped() : notStarted(), this.log);
    };
  }

  private readonly route: RequestListener = (req, res) => {
    if (this.ingress && !this.refusing) this.ingress(req, res);
    else sendError(res, this.refusing || this.state.kind === "stopped" ? errors.stopped() : notStarted(), this.log);
  };

  private runtime(): Runtime {
    if (this.state.kind === "running") return this.state.runtime;
    throw this.state.kind === "stopped" ? errors.stopped() : notStarted();
  }

  start(): Promise<void> {
    switch (this.state.kind) {
      case "running":
        return Promise.resolve();
      case "starting":
        return this.state.started;
      case "stopped":
        return Promise.reject(new Error("this Sagaflow service was stopped; create a new one to start again"));
    }
    let authenticator: Authenticator;
    try {
      // A configuration mistake (a bad PEM key, alg "none") fails the start before the store opens.
      authenticator = createAuthenticator(this.options.auth ?? this.service.auth, { log: this.log });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    for (const issuer of authenticator.config.issuers) this.log(`sagaflow: accepting tokens of issuer "${issuer.issuer}" (${issuer.algorithms.join(", ")})`);
    // Set even if stop() was called meanwhile: stop() waits for this and then stops it.
    const started = this.openRuntime().then((runtime) => {
      this.state = { kind: "running", runtime };
      runtimes.set(this, runtime);
      this.authenticator = authenticator;
      this.ingress = runtime.observer.http(ingressHandler(runtime.service, {
        log: this.log,
        exposed: this.exposed,
        endpoints: this.endpoints,
        authenticate: this.options.authenticate ?? ((header) => authenticator.authenticate(header)),
        ...(this.service.cors ? { cors: this.service.cors } : {}),
        ...(this.options.maxBodyBytes === undefined ? {} : { maxBodyBytes: this.options.maxBodyBytes }),
      }));
      this.admin = adminHandler(runtime.admin, this.log);
    });
    this.state = { kind: "starting", started };
    started.catch(() => {
      if (this.state.kind === "starting") this.state = { kind: "new" };
    });
    return started;
  }

  private async openRuntime(): Promise<Runtime> {
    const { options } = this;
    const store: Store = await openStore(options.store, this.service.components);
    let broker = options.broker;
    try {
      const natsUrl = options.natsUrl ?? process.env.NATS_URL;
      if (!broker && natsUrl && brokerUser(this.service.components)) {
        // Loaded only when used, like the database drivers.
        const { natsBroker } = await import("../broker/nats-broker.ts");
        broker = natsBroker(natsUrl, this.log);
      }
      // The constructor checks the definitions (e.g. view queries): the store is closed if it throws too.
      const runtime = new Runtime({
        store,
        components: this.service.components,
        log: this.log,
        ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
        ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
        ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
        ...(options.forgetDeadNodesAfterMs === undefined ? {} : { forgetDeadNodesAfterMs: options.forgetDeadNodesAfterMs }),
        ...(options.orphanedWorkflows === undefined ? {} : { orphanedWorkflows: options.orphanedWorkflows }),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
        ...(options.tracerProvider === undefined && options.metrics === undefined
          ? {}
          : {
              observe: {
                ...(options.tracerProvider === undefined ? {} : { tracerProvider: options.tracerProvider }),
                ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
              },
            }),
        ...(options.retention === undefined ? {} : { retention: options.retention }),
        ...(broker === undefined ? {} : { broker }),
      });
      await runtime.start();
      return runtime;
    } catch (error) {
      await store.close().catch(() => {});
      if (broker && !options.broker) await broker.close().catch(() => {});
      throw error;
    }
  }

  async listen(options: ListenOptions = {}): Promise<Listening> {
    // A port in use refuses the start before the runtime fires anything due.
    if (this.state.kind === "new") await probePorts(options);
    await this.start();
    const runtime = this.runtime();
    const listening = await listenOn(this.route, this.adminHandler, options, this.authenticator);
    // Shown by `sagaflow nodes` (sent with the next heartbeat).
    runtime.membership.info = { ...runtime.membership.info, url: listening.url, ...(listening.adminUrl ? { admin: listening.adminUrl } : {}) };
    const tracked: Listening = {
      ...listening,
      close: async () => {
        await listening.close();
        this.listening.delete(tracked);
      },
    };
    this.listening.add(tracked);
    return tracked;
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      this.refusing = true;
      // Where the handler is mounted in another server: that server stays ours to leave open, but
      // the answers in flight through it end (as listen's do) before the runtime and its store.
      stopAnswers(this.open);
      await Promise.all([...[...this.listening].map((l) => l.close()), drainAnswers(this.open, this.drainMs)]);
      const state = this.state;
      if (state.kind === "starting") await state.started.catch(() => {});
      const current = this.state;
      this.state = { kind: "stopped" };
      this.ingress = undefined;
      this.admin = undefined;
      if (current.kind === "running") await current.runtime.stop();
    })());
  }
}

/**
 * Runs a service inside your program: a typed in-process client, Node request listeners for its
 * HTTP and admin APIs, and `listen` for ports of its own (what `sagaflow serve` uses).
 *
 * @example
 * const app = createSagaflow(service, { store: sqlite(".sagaflow/sagaflow.db") });
 * await app.start();
 * await app.client.call(wallet, "w1").deposit({ amount: 5 });
 * http.createServer((req, res) => (req.url === "/hello" ? res.end("hi") : app.handler(req, res))).listen(8080);
 * // …
 * await app.stop();
 */
export function createSagaflow(service: ServiceDefinition, options: SagaflowOptions): Sagaflow {
  return new SagaflowApp(service, options);
}
