import { missingWorkflow } from "./retention/removed-workflow.ts";
import type { CallOptions } from "../define/handlers.ts";
import type { Principal } from "../define/access.ts";
import { refusalError, SagaflowError, errors } from "../define/errors.ts";
import type { Component } from "../define/service.ts";
import type { StandardSchemaV1 } from "../define/standard-schema.ts";
import type { WorkflowView } from "../define/workflow.ts";
import type { StoredReply } from "../store/port.ts";
import type { Current, Decision } from "./decide.ts";
import { checkId, checkIdempotencyKey, runtimeKeyTaken } from "./ids.ts";
import { Instance, type InstanceDeps } from "./instance.ts";
import type { Kind } from "./kinds.ts";
import { requestHash } from "./request-hash.ts";
import { keptReply } from "./stored-replies.ts";
import { validateInput } from "./validate-input.ts";
import type { Observer } from "../observe/observer.ts";
import { logInternalError } from "../observe/log-event.ts";
import type { SignalledInstance } from "../store/cluster-port.ts";
import type { StepHolds } from "./held-writes.ts";
import type { WaitCancel } from "./workflow/end-waiters.ts";

export type { CallOptions };

/** A reply, with the feed position of the instance's latest commit when it has one. */
export type PositionedReply = StoredReply & { position?: number };

/** Options of a call from outside (HTTP, the in-process client). */
export type DispatchOptions = CallOptions & {
  /** Refuse a command: only a query may answer (an HTTP GET). */
  queryOnly?: boolean;
  /** Who called over HTTP (a verified token): handlers see it as `fx.principal`; a workflow's start records it. */
  principal?: Principal;
  /** A workflow step's call: its write may be held until the step's transition (see held-writes.ts). */
  hold?: StepHolds;
  /** An operator's retry: a refusal stored under the key is decided again (see Pending.decideRefusalAgain). */
  decideRefusalAgain?: boolean;
  /** A workflow step's call: told when the command's answer is ok and kept without the step (see Pending.kept). */
  kept?: (marked: boolean) => void;
  /**
   * A retried step attempt's call, which an earlier attempt may have kept: on a busy instance, its
   * stored reply answers it before it would queue there (keptReply).
   */
  mayBeKept?: boolean;
  /** A step execution's first run's call: no earlier run sent its key (see Pending.keyUnsent). */
  keyUnsent?: boolean;
};

/** How a keyed call is made: a step's may hold its write (and hear that it was kept); an operator's retry decides stored refusals again. */
export type KeyedCallOptions = Pick<DispatchOptions, "hold" | "decideRefusalAgain" | "kept" | "mayBeKept" | "keyUnsent">;

/**
 * A call made on behalf of a workflow step, a consumer message or a timer: always keyed, and
 * still accepted while the node stops (the work that makes it was already accepted).
 */
export type KeyedCall = (component: string, id: string, handler: string, input: unknown, idempotencyKey: string, options?: KeyedCallOptions) => Promise<StoredReply>;

/**
 * The only way to reach an instance: every command, query and workflow task goes through the
 * instance's mailbox, where one writer decides and commits it. The workflow engine, consumers,
 * timers, the HTTP ingress and the in-process client all depend on this interface.
 */
export interface Dispatcher {
  /** Sends a command or query and resolves with its reply once committed; a refusal rejects with a SagaflowError. */
  call(component: string, id: string, handler: string, input: unknown, options?: DispatchOptions): Promise<unknown>;
  /** As `call`, but a domain refusal comes back as data, with the feed position of the write. */
  callForReply(component: string, id: string, handler: string, input: unknown, options?: DispatchOptions): Promise<PositionedReply>;
  keyedCall: KeyedCall;
  /** Runs work that needs I/O (a workflow step) in the instance's mailbox, after what is queued. */
  enqueueTask(component: string, id: string, task: (current: Current) => Promise<Decision>): Promise<StoredReply>;
  /** Rejects unless `component` has a command or query named `handler` whose input schema accepts `input`. */
  checkCall(component: string, handler: string, input: unknown): Promise<void>;
  /** A workflow's current record; with `waitMs`, held until it is over or the wait runs out (a cancelled wait rejects at once). */
  workflowResult(name: string, id: string, waitMs?: number, cancel?: WaitCancel): Promise<WorkflowView<unknown>>;
  /** The registered component of that name (entities and workflows; not consumers or views). */
  component(name: string): Component | undefined;
  /** Every registered component (entities and workflows), in registration order. */
  components(): Component[];
}

