import type { Component, ServiceComponent } from "../define/service.ts";
import { ConsumerRunner } from "./consumers/consumer-runner.ts";
import type { ViewDefinition } from "../define/view.ts";
import { ViewService } from "./views/view-service.ts";
import type { Store } from "../store/port.ts";
import { recordOf } from "./workflow/workflow-kind.ts";
import { GroupCommitter } from "./group-commit.ts";
import { kindOf } from "./kinds.ts";
import { UnlistedComponents } from "./unlisted-components.ts";
import { systemClock, type Clock } from "./clock.ts";
import { WorkflowEngine } from "./workflow/engine.ts";
import { TimerService } from "./timers/timer-service.ts";
import type { WorkflowView } from "../define/workflow.ts";
import { Membership } from "./cluster/membership.ts";
import { leaseNames, TIMER_BUCKETS, WORKFLOW_BUCKETS } from "./cluster/leases.ts";
import type { ClusterSignal } from "../store/cluster-port.ts";
import { InstanceDispatcher, type DispatchOptions, type Dispatcher, type KeyedCall, type PositionedReply } from "./dispatcher.ts";
import type { AdminFacade, ServiceFacade } from "./facades.ts";
import { RuntimeAdmin } from "./runtime-admin.ts";
import { Observer, type ObserveOptions } from "../observe/observer.ts";
import { registerRuntimeGauges } from "../observe/runtime-gauges.ts";
import { StepHolds } from "./held-writes.ts";
import { RetentionService, retentionSettings, type RetentionSettings } from "./retention/retention-service.ts";
import type { WorkflowDefinition } from "../define/workflow.ts";
import { TopicService } from "./topics/topic-service.ts";
import { ScheduleService } from "./schedules/schedule-service.ts";
import type { Broker } from "../broker/port.ts";

export interface RuntimeOptions {
  store: Store;
  components: readonly ServiceComponent[];
  /** Instances kept in memory: ended and terminated workflows are dropped first, then the least recently used. Default 10,000. */
  cacheSize?: number;
  /** Default snapshot interval in events. Default 100. */
  snapshotEvery?: number;
  /** Commands that may wait for one instance. Default 10,000; more get `overloaded`. */
  mailboxLimit?: number;
  /** How long idempotency records are kept. Default 7 days. Same as `retention.idempotencyMs`. */
  idempotencyRetentionMs?: number;
  /** What is removed after how long (see RetentionSettings; docs/site/guides/operations.md, "Retention"). */
  retention?: Partial<RetentionSettings>;
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
  /** Several nodes: a node silent for longer than this is deleted from `sagaflow nodes`. Default 1 hour. */
  forgetDeadNodesAfterMs?: number;
  /** Metrics and traces: the OpenTelemetry tracer provider (default: the global one), process metrics. */
  observe?: ObserveOptions;
  /**
   * How a workflow step's calls to entities commit. `together` (the default where the store can,
   * i.e. `commitsTogether`: SQLite and PostgreSQL): the entity's write is held, its instance busy,
   * until the step's transition commits it in the same transaction, all or none (a transfer is 3
   * commits instead of 5). `separate`: each call commits before its reply. A runtime option only
   * (tests compare the two): services get `together` where their store can.
   */
  stepCommits?: "together" | "separate";
  /** The message broker topic consumers and producers use (the runtime closes it when it stops). */
  broker?: Broker;
  /**
   * How long a stop lets workflow step attempts still running go on before abandoning them, as a
   * crash would (the step runs again at the next start, its calls answered from their records).
   * Default 5,000 ms: a step's own timeout may be minutes, and a stop must fit a container's grace.
   */
  stopGraceMs?: number;
}

export type { CallOptions, PositionedReply } from "./dispatcher.ts";

/** How long a step may go on after a call before the call's held write commits on its own. */
const holdMs = 50;
/** See RuntimeOptions.stopGraceMs. */
const defaultStopGraceMs = 5_000;

/**
 * The composition root: wires the store, the group committer, the dispatcher (the only way to
 * an instance), the workflow engine, timers, consumers, views and the membership, and starts and
 * stops them in order. HTTP and the embedding API reach it through `service` and `admin`.
 */
