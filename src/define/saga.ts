import { checkComponentName, checkDefinitionPart, checkFunctionPart, described } from "./component.ts";
import { errors, SagaflowError } from "./errors.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";
import type { Cancellation, OperatorRetry, RetryPolicy, StepContext, StepEffect, StepFailure, WorkflowDefinition } from "./workflow.ts";
import { workflow } from "./workflow.ts";
import { WorkflowEffectRecord } from "./workflow-effect.ts";
import type { Exposure, workflowResultRoute } from "./exposure.ts";

/**
 * One step of a saga: `run` does it; `compensate` undoes it if a later step fails for good. To
 * keep what the step learnt (a tracking number, a receipt), `run` returns `ctx.update({ ...s, … })`:
 * the saga goes on from that state. Anything else it returns is not kept.
 */
export interface SagaStep<S> {
  name: string;
  run: (state: S, ctx: StepContext<S, string>) => Promise<unknown>;
  compensate?: (state: S, ctx: StepContext<S, string>) => Promise<unknown>;
}

export type SagaStatus = "running" | "compensating" | "completed" | "rejected" | "compensated" | "requires_manual_intervention";

/** The state of a saga: the user's state plus what ran and what was undone. */
export type SagaState<S> = S & {
  status: SagaStatus;
  completed: string[];
  compensated: string[];
  failure?: StepFailure;
  /** Steps an operator undid by hand (a retry with `undoneByHand`): in `compensated` too, their compensations not run. */
  undoneByHand?: string[];
};

export interface SagaOptions<S, SI> {
  /** Creates the state (an object) from the start input. */
  start: (input: SI) => S;
  /**
   * A validator of the start input (any Standard Schema: zod, valibot, …), as a workflow's
   * `inputs.start`: input it refuses is a 400 `invalid_input` and nothing is started.
   */
  inputs?: { start?: StandardSchemaV1<unknown, SI> };
  steps: SagaStep<S>[];
  /** Retries of each forward step (a domain refusal is never retried). */
  retry?: RetryPolicy;
  /** Retries of each compensation before the saga needs an operator. Default 10 attempts. */
  compensationRetry?: RetryPolicy;
  stepTimeoutMs?: number;
  /**
   * What HTTP may call (nothing by default): `access.anyone` for `POST /{saga}/{id}/start` and
   * `GET /{saga}/{id}`, or `{ start: rule, $result: rule }` for each on its own.
   */
  expose?: Exposure<"start" | typeof workflowResultRoute>;
  /** As a workflow's `retentionMs`: how long an ended or terminated saga is kept; `0` forever. */
  retentionMs?: number;
  /** As a workflow's `eagerStart`: the writes of the steps due right after the start commit with it. */
  eagerStart?: boolean;
}

const compensateStep = "compensate";

const refusal = (error: unknown) => error instanceof SagaflowError && !error.retryable && error.status < 500;

/**
 * A workflow written as an ordered list of steps with compensations. When a step fails for good
 * (a refusal, or its retries run out) the compensations of the completed steps run in reverse
 * order. Final `state.status`: `completed`; `rejected` (the first step failed, nothing to undo);
 * `compensated`; or `requires_manual_intervention` when a compensation keeps failing — the
 * workflow is then `failed` and an operator's retry runs the compensations on from there.
 * An operator's cancel also runs the compensations (after the step attempt in progress has
 * finished or timed out) and ends `compensated`; terminate stops at once and undoes nothing.
 * A step that failed after part of it took effect (`failure.partial`) is undone first; without a
 * compensation, the saga stops for an operator (`partial_step`) rather than undo only the rest.
 * Stopped in its compensations, a retry with `undoneByHand: step` (the step it stopped at) counts
 * that step undone by the operator and compensates the rest; a step done in part that nothing
 * undoes needs it (a plain retry is refused `partial_step`), or a retry with `forward`, which runs
 * that step again in the execution it failed in (what it kept answered from its records) and goes on.
 *
 * @example
 * const transfer = saga("transfer", {
 *   start: (input: { from: string; to: string; amount: number }) => input,
 *   steps: [
 *     { name: "withdraw", run: (s, ctx) => ctx.call(wallet, s.from).withdraw({ amount: s.amount }),
 *       compensate: (s, ctx) => ctx.call(wallet, s.from).deposit({ amount: s.amount }) },
 *     { name: "deposit", run: (s, ctx) => ctx.call(wallet, s.to).deposit({ amount: s.amount }) },
 *   ],
 * });
 */
