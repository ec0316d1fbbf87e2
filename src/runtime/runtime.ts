import { randomUUID } from "node:crypto";
import { refusalError, SagaflowError, errors } from "../define/errors.ts";
import type { Component, ServiceComponent } from "../define/service.ts";
import { ConsumerRunner } from "./consumers/consumer-runner.ts";
import type { ViewDefinition } from "../define/view.ts";
import { ViewService } from "../views/view-service.ts";
import type { StandardSchemaV1 } from "../define/standard-schema.ts";
import type { Store, StoredReply } from "../store/port.ts";
import { GroupCommitter } from "./group-commit.ts";
import { checkId, checkIdempotencyKey } from "./ids.ts";
import { Instance, type InstanceDeps } from "./instance.ts";
import { kindOf, type Kind } from "./kinds.ts";
import { requestHash } from "./request-hash.ts";
import { validateInput } from "./validate-input.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Current, Decision } from "./decide.ts";
import { WorkflowEngine, type OperatorAction } from "./workflow/engine.ts";
import { TimerService } from "./timers/timer-service.ts";
import type { WorkflowView } from "../define/workflow.ts";
import { Membership } from "./cluster/membership.ts";
import { leaseNames, WORKFLOW_BUCKETS } from "./cluster/leases.ts";
import type { ClusterSignal } from "../store/cluster-port.ts";

export interface RuntimeOptions {
  store: Store;
  components: readonly ServiceComponent[];
  /** Instances kept in memory (least recently used are dropped first). Default 10,000. */
  cacheSize?: number;
  /** Default snapshot interval in events. Default 100. */
  snapshotEvery?: number;
  /** Commands that may wait for one instance. Default 10,000; more get `overloaded`. */
  mailboxLimit?: number;
  /** How long idempotency records are kept. Default 7 days. */
  idempotencyRetentionMs?: number;
  /** Time for workflows and timers; the testkit passes a virtual clock. */
  clock?: Clock;
  log?: (line: string) => void;
  /** At start, workflows standing at a step the code no longer defines: refuse to start (default) or terminate them. */
  orphanedWorkflows?: "refuse" | "terminate";
  /** Several nodes on one store (PostgreSQL): this node's name (its id adds a random part) and what it says of itself. */
  nodeName?: string;
  nodeInfo?: Record<string, unknown>;
  /** Several nodes: how long a lease lasts unrenewed; a dead node's work moves within about twice this. Default 5,000 ms. */
  leaseMs?: number;
}

export type { CallOptions } from "../define/handlers.ts";

/** A reply, with the feed position of the instance's latest commit when it has one. */
export type PositionedReply = StoredReply & { position?: number };
import type { CallOptions } from "../define/handlers.ts";

interface Registered {
  component: Component;
  kind: Kind;
  schemas: Record<string, StandardSchemaV1 | undefined>;
}

const day = 24 * 60 * 60 * 1000;

/**
 * The engine: routes each call to its instance's mailbox, where it is decided and committed
 * by a single writer; keeps a bounded cache of instances.
 */
export class Runtime {
  readonly store: Store;
  private readonly registry = new Map<string, Registered>();
  private readonly instances = new Map<string, Instance>();
  private readonly committer: GroupCommitter;
  private readonly deps: InstanceDeps;
  private readonly cacheSize: number;
  private readonly retentionMs: number;
  private readonly log: (line: string) => void;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly clock: Clock;
  private readonly orphans: "refuse" | "terminate";
  /** Runs workflows: schedules steps, retries and timeouts. */
  readonly workflows: WorkflowEngine;
  /** Durable timers. */
  readonly timers: TimerService;
  /** One runner per consumer, by name. */
  readonly consumers = new Map<string, ConsumerRunner>();
  /** The service's views. */
  readonly views: ViewService;
  /** This node among those sharing the store: who holds which share of the work. */
  readonly membership: Membership;
  private stopping = false;
  private inFlight = 0;

