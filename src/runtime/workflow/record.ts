import { isNotTheWorksFault, isStoreUnavailable, SagaflowError } from "../../define/errors.ts";
import type { RetryPolicy, StepFailure, StepOptions, Transition, WorkflowDefinition } from "../../define/workflow.ts";
import type { WorkflowRecord, WorkflowStatus } from "../../store/port.ts";

/** Pure changes of a workflow record; the engine commits them and schedules what comes next. */

/** How long a step that met data newer than this node's code waits before it tries again (a deploy takes a while). */
const codeBehindRetryMs = 5_000;
export const defaultStepTimeoutMs = 5_000;
const defaultRetry: Required<RetryPolicy> = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 10_000 };

export interface Changed {
  record: WorkflowRecord;
  note: string;
  /** The step failed over on an error retrying cannot change (a domain refusal, bad input): the saga's own path, not a fault. */
  refused?: true;
}

export function firstStep(definition: WorkflowDefinition): string {
  return Object.keys(definition.steps)[0]!;
}

export function stepOptions(definition: WorkflowDefinition, step: string): {
  timeoutMs: number;
  retry: Required<RetryPolicy>;
  failoverTo: string | undefined;
} {
  const own = (definition.stepOptions?.[step] ?? {}) as StepOptions<string>;
  const shared = (definition.defaults ?? {}) as StepOptions<string>;
  return {
    timeoutMs: own.timeoutMs ?? shared.timeoutMs ?? defaultStepTimeoutMs,
    retry: { ...defaultRetry, ...shared.retry, ...own.retry },
    // A step may switch a shared failover off by naming `failoverTo: undefined`.
    failoverTo: "failoverTo" in own ? own.failoverTo : shared.failoverTo,
  };
}

export function backoffMs(retry: Required<RetryPolicy>, failedAttempts: number): number {
  return Math.min(retry.maxBackoffMs, retry.initialBackoffMs * 2 ** Math.max(0, failedAttempts - 1));
}

/**
 * Records that begin a step execution (a start, a move to a step, a failover) as this process
 * decided them, until the engine first runs them (firstRunOf). A record read from the store, or
 * any copy of a record, is never here: it looks its calls up as before.
 */
const executionsNotYetRun = new WeakSet<WorkflowRecord>();

/**
 * Whether running `record` is its step execution's first run: this process decided the record
 * (the execution is new, its keys unsent) and has not run it before. True once per record.
 */
export function firstRunOf(record: WorkflowRecord): boolean {
  return executionsNotYetRun.delete(record);
}

/** `record`, which begins a step execution, noted as one not yet run (see firstRunOf). */
function beginsExecution(record: WorkflowRecord): WorkflowRecord {
  executionsNotYetRun.add(record);
  return record;
}

export function startRecord(
  definition: WorkflowDefinition,
  state: unknown,
  startHash: string,
  now: number,
): Changed {
  const record: WorkflowRecord = {
    status: "running",
    step: firstStep(definition),
    stepInput: null,
    state,
    attempt: 0,
    execId: 1,
    dueAt: null,
    deadlineAt: definition.timeout ? now + definition.timeout.afterMs : null,
    lastError: null,
    startHash,
    startReply: { status: "started" },
    createdAt: now,
    updatedAt: now,
  };
  return { record: beginsExecution(record), note: "started" };
}