export class Runtime {
  readonly store: Store;
  /** Routes every call and task to its instance's mailbox. */
  readonly dispatcher: InstanceDispatcher;
  private readonly committer: GroupCommitter;
  private readonly log: (line: string) => void;
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
  /** Removes in the background what nothing may need any more (Property 9). */
  readonly retention: RetentionService;
  /** Topic consumers and producers (a message broker). */
  readonly topics: TopicService;
  /** Cron schedules (one lease for all). */
  readonly schedules: ScheduleService;
  /** This node among those sharing the store: who holds which share of the work. */
  readonly membership: Membership;
  /** What the service's HTTP API may do. */
  readonly service: ServiceFacade;
  /** What operators may see and do. */
  readonly admin: AdminFacade;
  /** The same, with its sampling of lag and rates to start and stop. */
  private readonly runtimeAdmin: RuntimeAdmin;
  /** Metrics (`GET /metrics` on the admin API) and spans. */
  readonly observer: Observer;
  private stopping = false;
  /** Says (once per name) when a step, consumer or timer calls a component the service does not list. */
  private readonly unlisted: UnlistedComponents;

  private readonly stopGraceMs: number;

  constructor(options: RuntimeOptions) {
    this.stopGraceMs = options.stopGraceMs ?? defaultStopGraceMs;
    this.store = options.store;
    this.log = options.log ?? ((line) => console.error(line));
    this.unlisted = new UnlistedComponents((name) => this.dispatcher.component(name) !== undefined, this.log);
    this.observer = new Observer(options.observe, this.log);
    this.committer = new GroupCommitter(this.observer.timedCommits(this.store), () => {
      for (const runner of this.consumers.values()) runner.wake();
      this.views.wake();
      this.topics.wake();
    });
    this.clock = options.clock ?? systemClock;
    this.orphans = options.orphanedWorkflows ?? "refuse";
    const retentionGiven = {
      ...(options.idempotencyRetentionMs === undefined ? {} : { idempotencyMs: options.idempotencyRetentionMs }),
      ...options.retention,
    };
    this.membership = new Membership({
      cluster: this.store.cluster,
      ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      ...(options.forgetDeadNodesAfterMs === undefined ? {} : { forgetDeadNodesAfterMs: options.forgetDeadNodesAfterMs }),
      // Its retention settings: nodes that disagree are named by `sagaflow retention` (the node holding its lease decides).
      info: { pid: process.pid, ...options.nodeInfo, retention: retentionSettings(retentionGiven) },
      log: this.log,
      onSignal: (signal) => this.heard(signal),
      onReconnect: () => this.reconnected(),
    });
    const clustered = this.membership.clustered;
    this.dispatcher = new InstanceDispatcher({
      deps: {
        store: this.store,
        committer: this.committer,
        now: () => this.clock.now(),
        schedule: (ms, fn) => this.clock.schedule(ms, fn, { keepAlive: true }),
        mailboxLimit: options.mailboxLimit ?? 10_000,
        maxTurn: 512,
        conflictRetries: 20,
        checkCache: clustered,
        alone: () => this.membership.alone,
      },
      cacheSize: options.cacheSize ?? 10_000,
      log: this.log,
      waitForEnd: (name, id, waitMs, cancel) => this.workflows.waitForEnd(name, id, waitMs, cancel),
      observer: this.observer,
    });
    const dispatcher: Dispatcher = this.dispatcher;
    /** Calls made on behalf of steps, consumers and timers: keyed, and allowed during shutdown. */
    const keyedCall: KeyedCall = (component, id, handler, input, idempotencyKey, options) => {
      // A timer's target was checked when it was started (`check` below): one missing now was
      // started by other code (a newer version), which the timer service says itself.
      if (!idempotencyKey.startsWith("timer:")) this.unlisted.check(component, idempotencyKey.startsWith("consumer:") ? "a consumer" : "a workflow step");
      return dispatcher.keyedCall(component, id, handler, input, idempotencyKey, options);
    };
    this.timers = new TimerService({
      store: this.store,
      clock: this.clock,
      log: this.log,
      call: keyedCall,
      check: (call) => {
        this.unlisted.check(call.component, "a timer (deferred call)");
        return dispatcher.checkCall(call.component, call.handler, call.input);
      },
      firing: (timer, run) => this.observer.timerFiring(timer, this.clock.now(), run),
      currentTrace: () => this.observer.currentTrace(),
      holdsBucket: (bucket) => this.membership.holds(leaseNames.timers(bucket)),
    }, { pollMs: clustered ? 1_000 : undefined });
    // Whether a step's calls commit with its transition (held-writes.ts); else each on its own.
    const holdsWrites = (options.stepCommits ?? "together") === "together" && this.store.commitsTogether === true;
    this.workflows = new WorkflowEngine({
      timers: this.timers,
      clock: this.clock,
      store: this.store,
      log: this.log,
      enqueueTask: (component, id, task) => dispatcher.enqueueTask(component, id, task),
      trustedRecord: (name, id) => recordOf(this.dispatcher.trustedState(name, id)?.state ?? null) ?? undefined,
      keyedCall,
      submit: (write) => this.committer.submit(write),
      observer: this.observer,
      // Several nodes too: should another node write the entity meanwhile, the together commit is a
      // conflict that keeps nothing, and the step runs again (the workflow's write carries its fence).
      stepHolds: () => new StepHolds((write) => this.committer.submit(write), holdMs, this.clock, holdsWrites),
      placement: {
        holds: (bucket) => this.membership.holds(leaseNames.workflows(bucket)),
        fence: (bucket) => this.membership.fence(leaseNames.workflows(bucket)),
      },
    });
    const snapshotEvery = options.snapshotEvery ?? 100;
    if (!(Number.isSafeInteger(snapshotEvery) && snapshotEvery > 0)) throw new TypeError(`snapshotEvery must be a whole number of events from 1 (got ${JSON.stringify(snapshotEvery)})`);
    const consumerHost = {
      store: this.store,
      clock: this.clock,
      log: this.log,
      keyedCall,
      timers: this.timers,
      observer: this.observer,
      broker: options.broker,
    };
    for (const component of options.components) {
      if (this.dispatcher.component(component.name) || this.consumers.has(component.name)) {
        throw new TypeError(`two components are named "${component.name}"`);
      }
      if (component.kind === "consumer") {
        this.consumers.set(component.name, new ConsumerRunner(component, consumerHost));
        continue;
      }
      if (component.kind === "view" || component.kind === "endpoint" || component.kind === "topic-consumer" || component.kind === "topic-producer" || component.kind === "schedule") continue;
      this.dispatcher.register(component, component.kind === "workflow" ? this.workflows.kind(component) : kindOf(component, snapshotEvery));
    }
    this.topics = new TopicService(options.components, { ...consumerHost, broker: options.broker });
    this.schedules = new ScheduleService(options.components, consumerHost);
    const viewDefinitions = options.components.filter((c): c is ViewDefinition => c.kind === "view");
    this.views = new ViewService(viewDefinitions, this.store, this.log, this.observer);
    this.retention = new RetentionService(
      {
        store: this.store,
        clock: this.clock,
        log: this.log,
        workflows: options.components.filter((c): c is WorkflowDefinition => c.kind === "workflow"),
        consumers: [...this.consumers.values()].map((runner) => runner.definition),
        producers: [...this.topics.producers.values()].map((runner) => runner.definition),
        views: viewDefinitions,
        forget: (name, id) => this.dispatcher.forget(name, id),
      },
      retentionGiven,
    );
    this.registerLeases();
    const views = this.views;
    this.service = {
      call: (component, id, handler, input, callOptions) => dispatcher.call(component, id, handler, input, callOptions),
      callForReply: (component, id, handler, input, callOptions) => dispatcher.callForReply(component, id, handler, input, callOptions),
      workflowResult: (name, id, waitMs, cancel) => dispatcher.workflowResult(name, id, waitMs, cancel),
      queryView: (view, query, params, queryOptions) => views.query(view, query, params, queryOptions),
      watchView: (view, listener) => views.runner(view).onChange(listener),
      storeStatus: () => this.store.status?.() ?? { status: "ok" },
    };
    this.admin = this.runtimeAdmin = new RuntimeAdmin({
      store: this.store,
      dispatcher,
      workflows: this.workflows,
      timers: this.timers,
      consumers: this.consumers,
      topics: this.topics,
      schedules: this.schedules,
      views: this.views,
      membership: this.membership,
      retention: this.retention,
      metrics: () => this.observer.metrics.text(),
      totals: () => this.observer.metrics.totals(),
    });
    registerRuntimeGauges(this.observer.metrics, {
      store: this.store,
      dispatcher: () => this.dispatcher.stats(),
      admin: this.admin,
      node: () => ({ id: this.membership.nodeId, leases: this.membership.heldLeases().length }),
    });
  }

