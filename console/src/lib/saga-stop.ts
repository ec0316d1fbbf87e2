import type { WorkflowShape } from "./graph-layout.ts";

/** The parts of a saga's state that say what its compensations have undone (src/define/saga.ts). */
interface SagaProgress {
  completed?: unknown;
  compensated?: unknown;
  failure?: { step?: unknown; partial?: unknown };
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);

/**
 * The step a saga stopped undoing (failed in its compensations), which an operator may undo by
 * hand and say so (`retry?undoneByHand=`); undefined for anything else. Mirrors the saga's own
 * reckoning (`undoing` in src/define/saga.ts): the completed steps and a step that failed done in
 * part, latest first, the first not compensated yet.
 */
export function stoppedUndoing(shape: WorkflowShape | undefined, workflow: { status: string; step: string | null; state: unknown }): string | undefined {
  if (!shape?.saga || workflow.status !== "failed" || workflow.step !== shape.saga.compensationStep) return undefined;
  if (typeof workflow.state !== "object" || workflow.state === null) return undefined;
  const state = workflow.state as SagaProgress;
  const completed = strings(state.completed);
  const compensated = strings(state.compensated);
  const failed = state.failure?.partial === true && typeof state.failure.step === "string" ? state.failure.step : undefined;
  const toUndo = failed === undefined || completed.includes(failed) ? completed : [...completed, failed];
  return [...toUndo].reverse().find((step) => !compensated.includes(step));
}