export function saga<S extends object, SI>(name: string, options: SagaOptions<S, SI>): WorkflowDefinition<SagaState<S>, SI> {
  checkSagaParts(name, options);
  const names = options.steps.map((s) => s.name);
  if (names.length === 0) throw new TypeError(`saga "${name}" needs at least one step`);
  if (names.includes(compensateStep) || new Set(names).size !== names.length) {
    throw new TypeError(`saga "${name}": step names must be unique and not "${compensateStep}"`);
  }
  const compensationRetry = { maxAttempts: 10, ...options.compensationRetry };
  type Ctx = StepContext<SagaState<S>, string>;

  const forward = (index: number) => async (state: SagaState<S>, _input: unknown, ctx: Ctx): Promise<StepEffect> => {
    const step = options.steps[index]!;
    const kept = keptState(name, step.name, await step.run(state, ctx)) ?? state;
    // The saga's own fields are its to keep, whatever the step's state says of them.
    const next = { ...kept, status: state.status, completed: [...state.completed, step.name], compensated: state.compensated } as SagaState<S>;
    // The first step of this code the saga has not done: the next in the list, unless the code
    // changed under a saga in flight (steps reordered or added) — every step then still runs once.
    const following = options.steps.find((s) => !next.completed.includes(s.name));
    return following
      ? ctx.update(next).transitionTo(following.name)
      : ctx.update({ ...next, status: "completed" }).end();
  };

  /**
   * Undoes the latest completed step not yet undone, then comes back for the next. Entered after
   * a failure (`input.failure`) or an operator's cancel (`input.cancelled`, recorded as a failure
   * with code "cancelled").
   */
  const compensate = async (state: SagaState<S>, input: unknown, ctx: Ctx): Promise<StepEffect> => {
    const current = compensating(state, input);
    const { toUndo, pending, partial } = undoing(current);
    if (pending === undefined) {
      // A cancelled saga ends compensated even when nothing had completed: it did not fail. Nor
      // is a first step undone after it took effect in part a plain rejection.
      const status = toUndo.length === 0 && current.failure?.code !== "cancelled" ? "rejected" : "compensated";
      return ctx.update({ ...current, status }).end();
    }
    if (undoneByHandIn(input) === pending) {
      const byHand = [...(current.undoneByHand ?? []), pending];
      return ctx.update({ ...current, status: "compensating", compensated: [...current.compensated, pending], undoneByHand: byHand }).transitionTo(compensateStep);
    }
    const undone = options.steps.find((s) => s.name === pending);
    if (!undone) {
      // Done by an earlier version of the code, which had the step; this one cannot undo it.
      const message = `compensation of ${pending} cannot run: the saga completed step "${pending}", which this code no longer defines (put it back, then retry; or undo it by hand, then retry with undoneByHand=${pending})`;
      return ctx.update({ ...current, status: "requires_manual_intervention" }).fail("compensation_failed", message);
    }
    // A step done in part that nothing undoes needs an operator: their retry with undoneByHand
    // says they undid it (above), and the rest is compensated.
    if (pending === partial && !undone.compensate) {
      return ctx.update({ ...current, status: "requires_manual_intervention" }).fail("partial_step", partialStepMessage(name, ctx.workflowId, pending));
    }
    try {
      await undone.compensate?.(current, ctx);
    } catch (error) {
      if (!refusal(error) && ctx.attempt < compensationRetry.maxAttempts) throw error;
      const code = error instanceof SagaflowError ? error.code : "compensation_failed";
      const message = `compensation of ${pending} failed: ${error instanceof Error ? error.message : String(error)}`;
      return ctx.update({ ...current, status: "requires_manual_intervention" }).fail(code, message);
    }
    return ctx.update({ ...current, status: "compensating", compensated: [...current.compensated, pending] }).transitionTo(compensateStep);
  };

  const steps: Record<string, (state: SagaState<S>, input: unknown, ctx: Ctx) => Promise<StepEffect>> = {};
  options.steps.forEach((step, index) => (steps[step.name] = forward(index)));
  steps[compensateStep] = compensate;

  const initial = (input: SI): SagaState<S> => {
    const state: unknown = options.start(input);
    // Spreading a string would make {"0": "h", …}: a saga's state is an object, so say so instead.
    if (typeof state !== "object" || state === null || Array.isArray(state)) {
      const got = Array.isArray(state) ? "an array" : state === null ? "null" : `a ${typeof state}`;
      throw errors.invalidInput(`saga "${name}" starts from an object; its start made ${got} of this input (give the saga an inputs.start schema)`);
    }
    return { ...(state as S), status: "running", completed: [], compensated: [] };
  };

  const definition = workflow(name, {
    start: initial,
    ...(options.inputs?.start ? { inputs: { start: options.inputs.start } } : {}),
    steps,
    defaults: {
      failoverTo: compensateStep,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.stepTimeoutMs ? { timeoutMs: options.stepTimeoutMs } : {}),
    },
    stepOptions: { [compensateStep]: { retry: compensationRetry, failoverTo: undefined } },
    onCancel: compensateStep,
    ...(options.expose === undefined ? {} : { expose: options.expose }),
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    ...(options.eagerStart === undefined ? {} : { eagerStart: options.eagerStart }),
  });
  const shape = { steps: options.steps.map((s) => ({ name: s.name, compensable: s.compensate !== undefined })), compensationStep: compensateStep };
  // A compensation whose attempts all threw or timed out never said so in the state: say it here.
  const failedState = (state: SagaState<S>, stepInput: unknown, step: string, error: { code: string; message: string }): SagaState<S> =>
    step !== compensateStep
      ? state
      : { ...state, status: "requires_manual_intervention", failure: state.failure ?? failureGiven(stepInput) ?? { step, ...error } };
  /**
   * An operator's retry: stopped in the compensations, `undoneByHand` must name the step they
   * stopped at; a step done in part that nothing undoes needs it, or `forward`, which finishes
   * that step instead. The step input carries `undoneByHand`.
   */
  const undoingStep = (state: SagaState<S>, stepInput: unknown, step: string) => (step === compensateStep ? undoing(compensating(state, stepInput)) : undefined);
  const operatorRetry = (state: SagaState<S>, stepInput: unknown, step: string, asked: { undoneByHand?: string; forward?: boolean }, id: string): OperatorRetry<SagaState<S>> => {
    const refused = (code: string, message: string): OperatorRetry<SagaState<S>> => ({ refused: { code, message } });
    const pending = undoingStep(state, stepInput, step);
    // Where the compensations stopped at a step done in part that nothing undoes (a pivot).
    const stuck = pending?.pending !== undefined && pending.pending === pending.partial;
    const pivot = stuck && !options.steps.some((s) => s.name === pending.pending && s.compensate) ? pending.pending : undefined;
    if (asked.forward) {
      if (pivot === undefined) {
        return refused("invalid_status", `saga ${name} "${id}" did not stop at a step done in part that nothing undoes (it is at step "${step}"): forward finishes such a step; retry without it runs "${step}" again`);
      }
      if (!options.steps.some((s) => s.name === pivot)) {
        return refused("invalid_status", `saga ${name} "${id}" stopped at step "${pivot}", done in part, which this code no longer defines: put it back to finish it forward, or undo it by hand (${retryUndoneByHand(name, id, pivot)})`);
      }
      // Back to where the step failed: running, as if its failure had not been; it is finished, then the steps after it.
      const { failure, ...before } = compensating(state, stepInput);
      const why = { code: failure?.code ?? "partial_step", message: failure?.message ?? "failed after part of it took effect" };
      return { forward: { step: pivot, state: { ...before, status: "running" } as SagaState<S>, failure: why } };
    }
    const { undoneByHand } = asked;
    if (undoneByHand === undefined) return pivot === undefined ? { stepInput } : refused("partial_step", partialStepMessage(name, id, pivot));
    if (pending?.pending === undefined) {
      return refused("invalid_status", `saga ${name} "${id}" stopped at step "${step}", not undoing a step: undoneByHand applies to a saga stopped in its compensations (retry without it runs "${step}" again)`);
    }
    if (undoneByHand !== pending.pending) {
      return refused("invalid_status", `saga ${name} "${id}" stopped undoing step "${pending.pending}", not "${undoneByHand}": undoneByHand names the step its compensations stopped at`);
    }
    const given = typeof stepInput === "object" && stepInput !== null ? stepInput : {};
    return { stepInput: { ...given, undoneByHand } };
  };
  return { ...definition, saga: shape, failedState, operatorRetry, undoingStep: (state, stepInput, step) => undoingStep(state, stepInput, step)?.pending };
}

