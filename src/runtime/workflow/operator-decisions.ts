import type { Cancellation, OperatorRetry, WorkflowDefinition } from "../../define/workflow.ts";
import { cliWord, retryUndoneByHand } from "../../define/saga.ts";
import type { Store, StoredReply, WorkflowRecord } from "../../store/port.ts";
import { journaledEffects } from "./journal.ts";
import { stepKeyOf } from "./step-context.ts";
import type { Current, Decision } from "../decide.ts";
import { applyDecision, operatorAllowed, operatorChange, type Changed, type OperatorAction, type OperatorRequest } from "./record.ts";

const ok: StoredReply = { ok: true, value: undefined };

/** A turn that changes nothing (its reply `ok`, or as given after the spread). */
export const unchanged = (current: Current): Decision => ({ reply: ok, events: [], next: current, changed: false });

/** A turn that stores `record`, replying with its status and step. */
export const changedTo = ({ record, note }: Changed): Decision => ({
  reply: { ok: true, value: { status: record.status, step: record.step } },
  events: [],
  next: { state: record, deleted: false },
  changed: true,
  note,
});

/**
 * What an operator's action does to the workflow `current` holds. `attemptStopped`: this
 * terminate or cancel stopped a step attempt, whose turn has committed its outcome already
 * (terminated, or moved to the cancel step).
 */
export function operatorDecision(definition: WorkflowDefinition, id: string, current: Current, record: WorkflowRecord, request: OperatorRequest, reason: string, now: number, attemptStopped: boolean): Decision {
  const { action } = request;
  // Unless that commit failed: then it is decided here.
  const decidedByAttempt = attemptStopped && (action === "cancel" ? record.step === definition.onCancel : record.status === "terminated");
  if (decidedByAttempt) return { ...unchanged(current), reply: { ok: true, value: { status: record.status, step: record.step } } };
  if (action === "cancel") return cancelDecision(definition, id, current, record, reason, now);
  if (action === "retry" && record.status === "failed") return retryDecision(definition, id, current, record, request, reason, now);
  const next = operatorChange(record, action, now, reason);
  if (!next) return { ...unchanged(current), reply: { ok: false, code: "invalid_status", message: `cannot ${action} a workflow that is ${record.status}` } };
  return changedTo(next);
}

/**
 * Retry of a failed workflow: its step runs again, in the same execution (its keyed calls are
 * answered from their records). A saga judges it first (`operatorRetry`): stopped at a step done
 * in part that nothing undoes, the operator must say they undid it (`undoneByHand`), or have that
 * step finished (`forward`).
 */
function retryDecision(definition: WorkflowDefinition, id: string, current: Current, record: WorkflowRecord, request: OperatorRequest, reason: string, now: number): Decision {
  const { undoneByHand, forward } = request;
  const asked = { ...(undoneByHand === undefined ? {} : { undoneByHand }), ...(forward ? { forward } : {}) };
  const judged = definition.operatorRetry?.(record.state, record.stepInput, record.step ?? "", asked, id) ?? (forward ? notASaga(definition) : { stepInput: record.stepInput });
  if ("refused" in judged) return { ...unchanged(current), reply: { ok: false, ...judged.refused } };
  if ("forward" in judged) return changedTo(forwardChange(record, judged.forward, reason, now));
  const next = operatorChange({ ...record, stepInput: judged.stepInput }, "retry", now, reason)!;
  return changedTo(undoneByHand === undefined ? next : { ...next, note: `${next.note}; step ${undoneByHand} undone by hand` });
}

const notASaga = (definition: WorkflowDefinition): OperatorRetry => ({
  refused: { code: "invalid_status", message: `forward applies to a saga stopped at a step done in part that nothing undoes; workflow "${definition.name}" is not a saga (retry without it runs its step again)` },
});