  /** Calls made on behalf of steps, consumers and timers: keyed, and allowed during shutdown. */
  private readonly keyedCall = (component: Component, id: string, handler: string, input: unknown, idempotencyKey: string) =>
    this.callForReply(component.name, id, handler, input, { idempotencyKey, internal: true });

  constructor(options: RuntimeOptions) {
    this.store = options.store;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.retentionMs = options.idempotencyRetentionMs ?? 7 * day;
    this.log = options.log ?? ((line) => console.error(line));
    this.committer = new GroupCommitter(this.store, () => {
      for (const runner of this.consumers.values()) runner.wake();
      this.views.wake();
    });
    this.clock = options.clock ?? systemClock;
    this.orphans = options.orphanedWorkflows ?? "refuse";
    this.membership = new Membership({
      cluster: this.store.cluster,
      ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      info: { pid: process.pid, ...options.nodeInfo },
      log: this.log,
      onSignal: (signal) => this.heard(signal),
      onReconnect: () => this.reconnected(),
    });
    const clustered = this.membership.clustered;
    this.timers = new TimerService({
      store: this.store,
      clock: this.clock,
      log: this.log,
      call: (component, id, handler, input, key) =>
        this.callForReply(component, id, handler, input, { idempotencyKey: key, internal: true }),
      check: (call) => this.checkHandler(call.component, call.handler),
    }, { pollMs: clustered ? 1_000 : undefined });
    this.workflows = new WorkflowEngine({
      timers: this.timers,
      clock: this.clock,
      store: this.store,
      log: this.log,
      enqueueTask: (component, id, task) => this.enqueueTask(component, id, task),
      keyedCall: this.keyedCall,
      placement: {
        holds: (bucket) => this.membership.holds(leaseNames.workflows(bucket)),
        fence: (bucket) => this.membership.fence(leaseNames.workflows(bucket)),
      },
    });
    const snapshotEvery = options.snapshotEvery ?? 100;
    const consumerHost = {
      store: this.store,
      clock: this.clock,
      log: this.log,
      keyedCall: this.keyedCall,
      timers: this.timers,
    };
    for (const component of options.components) {
      if (this.registry.has(component.name) || this.consumers.has(component.name)) {
        throw new TypeError(`two components are named "${component.name}"`);
      }
      if (component.kind === "consumer") {
        this.consumers.set(component.name, new ConsumerRunner(component, consumerHost));
        continue;
      }
      if (component.kind === "view") continue;
      const schemas = (component.inputs ?? {}) as Record<string, StandardSchemaV1 | undefined>;
      const kind = component.kind === "workflow" ? this.workflows.kind(component) : kindOf(component, snapshotEvery);
      this.registry.set(component.name, { component, kind, schemas });
    }
    const viewDefinitions = options.components.filter((c): c is ViewDefinition => c.kind === "view");
    this.views = new ViewService(viewDefinitions, this.store, this.log);
    this.registerLeases();
    this.deps = {
      store: this.store,
      committer: this.committer,
      now: () => this.clock.now(),
      mailboxLimit: options.mailboxLimit ?? 10_000,
      maxTurn: 512,
      conflictRetries: 20,
      checkCache: this.membership.clustered,
      onHandlerError: (error, where) => this.internalError(error, where),
    };
  }

  /** Migrates the store and starts housekeeping. */
  async start(): Promise<void> {
    await this.store.migrate();
    const prune = () => {
      this.store
        .pruneDedup(this.deps.now() - this.retentionMs)
        .catch((error: unknown) => this.log(`sagaflow: pruning idempotency records failed: ${String(error)}`));
    };
    prune();
    this.pruneTimer = setInterval(prune, Math.min(this.retentionMs, 60 * 60 * 1000));
    this.pruneTimer.unref();
    await this.workflows.checkDefinitions(this.orphans);
    await this.views.follow();
    // On one node every share of the work is ours at once; on several, as leases are won.
    await this.membership.start();
  }

