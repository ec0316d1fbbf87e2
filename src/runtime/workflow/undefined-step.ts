import type { WorkflowDefinition } from "../../define/workflow.ts";
import type { WorkflowRecord } from "../../store/port.ts";
import type { Changed } from "./record.ts";

/** How long a workflow left for another node waits before a node looks at it again. */
export const leftForAnotherNodeMs = 30_000;

/**
 * The step a due workflow would run now — its current step, or its timed-out pause's `then` — when
 * this code does not define it. Start-up refuses such workflows (checkDefinitions), but a node can
 * meet one later: another node, running newer code during a rolling deploy, moved it there, and
 * this node took over its bucket. Running it here would fail the step (and compensate a saga that
 * would have succeeded), so the engine leaves it for a node whose code has the step.
 */
export function undefinedStepDue(definition: WorkflowDefinition, record: WorkflowRecord): string | undefined {
  const step = record.status === "paused" ? (record.stepInput as { then?: string } | null)?.then : record.step;
  return step === undefined || step === null || Object.hasOwn(definition.steps, step) ? undefined : step;
}

/**
 * The workflow as it stands, due again in `leftForAnotherNodeMs`: not due meanwhile, so the due
 * sweep does not read it again and again (a page full of them would stall every other due
 * workflow of this node), and a node whose code has the step runs it by then.
 */
export function leaveForAnotherNode(record: WorkflowRecord, step: string, now: number): Changed {
  return {
    record: { ...record, dueAt: now + leftForAnotherNodeMs, updatedAt: now },
    note: `step "${step}" is not defined by this node's code: left for a node whose code defines it; due again in ${leftForAnotherNodeMs / 1000} s`,
  };
}

/** Says it once per workflow and step in this process: the sweep meets the workflow again every few seconds. */
export class UndefinedStepWarnings {
  private readonly said = new Set<string>();

  constructor(private readonly log: (line: string) => void) {}

  warn(workflow: string, id: string, step: string): void {
    const key = `${workflow}\n${id}\n${step}`;
    if (this.said.has(key)) return;
    this.said.add(key);
    this.log(
      `sagaflow: WARNING: workflow ${workflow} "${id}" is due at step "${step}", which this node's code does not define: ` +
        `left as it stands for a node whose code does (nodes running different versions of the service?). Nothing of it runs here.`,
    );
  }
}