  /** Migrates the store and starts housekeeping. */
  async start(): Promise<void> {
    await this.store.migrate();
    await this.workflows.checkDefinitions(this.orphans);
    await this.views.follow();
    // On one node every share of the work is ours at once; on several, as leases are won.
    await this.membership.start();
    this.runtimeAdmin.startSampling();
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
    this.membership.register(leaseNames.retention, { acquired: () => this.retention.begin(), lost: () => this.retention.stop() });
    for (let bucket = 0; bucket < TIMER_BUCKETS; bucket++) {
      this.membership.register(leaseNames.timers(bucket), { acquired: (fence) => this.timers.begin(bucket, fence), lost: () => this.timers.release(bucket) });
    }
    for (const [name, runner] of this.consumers) {
      this.membership.register(leaseNames.consumer(name), { acquired: (fence) => runner.begin(fence), lost: () => runner.stop() });
    }
    this.topics.registerLeases(this.membership);
    if (this.schedules.any) {
      this.membership.register(leaseNames.schedules, { acquired: (fence) => this.schedules.begin(fence), lost: () => this.schedules.stop() });
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
      this.topics.wake();
    }
    for (const [name, id, over, end] of signal.workflows ?? []) this.workflows.remoteChange(name, id, over, end);
    if (signal.instances) this.dispatcher.writtenElsewhere(signal.instances);
    if (signal.timerDue !== undefined) this.timers.remind(signal.timerDue, signal.timerBucket);
    if (signal.view !== undefined) this.views.wake();
  }