export interface DispatcherOptions {
  /** What each instance needs; handler errors are reported by the dispatcher. */
  deps: Omit<InstanceDeps, "onHandlerError" | "onLasting">;
  /** Instances kept in memory: ended and terminated workflows are dropped first, then the least recently used. */
  cacheSize: number;
  log: (line: string) => void;
  /** How a workflow's end is awaited (the workflow engine's). */
  waitForEnd(name: string, id: string, waitMs: number, cancel?: WaitCancel): Promise<WorkflowView<unknown> | undefined>;
  /** Counts, times and traces every call (metrics and spans). */
  observer?: Observer;
}

interface Registered {
  component: Component;
  kind: Kind;
  schemas: Record<string, StandardSchemaV1 | undefined>;
}

/** Routes each call to its instance's mailbox and keeps a bounded cache of instances. */
export class InstanceDispatcher implements Dispatcher {
  private readonly registry = new Map<string, Registered>();
  /** The cached instances, least recently used first. */
  private readonly instances = new Map<string, Instance>();
  /**
   * Keys of cached instances that will never change again (workflows ended or terminated), in the
   * order they got there: evicted first, so that the instances still in use stay cached.
   */
  private readonly lasting = new Set<string>();
  private closed = false;
  private inFlight = 0;
  private readonly deps: InstanceDeps;

  constructor(private readonly options: DispatcherOptions) {
    this.deps = {
      ...options.deps,
      onHandlerError: (error, where) => this.internalError(error, where),
      onLasting: (component, id) => {
        const cacheKey = cacheKeyOf(component, id);
        if (this.instances.has(cacheKey)) this.lasting.add(cacheKey);
      },
    };
  }

  /** Adds an entity or workflow, with the kind that decides its commands. */
  register(component: Component, kind: Kind): void {
    const schemas = (component.inputs ?? {}) as Record<string, StandardSchemaV1 | undefined>;
    this.registry.set(component.name, { component, kind, schemas });
  }

  components(): Component[] {
    return [...this.registry.values()].map((r) => r.component);
  }

  component(name: string): Component | undefined {
    return this.registry.get(name)?.component;
  }

  async checkCall(componentName: string, handler: string, input: unknown): Promise<void> {
    const { registered } = this.lookup(componentName, handler);
    await validateInput(registered.schemas[handler], input ?? {}, `${componentName}.${handler}`);
  }

  private lookup(componentName: string, handler: string): { registered: Registered; isQuery: boolean } {
    const registered = this.registry.get(componentName);
    if (!registered) throw errors.unknownComponent(componentName);
    const { component } = registered;
    const isQuery = Object.hasOwn(component.queries, handler);
    if (!isQuery && !Object.hasOwn(component.commands, handler)) throw errors.unknownCommand(componentName, handler);
    return { registered, isQuery };
  }

  async workflowResult(name: string, id: string, waitMs = 0, cancel?: WaitCancel): Promise<WorkflowView<unknown>> {
    const kind = this.registry.get(name)?.component.kind;
    if (kind === undefined) throw errors.unknownComponent(name);
    if (kind !== "workflow") {
      throw new SagaflowError("not_a_workflow", `"${name}" is not a workflow: call /${name}/{id}/{command or query}`, { status: 404 });
    }
    checkId(id);
    const view = await this.options.waitForEnd(name, id, waitMs, cancel);
    if (!view) throw await missingWorkflow(this.deps.store, name, id, `workflow ${name} "${id}" was never started`);
    return view;
  }