/** Applies a step's or command's decision. An unknown step name is refused with a clear error. */
export function applyDecision(
  definition: WorkflowDefinition,
  record: WorkflowRecord,
  newState: { state: unknown } | undefined,
  transition: Transition | undefined,
  now: number,
): Changed {
  const state = newState ? newState.state : record.state;
  const base = { ...record, state, updatedAt: now };
  if (!transition) return { record: base, note: "state updated" };
  const knownStep = (step: string | undefined) => {
    if (step !== undefined && !Object.hasOwn(definition.steps, step)) {
      throw new SagaflowError("unknown_step", `workflow "${definition.name}" has no step "${step}"`, { status: 500 });
    }
  };
  switch (transition.kind) {
    case "step": {
      knownStep(transition.step);
      const next: WorkflowRecord = {
        ...base,
        status: "running",
        step: transition.step,
        stepInput: transition.input ?? null,
        attempt: 0,
        execId: record.execId + 1,
        dueAt: null,
        lastError: null,
      };
      return { record: beginsExecution(next), note: `to step ${transition.step}` };
    }
    case "pause":
      knownStep(transition.then);
      return {
        record: {
          ...base,
          status: "paused",
          stepInput: transition.then === undefined ? null : { then: transition.then },
          attempt: 0,
          lastError: null,
          dueAt: transition.timeoutMs === undefined ? null : now + transition.timeoutMs,
        },
        note: transition.timeoutMs === undefined ? "paused" : `paused for ${transition.timeoutMs} ms`,
      };
    case "end":
      // The step succeeded: an earlier attempt's error (kept in the history) no longer describes it.
      return { record: { ...base, status: "ended", dueAt: null, attempt: 0, lastError: null }, note: "ended" };
    case "fail": {
      const lastError = { code: transition.code, message: transition.message };
      return { record: { ...base, status: "failed", dueAt: null, lastError }, note: `failed: ${transition.code}` };
    }
  }
}

/**
 * Whether the calls of the step execution `before` ran can never be sent again once `after` is
 * stored: a step's call keys carry its execution id (step-context.ts), which a move to a step
 * renews, and an ended workflow runs nothing more. A failed or paused record keeps the execution
 * (an operator's retry, or a pause timeout that fails, runs the same step again), so not then.
 * A held write that commits with such a transition needs no idempotency record: the transition
 * and the write are kept together or not at all, so the call cannot be repeated.
 */
export function callKeysRetired(before: WorkflowRecord, after: WorkflowRecord): boolean {
  return after.status === "ended" || after.execId !== before.execId;
}

/** Whether an error can go away by trying again: domain refusals and bad input cannot. */
export function isPermanent(error: unknown): boolean {
  return error instanceof SagaflowError && !error.retryable && error.status < 500;
}

/**
 * An error as it is stored and shown: a SagaflowError keeps its code; anything else thrown (a bug,
 * a failing library) is a `step_error` from a workflow's step, a `handler_error` from a consumer's,
 * topic consumer's or timer's handler.
 */
