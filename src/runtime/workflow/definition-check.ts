import type { WorkflowDefinition } from "../../define/workflow.ts";
import type { Store, StoredReply } from "../../store/port.ts";
import { idsAtStep } from "./ids-at-step.ts";
import { undefinedWorkflows } from "./undefined-workflows.ts";

/**
 * Checks that every workflow not over stands at a step this code still defines.
 * `orphans: "terminate"` ends those that do not, instead of refusing to start. Instances of a
 * workflow this code does not define at all only wait (no node without it runs them): a warning
 * names it, and start-up goes on (a rolling deploy or a rollback may bring the code back).
 */
export async function checkDefinitions(
  host: { store: Store; log: (line: string) => void },
  definitions: ReadonlyMap<string, WorkflowDefinition>,
  /** An operator's terminate of that instance (WorkflowEngine.operate). */
  terminate: (name: string, id: string, reason: string) => Promise<StoredReply>,
  orphans: "refuse" | "terminate",
): Promise<void> {
  for (const definition of definitions.values()) {
    // One grouped read per definition: start-up does not page through the instances.
    const missing = (await host.store.stepsToRun(definition.name)).filter(({ step }) => !Object.hasOwn(definition.steps, step));
    if (missing.length === 0) continue;
    if (orphans === "refuse") {
      const lines = missing.map(({ step, count, examples }) => `${count} instance(s) to run step "${step}" next (at it, or paused until it) (e.g. ${examples.join(", ")})`);
      throw new Error(
        `workflow "${definition.name}": ${lines.join("; ")}, which this code no longer defines. ` +
          `Put the step back, or start with --terminate-orphaned-workflows to terminate them (which undoes nothing they did: a saga's compensations do not run).`,
      );
    }
    for (const { step } of missing) {
      for (const id of await idsAtStep(host.store, definition.name, step)) {
        const reply = await terminate(definition.name, id, `step "${step}" no longer defined`);
        // Another node may have moved it on meanwhile (it ended, or left the step): then it was not terminated.
        if (!reply.ok || (reply.value as { status?: string } | undefined)?.status !== "terminated") continue;
        host.log(`sagaflow: WARNING: workflow ${definition.name} "${id}" terminated: it stood at step "${step}", which this code no longer defines; nothing it did was undone`);
      }
    }
  }
  for (const [name, id] of await undefinedWorkflows(host.store, new Set(definitions.keys()), ["running", "paused", "suspended"])) {
    host.log(
      `sagaflow: WARNING: workflow "${name}" is not defined by this service, yet instances of it are not over (e.g. "${id}"): ` +
        `none of them runs until a version defining "${name}" is deployed (see "Removing a workflow" in the workflows guide)`,
    );
  }
}
