import type { InstanceClient, Timers } from "./handlers.ts";
import type { StoredReply, WorkflowStatus } from "../store/port.ts";
import { checkComponentName, checkDefinitionPart, checkFunctionPart, checkHandlerNames, checkHandlers, type InputSchemas, type QueryHandler } from "./component.ts";
import type { Effect, ReplyEffects } from "./effect.ts";
import { checkExposure, workflowResultRoute, type Exposure, type HandlerNames } from "./exposure.ts";
import type { Component } from "./service.ts";

export type { WorkflowStatus };

/** A workflow instance as commands, queries and `GET /{workflow}/{id}` see it. */
export interface WorkflowView<S> {
  id: string;
  status: WorkflowStatus;
  step: string | null;
  state: S;
}

/** How a step or command moves the workflow on. */
export type Transition =
  | { kind: "step"; step: string; input: unknown }
  | { kind: "pause"; timeoutMs: number | undefined; then: string | undefined }
  | { kind: "end" }
  | { kind: "fail"; code: string; message: string };

/** What a step returns (built with its context): an optional new state and where to go next. */
export interface StepEffect {
  readonly newState: { state: unknown } | undefined;
  readonly transition: Transition;
}

export interface Moves<SN extends string, Out> {
  /** Runs `step` next, with `input` as its second argument. */
  transitionTo(step: SN, input?: unknown): Out;
  /** Waits for a command; after `timeoutMs` (if given) runs step `then`. */
  pause(options?: { timeoutMs?: number; then?: SN }): Out;
  /** Finishes: status `ended`, the state is the result. */
  end(): Out;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 5. */
  maxAttempts?: number;
  /** Back-off before the second attempt; doubles each time. Default 100 ms. */
  initialBackoffMs?: number;
  /** Longest back-off. Default 10 s. */
  maxBackoffMs?: number;
}

export interface StepOptions<SN extends string> {
  /** A step that has not settled after this long counts as failed. Default 5 s. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /**
   * Where to go once the step has failed for good (its input is `{ failure }`); else status
   * `failed`. `undefined` in a step's own options switches off a failover set in `defaults`.
   */
  failoverTo?: SN | undefined;
}

/** What the cancel step receives as `input.cancelled`: where the workflow stood, and why. */
export interface Cancellation {
  /** The step the workflow was at when cancelled. */
  step: string | null;
  reason: string;
  /** Set when an attempt of that step failed after part of it took effect (see StepFailure.partial). */
  partial?: true;
}

/** A step failure as the failover step receives it. */
export interface StepFailure {
  step: string;
  code: string;
  message: string;
  /**
   * Set when an attempt of the step failed after part of it took effect: a call of it was
   * answered and kept (it is not undone by the failure), a `ctx.run` result journaled, a timer
   * started or cancelled. Without it, nothing of the step was kept.
   */
  partial?: true;
}

/**
 * The context of a running step. Component calls made through `call` carry an idempotency key
 * derived from (workflow, id, step execution, call index): a step that runs again after a crash
 * or a timeout gets the stored replies and changes nothing twice. Make calls in the same order
 * on every run. Anything else a step does (HTTP to other systems) is at-least-once.
 */
export interface StepContext<S, SN extends string> extends Moves<SN, StepEffect> {
  readonly workflowId: string;
  /** 1 on the first attempt of this step execution. */
  readonly attempt: number;
  call<D extends Component>(definition: D, id: string): InstanceClient<D>;
  /** Durable timers (starting one is at-least-once: a re-run starts it again; its call is keyed by the execution, so the target changes once). */
  readonly timers: Timers;
  update(state: S): Moves<SN, StepEffect> & { fail(code: string, message?: string): StepEffect };
  /** Stops the workflow with status `failed` (an operator can retry it from this step). */
  fail(code: string, message?: string): StepEffect;
  /**
   * Runs a side effect (an HTTP call to another system) and journals its result: a re-run of this
   * step execution (after a crash or timeout) gets the journaled result instead of calling again,
   * once a call has succeeded and its result was committed. Pass `attempt.idempotencyKey` to the
   * other system: a crash during the call calls again with the same key (at-least-once). Failures
   * are retried per `options`, then fail the step attempt; they are not journaled. The result must
   * be JSON (undefined is journaled as null).
   */
  run<T>(name: string, fn: (attempt: RunAttempt) => Promise<T> | T, options?: RunOptions): Promise<T>;
}

/** What `ctx.run`'s function is given. */
export interface RunAttempt {
  /** The same on every run of this step execution: `wf:{workflow}:{id}:{execution}:run:{name}:{n}`. */
  idempotencyKey: string;
  /** 1, 2, … within this step attempt. */
  attempt: number;
  /**
   * Aborted when the step attempt ends without this run (it timed out, or was terminated). Pass it
   * to a read (`fetch(url, { signal })`), not to a call with an effect: giving up does not take a
   * sent request back, and the run counts as having taken effect either way. The workflow's next
   * attempt (a retry, or its compensation) waits for a run still going to settle.
   */
  signal: AbortSignal;
}