/** The state a step's `run` asked to keep (`return ctx.update(state)`), if any. */
function keptState<S>(saga: string, step: string, result: unknown): SagaState<S> | undefined {
  if (!(result instanceof WorkflowEffectRecord)) return undefined;
  if (result.transition !== undefined) {
    throw new TypeError(`saga "${saga}", step "${step}": a saga moves from step to step by itself; return ctx.update(state) without transitionTo, end, pause or fail`);
  }
  const state = result.newState?.state;
  if (state === undefined) return undefined;
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw new TypeError(`saga "${saga}", step "${step}": ctx.update takes the saga's state, an object`);
  }
  return state as SagaState<S>;
}

/** The state the compensations work on: entered with a failure (or a cancel), it is recorded. */
function compensating<S>(state: SagaState<S>, input: unknown): SagaState<S> {
  const failure = failureGiven(input);
  return failure ? { ...state, failure, status: "compensating" } : state;
}

/**
 * What the compensations have to undo: the completed steps and, first, a step that failed after
 * part of it took effect (its compensation must cope with a step done in part; one that failed
 * with nothing kept has nothing to undo). `pending`: the latest not undone yet.
 */
function undoing<S>(current: SagaState<S>): { toUndo: string[]; pending: string | undefined; partial: string | undefined } {
  const partial = current.failure?.partial && !current.completed.includes(current.failure.step) ? current.failure.step : undefined;
  const toUndo = partial === undefined ? current.completed : [...current.completed, partial];
  const pending = [...toUndo].reverse().find((n) => !current.compensated.includes(n));
  return { toUndo, pending, partial };
}