export function describeError(error: unknown, thrownBy: "step" | "handler" = "step"): { code: string; message: string } {
  if (error instanceof SagaflowError) return { code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return thrownBy === "step" ? { code: "step_error", message } : { code: "handler_error", message };
}

/**
 * A step failed: retry after a back-off, fail over, or fail for good. `tookEffect`: part of the
 * failed attempt was kept (a call, a journaled result, a timer); the step execution is then
 * `partial` from here on, whatever its later attempts do, and its failover step is told so.
 */
export function applyStepFailure(
  definition: WorkflowDefinition,
  record: WorkflowRecord,
  error: unknown,
  now: number,
  tookEffect = false,
): Changed {
  const step = record.step!;
  const options = stepOptions(definition, step);
  const described = describeError(error);
  const lastError: NonNullable<WorkflowRecord["lastError"]> = tookEffect || record.lastError?.partial ? { ...described, partial: true } : described;
  if (isNotTheWorksFault(error)) {
    // Not the step's failure: the database was out of reach (a restart, a failover), or this
    // node's code is behind what a call read (a rolling deploy). Run it again after a back-off
    // without using up an attempt, or an outage would fail workflows and a deploy refund sagas.
    const behind = !isStoreUnavailable(error);
    const wait = behind ? Math.max(backoffMs(options.retry, 1), codeBehindRetryMs) : backoffMs(options.retry, 1);
    const why = behind ? "this node's code cannot read what the step's call met" : "the store was out of reach";
    return {
      record: { ...record, lastError, dueAt: now + wait, updatedAt: now },
      note: `step ${step}: ${why} (${lastError.message}); retry in ${wait} ms, attempts unchanged`,
    };
  }
  const attempt = record.attempt + 1;
  const base = { ...record, attempt, lastError, updatedAt: now };
  const why = `step ${step} failed (attempt ${attempt}): ${lastError.code}: ${lastError.message}${lastError.partial ? " after part of it took effect" : ""}`;
  if (!isPermanent(error) && attempt < options.retry.maxAttempts) {
    const wait = backoffMs(options.retry, attempt);
    return { record: { ...base, dueAt: now + wait }, note: `${why}; retry in ${wait} ms` };
  }
  if (options.failoverTo !== undefined) {
    const failure: StepFailure = { step, ...lastError };
    const moved = applyDecision(definition, base, undefined, { kind: "step", step: options.failoverTo, input: { failure } }, now);
    // Shown as why the failover step runs; `partial` is said of the failed step, in the failure, not of this one.
    const record = beginsExecution({ ...moved.record, lastError: described });
    const note = `${why}; failover to ${options.failoverTo}`;
    return isPermanent(error) ? { record, note, refused: true } : { record, note };
  }
  const state = definition.failedState ? definition.failedState(record.state, record.stepInput, step, described) : record.state;
  return { record: { ...base, state, status: "failed", dueAt: null }, note: `${why}; workflow failed` };
}

/** The workflow-level timeout fired. */
export function applyWorkflowTimeout(definition: WorkflowDefinition, record: WorkflowRecord, now: number): Changed {
  const lastError = { code: "workflow_timeout", message: `workflow ran longer than ${definition.timeout?.afterMs} ms` };
  const step = definition.timeout?.step;
  if (step !== undefined) {
    const moved = applyDecision(definition, { ...record, deadlineAt: null }, undefined, { kind: "step", step, input: { timeout: true } }, now);
    return { record: { ...moved.record, lastError }, note: `workflow timed out; to step ${step}` };
  }
  return { record: { ...record, status: "failed", deadlineAt: null, dueAt: null, lastError, updatedAt: now }, note: "workflow timed out; failed" };
}

/**
 * Operator controls. `terminate` stops the workflow now and leaves every effect of its steps in
 * place; `cancel` moves it to its declared cancel step (a saga's compensations) once the step
 * attempt in progress has finished or timed out.
 */
export type OperatorAction = "suspend" | "resume" | "terminate" | "retry" | "cancel";

/**
 * An operator's action. A retry of a saga stopped in its compensations may say which step they
 * undid by hand, or (`forward`) that the step done in part it stopped at is to be finished.
 */
export interface OperatorRequest {
  action: OperatorAction;
  undoneByHand?: string;
  forward?: boolean;
}

/** The statuses each operator action applies to. */
export const operatorAllowed: Record<OperatorAction, WorkflowStatus[]> = {
  // A paused workflow waits for a command already; suspending it would lose where it waits.
  suspend: ["running"],
  resume: ["suspended"],
  terminate: ["running", "paused", "suspended", "failed"],
  retry: ["failed"],
  cancel: ["running", "paused", "suspended", "failed"],
};

/**
 * Whether the step about to run was asked for again by an operator (`retry` of a failed workflow):
 * only that leaves attempt 0 with the error kept. A step's own failures count attempts from 1, an
 * outage keeps `store_unavailable`, and a failover or timeout moves to a new execution (whose
 * keys are new, so nothing stored under them).
 */
export function retriedByOperator(record: WorkflowRecord): boolean {
  return record.attempt === 0 && record.lastError !== null && record.lastError.code !== "store_unavailable";
}

/** What an operator action makes of the record; undefined where it is not allowed (and for cancel, which needs the definition: WorkflowEngine.cancelDecision). */
export function operatorChange(record: WorkflowRecord, action: OperatorAction, now: number, reason: string): Changed | undefined {
  if (!operatorAllowed[action].includes(record.status)) return undefined;
  const base = { ...record, updatedAt: now };
  switch (action) {
    case "suspend":
      return { record: { ...base, status: "suspended", dueAt: null }, note: `suspended ${reason}` };
    case "resume":
      return { record: { ...base, status: "running", dueAt: null }, note: `resumed ${reason}` };
    case "terminate":
      return { record: { ...base, status: "terminated", dueAt: null }, note: `terminated ${reason}` };
    case "retry":
      return { record: { ...base, status: "running", attempt: 0, dueAt: null, lastError: record.lastError }, note: `retried ${reason}` };
    case "cancel":
      return undefined; // needs the definition: see cancelDecision
  }
}