/** `ctx.run`'s own retries, before the step attempt fails. */
export interface RunOptions {
  /** Default 3. */
  maxAttempts?: number;
  /** Default 200 ms, doubling. */
  initialBackoffMs?: number;
  /** Default 5,000 ms. */
  maxBackoffMs?: number;
}

export type StepHandler<S, SN extends string> = (
  state: S,
  input: any,
  ctx: StepContext<S, SN>,
) => StepEffect | Promise<StepEffect>;

/** Effects of a workflow command (other than start): answer, and optionally move the workflow. */
export interface WorkflowEffects<S, SN extends string> extends ReplyEffects, Moves<SN, WorkflowCommandEffect> {
  update(state: S): Moves<SN, WorkflowCommandEffect> & { reply<R>(value: R): Effect<R> };
}

export interface WorkflowCommandEffect extends Effect<void> {
  reply<R>(value: R): Effect<R>;
}

export type WorkflowCommandHandler<S, SN extends string> = (
  workflow: WorkflowView<S>,
  input: any,
  fx: WorkflowEffects<S, SN>,
) => Effect<unknown>;

/** A workflow's steps by name; each step may move on to any of them (and only to them). */
export type Steps<S, SN extends string> = { [K in SN]: StepHandler<S, NoInfer<SN>> };

export interface WorkflowOptions<S, SI, SN extends string, CM, QM> {
  /** Creates the state from the start input; the first step in `steps` then runs. */
  start: (input: SI) => S;
  /** The step names are inferred from here: a transition to another name does not compile. */
  steps: Steps<S, SN>;
  commands?: CM;
  queries?: QM;
  inputs?: InputSchemas<CM & QM & { start: (s: unknown, input: SI) => unknown }>;
  /** Options for every step, and per step (which win). */
  defaults?: StepOptions<NoInfer<SN>>;
  stepOptions?: { [K in NoInfer<SN>]?: StepOptions<NoInfer<SN>> };
  /** A workflow still running after `afterMs` is moved to `step` (or fails, without one). */
  timeout?: { afterMs: number; step?: NoInfer<SN> };
  /**
   * The step an operator's cancel moves the workflow to (input `{ cancelled: Cancellation }`),
   * after the step attempt in progress has finished. Without it, cancel is refused (409) and only
   * terminate (stop now, effects left in place) is available. A saga cancels by compensating.
   */
  onCancel?: NoInfer<SN>;
  /**
   * What HTTP may call (nothing by default): `access.anyone` for `start`, every command and
   * query and `GET /{workflow}/{id}`; or `{ start: rule, $result: rule, … }` for those only
   * (`$result` is `GET /{workflow}/{id}`). In-process callers are not affected.
   */
  expose?: NoInfer<Exposure<"start" | typeof workflowResultRoute | HandlerNames<CM, QM>>>;
  /**
   * Runs the steps due right after the start (up to 8) before the start is committed, and commits
   * the start with what they did (each call's write and each transition) as one write: a workflow
   * whose steps only call components saves a commit per step, and its start is answered after
   * that commit. Whatever a step would make durable on its own (a second call, `ctx.run`, a timer,
   * a call that would wait for a busy instance), and a start still running after 50 ms, commits
   * what came before that step first (the step's wait for that commit is not counted against its
   * `timeoutMs`). Leave it off when such a step does I/O outside Sagaflow (a
   * plain `fetch`): if the process died before the commit, that I/O would have happened for a
   * start that was never answered, nor kept. Default false.
   */
  eagerStart?: boolean;
  /**
   * How long (ms) an instance that ended or was terminated is kept, with its history, before
   * retention removes it (a tombstone then says it was removed). Default: the service's
   * `retention.workflowsMs`, 7 days; `0` keeps them forever. Failed instances are always kept:
   * they wait for an operator.
   */
  retentionMs?: number;
}