/**
 * A saga's forward retry: the step done in part it stopped at runs again in the execution it
 * failed in — the one before its compensation's, which the failover (or a cancel) moved it to and
 * which stopped before running anything — so what that step kept (calls, `ctx.run` results) is
 * answered from its records, not done again. The step after it takes the compensation's number,
 * under which nothing was kept (RuntimeAdmin.operateWorkflow checks that before asking). Its last
 * error is the step's own failure, done in part: a cancel meanwhile is refused (it can only go
 * forward), and the step knows it was retried by an operator (retriedByOperator).
 */
function forwardChange(record: WorkflowRecord, forward: { step: string; state: unknown; failure: { code: string; message: string } }, reason: string, now: number): Changed {
  const { step, state, failure } = forward;
  const execId = record.execId - 1;
  const lastError = { code: failure.code, message: failure.message, partial: true as const };
  return {
    record: { ...record, status: "running", step, stepInput: null, state, execId, attempt: 0, dueAt: null, lastError, updatedAt: now },
    note: `retried forward ${reason}: step ${step} runs again in execution ${execId}, where it failed; what it kept is answered from its records`,
  };
}

/**
 * A refusal the definition alone decides (a cancel where there is no cancel step): answered at
 * once, without waiting for the step attempt in progress; undefined for every other request.
 */
export function refusedByDefinition(definition: WorkflowDefinition, request: OperatorRequest): StoredReply | undefined {
  if (request.action !== "cancel" || definition.onCancel !== undefined) return undefined;
  return { ok: false, code: "no_cancel_step", message: `workflow "${definition.name}" declares no cancel step (onCancel); terminate stops it now, leaving its effects in place` };
}

/**
 * Cancel: to the workflow's `onCancel` step (a saga's compensations), with input
 * `{ cancelled: { step, reason } }`. It runs in the mailbox after the step attempt in progress,
 * so that attempt finishes (or times out) first; its keyed calls are never repeated under a
 * new key. A workflow already at its cancel step is refused: retry it if it failed there. So is
 * a saga whose step took effect in part and has no compensation (`partial_step`): undoing the
 * steps before it would leave that part in place (money deposited and refunded too).
 */
function cancelDecision(definition: WorkflowDefinition, id: string, current: Current, record: WorkflowRecord, reason: string, now: number): Decision {
  const refuse = (code: string, message: string): Decision => ({ ...unchanged(current), reply: { ok: false, code, message } });
  const step = definition.onCancel;
  if (step === undefined) return { ...unchanged(current), reply: refusedByDefinition(definition, { action: "cancel" })! };
  if (!operatorAllowed.cancel.includes(record.status)) return refuse("invalid_status", `cannot cancel a workflow that is ${record.status}`);
  if (record.step === step) {
    const code = record.lastError?.code ?? "failed";
    const undoing = definition.undoingStep?.(record.state, record.stepInput, step) ?? "STEP";
    const byHand = retryUndoneByHand(definition.name, id, undoing);
    const failedThere =
      record.status !== "failed"
        ? `; it is ${record.status} there (where the step attempt in progress may have left it: see how it goes with npx sagaflow workflows show ${definition.name} ${cliWord(id)})`
        : code === "partial_step"
          ? `; it stopped there (partial_step) at step ${undoing}, done in part: undo that part by hand, then ${byHand}`
          : `; it failed there (${code}: read its last error first), and retry runs that step again (or, once you undid step ${undoing} by hand, ${byHand})`;
    return refuse("invalid_status", `the workflow is already at its cancel step "${step}"${failedThere}`);
  }
  const partial = record.lastError?.partial === true;
  const pivot = partial && definition.saga?.steps.some((s) => s.name === record.step && !s.compensable);
  if (pivot) {
    return refuse(
      "partial_step",
      `step "${record.step}" of saga ${definition.name} "${id}" took effect in part (an attempt failed after part of it was kept) and has no compensation to undo it: the saga can only go forward, and its next attempt finishes the step (what took effect is answered from its record, not done again); terminate stops it as it stands`,
    );
  }
  return changedTo(cancelChange(definition, record, reason, now, partial));
}