  /** Each share of the work is a lease; its holder is told when it is taken and lost. */
  private registerLeases(): void {
    if (this.components().some((c) => c.kind === "workflow")) {
      for (let bucket = 0; bucket < WORKFLOW_BUCKETS; bucket++) {
        this.membership.register(leaseNames.workflows(bucket), {
          acquired: () => this.workflows.adopt(bucket),
          lost: () => this.workflows.release(bucket),
        });
      }
    }
    this.membership.register(leaseNames.timers, { acquired: (fence) => this.timers.begin(fence), lost: () => this.timers.stop() });
    for (const [name, runner] of this.consumers) {
      this.membership.register(leaseNames.consumer(name), { acquired: (fence) => runner.begin(fence), lost: () => runner.stop() });
    }
    for (const name of this.views.names()) {
      const runner = this.views.runner(name);
      this.membership.register(leaseNames.view(name), { acquired: (fence) => runner.begin(fence), lost: () => runner.follow() });
    }
  }

  /** Another node committed: wake what reads the feed, and the workflows it wrote. */
  private heard(signal: ClusterSignal): void {
    if (this.stopping) return;
    if (signal.position !== undefined) {
      for (const runner of this.consumers.values()) runner.wake();
      this.views.wake();
    }
    for (const [name, id] of signal.workflows ?? []) this.workflows.remoteChange(name, id);
    if (signal.timerDue !== undefined && this.membership.holds(leaseNames.timers)) this.timers.remind(signal.timerDue);
    if (signal.view !== undefined) this.views.wake();
  }

  /** Signals may have been missed while the listening connection was down: look again. */
  private reconnected(): void {
    if (this.stopping) return;
    for (let bucket = 0; bucket < WORKFLOW_BUCKETS; bucket++) {
      if (this.membership.holds(leaseNames.workflows(bucket))) void this.workflows.adopt(bucket);
    }
    for (const runner of this.consumers.values()) runner.wake();
    this.views.wake();
  }

  /** Throws unless `component` exists and has a command or query named `handler`. */
  checkHandler(componentName: string, handler: string): { registered: Registered; isQuery: boolean } {
    const registered = this.registry.get(componentName);
    if (!registered) throw errors.unknownComponent(componentName);
    const { component } = registered;
    const isQuery = Object.hasOwn(component.queries, handler);
    if (!isQuery && !Object.hasOwn(component.commands, handler)) throw errors.unknownCommand(componentName, handler);
    return { registered, isQuery };
  }

  /** A workflow's current record; with `waitMs`, held until it is over or the wait runs out. */
  async workflowResult(name: string, id: string, waitMs = 0): Promise<WorkflowView<unknown>> {
    const kind = this.registry.get(name)?.component.kind;
    if (kind === undefined) throw errors.unknownComponent(name);
    if (kind !== "workflow") {
      throw new SagaflowError("not_a_workflow", `"${name}" is not a workflow: call /${name}/{id}/{command or query}`, { status: 404 });
    }
    checkId(id);
    const view = await this.workflows.waitForEnd(name, id, waitMs);
    if (!view) throw new SagaflowError("not_found", `workflow ${name} "${id}" was never started`, { status: 404 });
    return view;
  }

  /** Operator controls: suspend, resume, terminate, retry, cancel. */
  async operateWorkflow(name: string, id: string, action: OperatorAction): Promise<unknown> {
    if (this.registry.get(name)?.component.kind !== "workflow") throw errors.unknownComponent(name);
    checkId(id);
    const reply = await this.workflows.operate(name, id, action);
    if (reply.ok) return reply.value;
    throw new SagaflowError(reply.code, reply.message, { status: 409 });
  }