/** A workflow definition; `SN` is the union of its step names. */
export interface WorkflowDefinition<S = any, SI = any, SN extends string = any, CM = any, QM = any>
  extends WorkflowOptions<S, SI, SN, CM, QM> {
  readonly kind: "workflow";
  readonly name: string;
  readonly commands: CM & { start: (state: unknown, input: SI, fx: unknown) => Effect<{ status: "started" }> };
  readonly queries: QM;
  /** Set by `saga()`: its forward steps in order and which of them have a compensation (for the console's step graph). */
  readonly saga?: { steps: ReadonlyArray<{ name: string; compensable: boolean }>; compensationStep: string };
  /**
   * Set by `saga()`: the state kept when a step fails for good with nowhere to fail over to (its
   * attempts threw or timed out, so the step itself could not say so in its state).
   */
  readonly failedState?: (state: S, stepInput: unknown, step: string, error: { code: string; message: string }) => S;
  /**
   * Set by `saga()`: whether an operator's retry of the instance it stopped may go on, and the step
   * input it then runs with. `undoneByHand`: the step the operator says they undid by hand (the
   * one the compensations stopped at), counted undone without running its compensation.
   * `forward`: that step, done in part with nothing to undo it, is to be finished instead.
   */
  readonly operatorRetry?: (state: S, stepInput: unknown, step: string, asked: { undoneByHand?: string; forward?: boolean }, id: string) => OperatorRetry<S>;
  /** Set by `saga()`: in its compensations, the step they are undoing now (or stopped at); undefined elsewhere. */
  readonly undoingStep?: (state: S, stepInput: unknown, step: string) => string | undefined;
}

/**
 * An operator's retry, as a workflow's definition judges it: the step input to run with; or
 * (`forward`) the step done in part to run again, in the execution it failed in, from `state`,
 * with how it failed; or why not.
 */
export type OperatorRetry<S = unknown> =
  | { stepInput: unknown }
  | { forward: { step: string; state: S; failure: { code: string; message: string } } }
  | { refused: { code: string; message: string } };

/**
 * Defines a workflow: a durable state machine of named steps, the orchestrator of a saga.
 * `POST /{name}/{id}/start` creates it (a repeat with the same input gets the same reply); the
 * first step of `steps` runs next; each step calls components and decides where to go.
 *
 * @example
 * const order = workflow("order", {
 *   start: (input: { sku: string }) => ({ ...input, reserved: false }),
 *   steps: {
 *     reserve: async (s, _in, ctx) => {
 *       await ctx.call(stock, s.sku).reserve({ quantity: 1 });
 *       return ctx.update({ ...s, reserved: true }).end();
 *     },
 *   },
 * });
 */
export function workflow<
  S,
  SI,
  SN extends string,
  CM extends Record<string, WorkflowCommandHandler<S, NoInfer<SN>>>,
  QM extends Record<string, QueryHandler<WorkflowView<S>>>,
>(name: string, options: WorkflowOptions<S, SI, SN, CM, QM>): WorkflowDefinition<S, SI, SN, CM, QM> {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ start, steps, … })", options);
  checkFunctionPart(name, "its start", options.start);
  checkHandlers(name, "its steps", options.steps);
  const commands = (options.commands ?? {}) as CM;
  const queries = (options.queries ?? {}) as QM;
  checkHandlers(name, "its commands", commands);
  checkHandlers(name, "its queries", queries);
  checkHandlerNames(name, [{ start: true }, commands, queries]);
  checkExposure(name, options.expose, workflowRouteNames(commands, queries));
  const steps = Object.keys(options.steps);
  if (steps.length === 0) throw new TypeError(`workflow "${name}" needs at least one step`);
  const known = (step: string | undefined, where: string) => {
    if (step !== undefined && !steps.includes(step)) {
      throw new TypeError(`workflow "${name}": ${where} names step "${step}", which is not defined`);
    }
  };
  known(options.defaults?.failoverTo, "defaults.failoverTo");
  known(options.timeout?.step, "timeout.step");
  known(options.onCancel, "onCancel");
  const { retentionMs } = options;
  if (retentionMs !== undefined && !(Number.isSafeInteger(retentionMs) && retentionMs >= 0)) {
    throw new TypeError(`workflow "${name}": retentionMs must be a whole number of ms, 0 or more (0 keeps ended instances forever)`);
  }
  if (options.eagerStart !== undefined && typeof options.eagerStart !== "boolean") {
    throw new TypeError(`workflow "${name}": eagerStart must be true or false`);
  }
  for (const [step, stepOptions] of Object.entries(options.stepOptions ?? {})) {
    known(step, "stepOptions");
    known((stepOptions as StepOptions<string> | undefined)?.failoverTo, `stepOptions.${step}.failoverTo`);
  }
  // `start` is answered by the engine; it is listed so that clients and HTTP see it.
  const start = () => {
    throw new Error("start is handled by the workflow engine");
  };
  return { ...options, commands: { ...commands, start }, queries, kind: "workflow", name };
}

/** Every name a workflow's `expose` may list: `start`, its handlers and `$result`. */
export function workflowRouteNames(commands: object, queries: object): string[] {
  return ["start", ...Object.keys(commands).filter((n) => n !== "start"), ...Object.keys(queries), workflowResultRoute];
}

/** The reply to a workflow command, as the engine stores it. */
export type WorkflowReply = StoredReply;