  /** Signals may have been missed while the listening connection was down: look again. */
  private reconnected(): void {
    if (this.stopping) return;
    this.dispatcher.writtenElsewhere(undefined);
    for (let bucket = 0; bucket < WORKFLOW_BUCKETS; bucket++) {
      if (this.membership.holds(leaseNames.workflows(bucket))) this.workflows.adopt(bucket);
    }
    for (const runner of this.consumers.values()) runner.wake();
    this.views.wake();
  }

  /** The entities and workflows (not consumers or views). */
  components(): Component[] {
    return this.dispatcher.components();
  }

  // Shorthands through the dispatcher, for tests and benchmarks.

  call(component: string, id: string, handler: string, input: unknown, options?: DispatchOptions): Promise<unknown> {
    return this.dispatcher.call(component, id, handler, input, options);
  }

  callForReply(component: string, id: string, handler: string, input: unknown, options?: DispatchOptions): Promise<PositionedReply> {
    return this.dispatcher.callForReply(component, id, handler, input, options);
  }

  workflowResult(name: string, id: string, waitMs = 0): Promise<WorkflowView<unknown>> {
    return this.dispatcher.workflowResult(name, id, waitMs);
  }

  /** Stops taking calls, lets every accepted one finish, and closes the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const stopBegan = Date.now();
    this.runtimeAdmin.stopSampling();
    this.dispatcher.close();
    this.workflows.stop();
    this.timers.stop();
    await Promise.all([...this.consumers.values()].map((runner) => runner.stop()));
    await this.topics.stop();
    await this.schedules.stop();
    await this.views.stop();
    await this.retention.stop();
    await this.drainedOrAbandoned(stopBegan);
    await this.timers.idle();
    await this.committer.idle();
    await this.membership.stop();
    await this.store.close();
  }

  /** Every turn finished; step attempts still running `stopGraceMs` after the stop began are abandoned. */
  private async drainedOrAbandoned(stopBegan: number): Promise<void> {
    const drained = this.dispatcher.drained();
    const graceLeft = Math.max(0, this.stopGraceMs - (Date.now() - stopBegan));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceLeft)));
    const cut = await Promise.race([drained.then(() => false), late]);
    clearTimeout(timer);
    if (!cut) return;
    const abandoned = this.workflows.abandonAttempts();
    if (abandoned.length > 0) {
      const named = abandoned.slice(0, 10).join(", ") + (abandoned.length > 10 ? ", …" : "");
      this.log(`sagaflow: stop: abandoned ${abandoned.length} workflow step attempt(s) still running (${named}); their steps run again at the next start`);
    }
    await drained;
  }
}