/** The step an operator's retry says they undid by hand (see operatorRetry). */
function undoneByHandIn(input: unknown): string | undefined {
  return (input as { undoneByHand?: string } | null)?.undoneByHand;
}

function partialStepMessage(saga: string, id: string, step: string): string {
  return `step "${step}" of saga ${saga} "${id}" failed after part of it took effect, and it has no compensation: undoing the steps before it would leave that part in place, so none was undone. Undo that part by hand (the workflow's journal lists what it kept: npx sagaflow workflows show ${saga} ${cliWord(id)}), then ${retryUndoneByHand(saga, id, step)}: the saga counts it undone and compensates the rest; or finish the step instead, ${retryForward(saga, id)}: it runs again in the execution it failed in, what it kept is answered from its records, not done again, and the saga goes on; or give the step a compensation, deploy, and retry; terminate leaves everything as it stands`;
}

/** How an operator says they undid `step` of saga `saga` `id` by hand: over the admin API, and with the CLI. */
export function retryUndoneByHand(saga: string, id: string, step: string): string {
  return `retry with undoneByHand=${step} (npx sagaflow workflows retry ${saga} ${cliWord(id)} --undone-by-hand ${step})`;
}

/** How an operator finishes forward the step done in part that saga `saga` `id` stopped at: over the admin API, and with the CLI. */
export function retryForward(saga: string, id: string): string {
  return `retry with forward=true (npx sagaflow workflows retry ${saga} ${cliWord(id)} --forward)`;
}

/** `word` as a shell reads it back: quoted when it holds anything but letters, digits and . _ - : / @ = + ,. */
export function cliWord(word: string): string {
  return /^[\w.:/@=+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The failure the compensation was entered with (`input.failure`), or an operator's cancel as one (code "cancelled"). */
function failureGiven(input: unknown): StepFailure | undefined {
  const given = input as { failure?: StepFailure; cancelled?: Cancellation } | null;
  const cancelled = given?.cancelled;
  if (!cancelled) return given?.failure;
  return { step: cancelled.step ?? "", code: "cancelled", message: cancelled.reason, ...(cancelled.partial ? { partial: cancelled.partial } : {}) };
}

/** The parts a saga defined in plain JavaScript may get wrong, each named when defined rather than failing a step later. */
function checkSagaParts<S, SI>(name: string, options: SagaOptions<S, SI>): void {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ start, steps, … })", options);
  checkFunctionPart(name, "its start", options.start);
  if (!Array.isArray(options.steps)) {
    throw new TypeError(`component "${name}": its steps must be an array of { name, run, compensate? }, got ${described(options.steps)}`);
  }
  options.steps.forEach((step, i) => {
    checkDefinitionPart(name, `its steps[${i}]`, step);
    if (typeof step.name !== "string" || step.name === "") throw new TypeError(`component "${name}": its steps[${i}].name must be a non-empty string`);
    checkFunctionPart(name, `its steps[${i}].run`, step.run);
    if (step.compensate !== undefined) checkFunctionPart(name, `its steps[${i}].compensate`, step.compensate);
  });
}