/** The move to the workflow's `onCancel` step, told which step was cancelled and whether part of it took effect. */
export function cancelChange(definition: WorkflowDefinition, record: WorkflowRecord, reason: string, now: number, partial: boolean): Changed {
  const step = definition.onCancel!;
  const cancelled: Cancellation = { step: record.step, reason: `cancelled ${reason}`, ...(partial ? { partial } : {}) };
  const moved = applyDecision(definition, { ...record, deadlineAt: null }, undefined, { kind: "step", step, input: { cancelled } }, now);
  return { record: moved.record, note: `cancelled ${reason}; to step ${step}` };
}

/**
 * Whether a cancel may stop an attempt of `step` in progress rather than wait for it: not the
 * cancel step itself, nor a saga step that nothing undoes (the attempt may still finish it, and
 * stopped done in part it would leave the saga only forward to go).
 */
export function cancelStopsAttempt(definition: WorkflowDefinition, step: string): boolean {
  if (definition.onCancel === undefined || step === definition.onCancel) return false;
  return definition.saga?.steps.find((s) => s.name === step)?.compensable !== false;
}

/**
 * The cancel step's input, with `partial` settled from the journal of the execution it cancelled
 * (a promise then); any other step's input as it is.
 * On several nodes, a cancel sent to a node not running the step is decided there at once, not
 * after the attempt in progress on the other node: that attempt's transition is then refused (the
 * record moved on), but a call it committed on its own stays, and its mark is in the journal.
 */
export function settledCancelInput(store: Store, workflow: string, id: string, record: WorkflowRecord): unknown {
  const input = record.stepInput as { cancelled?: Cancellation } | null;
  const cancelled = input?.cancelled;
  // Every other step's input as it is, without waiting (not even a tick): the usual path.
  if (!cancelled || cancelled.partial || record.execId < 2) return record.stepInput;
  // The cancel moved the workflow to a new execution (applyDecision): the cancelled one is the one before.
  return journaledEffects(store, workflow, id, stepKeyOf(workflow, id, record.execId - 1)).then((kept) =>
    kept ? { ...input, cancelled: { ...cancelled, partial: true } } : record.stepInput,
  );
}

const everyAction: OperatorAction[] = ["suspend", "resume", "retry", "cancel", "terminate"];

/**
 * What an operator may do to `record` now, each action decided as the admin API would decide it
 * (nothing stored): the console offers these. `undoing`: the step a saga's compensations are
 * undoing, or stopped at (else null); `undoneByHand`: that step when a retry may say it was undone
 * by hand and nothing of its compensation was kept (the admin API still takes it), or null;
 * `forward`: that step when a retry may finish it forward instead (a step done in part that
 * nothing undoes), or null.
 */
export function operatorChoices(
  definition: WorkflowDefinition,
  id: string,
  record: WorkflowRecord,
  now: number,
): { actions: OperatorAction[]; undoing: string | null; undoneByHand: string | null; forward: string | null } {
  const current: Current = { state: record, deleted: false };
  const accepted = (request: OperatorRequest) => operatorDecision(definition, id, current, record, request, "", now, false).reply.ok;
  const undoing = definition.undoingStep?.(record.state, record.stepInput, record.step ?? "");
  // A compensation that failed after part of it took effect (a refund kept, say): a plain retry
  // finishes it under the same keys; offered "undone by hand", an operator might undo it twice.
  const keptPart = record.lastError?.partial === true;
  return {
    actions: everyAction.filter((action) => accepted({ action })),
    undoing: undoing ?? null,
    undoneByHand: undoing !== undefined && !keptPart && accepted({ action: "retry", undoneByHand: undoing }) ? undoing : null,
    forward: undoing !== undefined && accepted({ action: "retry", forward: true }) ? undoing : null,
  };
}
