import type { Store, WorkflowRecord, WorkflowStatus } from "../../store/port.ts";

/**
 * The ids of the workflows of `name` not over that would run `step` next (suspended and failed
 * ones too: a resume or retry would run it). Read at start-up only when orphans are to be terminated.
 */
export async function idsAtStep(store: Store, name: string, step: string): Promise<string[]> {
  const ids: string[] = [];
  for (const statuses of [["running", "suspended", "failed"], ["paused"]] satisfies WorkflowStatus[][]) {
    let afterId: string | undefined;
    for (;;) {
      const page = await store.listWorkflows({ name, statuses, limit: 1000, ...(afterId === undefined ? {} : { afterId }) });
      for (const workflow of page) if (stepToRun(workflow) === step) ids.push(workflow.id);
      if (page.length < 1000) break;
      afterId = page.at(-1)!.id;
    }
  }
  return ids;
}

/** The step that will run next: the current one, or a pause's timeout handler. */
function stepToRun(record: WorkflowRecord): string | undefined {
  if (record.status === "running" || record.status === "suspended" || record.status === "failed") return record.step ?? undefined;
  if (record.status === "paused") return (record.stepInput as { then?: string } | null)?.then;
  return undefined;
}