  /** Runs work that needs I/O (a workflow step) in the instance's mailbox, after what is queued. */
  enqueueTask(componentName: string, id: string, task: (current: Current) => Promise<Decision>): Promise<StoredReply> {
    if (this.stopping) return Promise.reject(errors.stopped());
    const registered = this.registry.get(componentName);
    if (!registered) return Promise.reject(errors.unknownComponent(componentName));
    return new Promise<StoredReply>((resolve, reject) => {
      this.instance(registered, id).enqueue({
        task,
        handler: "$task",
        isQuery: false,
        input: undefined,
        idempotencyKey: undefined,
        requestHash: undefined,
        resolve,
        reject,
      });
    });
  }

  components(): Component[] {
    return [...this.registry.values()].map((r) => r.component);
  }

  component(name: string): Component | undefined {
    return this.registry.get(name)?.component;
  }

  /**
   * Sends a command or query to one instance and resolves with its reply once its effects are
   * committed. Rejects with a SagaflowError (domain refusals carry the handler's code).
   */
  async call(
    componentName: string,
    id: string,
    handler: string,
    input: unknown,
    options: CallOptions & { queryOnly?: boolean } = {},
  ): Promise<unknown> {
    const reply = await this.callForReply(componentName, id, handler, input, options);
    if (reply.ok) return reply.value;
    throw refusalError(reply);
  }

  /** As `call`, but a domain refusal comes back as data instead of an exception. */
  async callForReply(
    componentName: string,
    id: string,
    handler: string,
    input: unknown,
    options: CallOptions & { queryOnly?: boolean; internal?: boolean } = {},
  ): Promise<PositionedReply> {
    // Calls from steps already running may finish during shutdown; new outside calls may not.
    if (this.stopping && !options.internal) throw errors.stopped();
    const { registered, isQuery } = this.checkHandler(componentName, handler);
    if (options.queryOnly && !isQuery) throw errors.notReadOnly(componentName, handler);
    checkId(id);
    const key = options.idempotencyKey === undefined ? undefined : checkIdempotencyKey(options.idempotencyKey);
    // Counted before the first await: stop() must wait for a call it did not refuse.
    this.inFlight++;
    try {
      const value = await validateInput(registered.schemas[handler], input ?? {}, `${componentName}.${handler}`);
      return await new Promise<PositionedReply>((resolve, reject) => {
        this.instance(registered, id).enqueue({
          handler,
          isQuery,
          input: value,
          idempotencyKey: key,
          requestHash: key === undefined ? undefined : requestHash(handler, value),
          resolve: (reply, position) => resolve(position === undefined ? reply : { ...reply, position }),
          reject,
        });
      });
    } finally {
      this.inFlight--;
    }
  }

  /** Stops taking calls, lets every accepted one finish, and closes the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.workflows.stop();
    this.timers.stop();
    await Promise.all([...this.consumers.values()].map((runner) => runner.stop()));
    await this.views.stop();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    while (this.inFlight > 0 || [...this.instances.values()].some((i) => !i.idle)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.timers.idle();
    await this.committer.idle();
    await this.membership.stop();
    await this.store.close();
  }

  private instance(registered: Registered, id: string): Instance {
    const cacheKey = `${registered.component.name}\u0000${id}`;
    let instance = this.instances.get(cacheKey);
    if (instance) {
      // Map order is recency order: move to the back.
      this.instances.delete(cacheKey);
    } else {
      instance = new Instance(registered.kind, registered.component.name, id, this.deps);
    }
    this.instances.set(cacheKey, instance);
    if (this.instances.size > this.cacheSize) this.evict(instance);
    return instance;
  }

  /** Drops least recently used idle instances. A busy one stays, or two writers could exist. */
  private evict(keep: Instance): void {
    for (const [key, instance] of this.instances) {
      if (this.instances.size <= this.cacheSize) return;
      if (instance.idle && instance !== keep) this.instances.delete(key);
    }
  }

  private internalError(error: unknown, where: string): SagaflowError {
    const correlationId = randomUUID();
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.log(`sagaflow: handler ${where} failed [${correlationId}]: ${detail}`);
    return new SagaflowError("internal", `internal error in ${where} (correlation id ${correlationId})`, {
      status: 500,
      details: { correlationId },
    });
  }
}