  enqueueTask(componentName: string, id: string, task: (current: Current) => Promise<Decision>): Promise<StoredReply> {
    if (this.closed) return Promise.reject(errors.stopped());
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

  async call(componentName: string, id: string, handler: string, input: unknown, options: DispatchOptions = {}): Promise<unknown> {
    const reply = await this.callForReply(componentName, id, handler, input, options);
    if (reply.ok) return reply.value;
    throw refusalError(reply);
  }

  callForReply(componentName: string, id: string, handler: string, input: unknown, options: DispatchOptions = {}): Promise<PositionedReply> {
    // New outside calls are refused once stopping; calls from work already accepted are not.
    const refused = this.closed ? errors.stopped() : runtimeKeyTaken(options.idempotencyKey);
    if (refused) return Promise.reject(refused);
    return this.observed(componentName, id, handler, (trace) => this.send(componentName, id, handler, input, options, trace));
  }

  readonly keyedCall: KeyedCall = (component, id, handler, input, idempotencyKey, options) =>
    this.observed(component, id, handler, (trace) => this.send(component, id, handler, input, { ...options, idempotencyKey }, trace));

  /** `run` gets the command span's traceparent when tracing, to keep with what the command writes. */
  private observed(component: string, id: string, handler: string, run: (trace: string | undefined) => Promise<PositionedReply>): Promise<PositionedReply> {
    const observer = this.options.observer;
    return observer ? observer.command(component, id, handler, run) : run(undefined);
  }

  /** A cached instance's state, read without the store (Instance.trustedState); undefined when not cached or not trusted. */
  trustedState(component: string, id: string): Current | undefined {
    return this.instances.get(cacheKeyOf(component, id))?.trustedState();
  }

  /**
   * Another node changed these instances (its commit's signal said so), or signals may have been
   * missed (`undefined`: all of them): their cached copies are behind (Instance.writtenElsewhere).
   */
  writtenElsewhere(instances: readonly SignalledInstance[] | undefined): void {
    if (instances === undefined) for (const instance of this.instances.values()) instance.writtenElsewhere();
    else {
      for (const [component, id, version, events] of instances) {
        this.instances.get(cacheKeyOf(component, id))?.writtenElsewhere(version === undefined ? undefined : { version, events });
      }
    }
  }

  /** Instances held in memory, and calls in flight (in a mailbox or being decided and committed): for `/metrics`. */
  stats(): { cached: number; inFlight: number } {
    return { cached: this.instances.size, inFlight: this.inFlight };
  }

  private async send(componentName: string, id: string, handler: string, input: unknown, options: DispatchOptions, trace: string | undefined): Promise<PositionedReply> {
    const { registered, isQuery } = this.lookup(componentName, handler);
    if (options.queryOnly && !isQuery) throw errors.notReadOnly(componentName, handler);
    checkId(id);
    const key = options.idempotencyKey === undefined ? undefined : checkIdempotencyKey(options.idempotencyKey);
    // Counted before the first await: draining must wait for a call it did not refuse.
    this.inFlight++;
    try {
      const value = await validateInput(registered.schemas[handler], input ?? {}, `${componentName}.${handler}`);
      let target = this.instance(registered, id);
      // A step's call that would wait for a busy instance: the step's eager prefix commits first.
      if (options.hold && !isQuery && !target.idle) {
        await options.hold.beforeWaiting();
        target = this.instance(registered, id);
      }
      const hash = key === undefined ? undefined : requestHash(handler, value);
      // A retry's call that an earlier attempt kept: its record is looked up beside the queue of a
      // busy instance, not only in its turn there. On a hot wallet a compensation that timed out once
      // timed out again, attempt after attempt, queued for an answer long stored. The call keeps its
      // place: when the record is not there, the queue answers; when both answer, it is the same reply.
      const lookUp = options.mayBeKept === true && key !== undefined && !isQuery && !target.idle && options.hold?.abandoned !== true;
      const kept = lookUp ? once(options.kept) : options.kept;
      const queued = new Promise<PositionedReply>((resolve, reject) => {
        target.enqueue({
          handler,
          isQuery,
          input: value,
          idempotencyKey: key,
          requestHash: hash,
          principal: options.principal,
          ...(options.hold && !isQuery ? { hold: options.hold } : {}),
          ...(options.decideRefusalAgain && !isQuery ? { decideRefusalAgain: true } : {}),
          ...(options.keyUnsent && !isQuery ? { keyUnsent: true } : {}),
          kept: isQuery ? undefined : kept,
          trace: isQuery ? undefined : trace,
          resolve: (reply, position) => resolve(position === undefined ? reply : { ...reply, position }),
          reject,
        });
      });
      if (!lookUp) return await queued;
      const stored = keptReply(this.deps.store, componentName, id, key, hash!).then(
        (reply) => (reply ? (kept?.(false), reply) : queued),
        () => queued,
      );
      return await Promise.race([queued, stored]);
    } finally {
      this.inFlight--;
    }
  }

  /** Drops an idle instance from the cache (retention removed it from the store): the next call loads it anew. */
  forget(component: string, id: string): void {
    const cacheKey = cacheKeyOf(component, id);
    if (this.instances.get(cacheKey)?.idle) this.drop(cacheKey);
  }

  /** Refuses new outside calls and tasks from now on; keyed calls still pass. */
  close(): void {
    this.closed = true;
  }

  /** Resolves once no call is in flight and every mailbox is empty. */
  async drained(): Promise<void> {
    while (this.inFlight > 0 || [...this.instances.values()].some((i) => !i.idle)) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private instance(registered: Registered, id: string): Instance {
    const cacheKey = cacheKeyOf(registered.component.name, id);
    let instance = this.instances.get(cacheKey);
    if (instance) {
      // Map order is recency order: move to the back.
      this.instances.delete(cacheKey);
    } else {
      instance = new Instance(registered.kind, registered.component.name, id, this.deps);
    }
    this.instances.set(cacheKey, instance);
    if (this.instances.size > this.options.cacheSize) this.evict(instance);
    return instance;
  }

  /**
   * Drops idle instances until the cache fits: those that will never change again first (oldest
   * first), then the least recently used. A busy one stays, or two writers could exist.
   */
  private evict(keep: Instance): void {
    for (const order of [this.lasting.keys(), this.instances.keys()]) {
      for (const key of order) {
        if (this.instances.size <= this.options.cacheSize) return;
        const instance = this.instances.get(key);
        if (instance === undefined) this.lasting.delete(key); // dropped already
        else if (instance.idle && instance !== keep) this.drop(key);
      }
    }
  }

  private drop(cacheKey: string): void {
    this.instances.delete(cacheKey);
    this.lasting.delete(cacheKey);
  }

  /** A handler threw: logged with a correlation id, answered as 500 with that id. */
  private internalError(error: unknown, where: string): SagaflowError {
    const correlationId = logInternalError(this.options.log, error, where);
    // The cause goes to in-process callers only (a test sees the handler's own error and stack);
    // over HTTP the answer carries the correlation id, never the error.
    return new SagaflowError("internal", `internal error in ${where} (correlation id ${correlationId})`, {
      status: 500,
      details: { correlationId },
      cause: error,
    });
  }
}

/** An instance's key in the cache. */
function cacheKeyOf(component: string, id: string): string {
  return `${component}\u0000${id}`;
}

/** `fn` called at most once (a call answered both from its record and in its turn is told it was kept once). */
function once<A>(fn: ((arg: A) => void) | undefined): ((arg: A) => void) | undefined {
  if (!fn) return undefined;
  let called = false;
  return (arg) => {
    if (called) return;
    called = true;
    fn(arg);
  };
}
