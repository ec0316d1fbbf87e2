import type { WorkflowDefinition } from "../../define/workflow.ts";
import type { WorkflowRecord } from "../../store/port.ts";

/**
 * The step a due workflow would run now — its current step, or its timed-out pause's `then` — when
 * this code does not define it. Start-up refuses such workflows (checkDefinitions), but a node can
 * meet one later: another node, running newer code during a rolling deploy, moved it there, and
 * this node took over its bucket. Running it here would fail the step (and compensate a saga that
 * would have succeeded), so the engine leaves it as it stands for a node whose code has the step.
 */
export function undefinedStepDue(definition: WorkflowDefinition, record: WorkflowRecord): string | undefined {
  const step = record.status === "paused" ? (record.stepInput as { then?: string } | null)?.then : record.step;
  return step === undefined || step === null || Object.hasOwn(definition.steps, step) ? undefined : step;
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
