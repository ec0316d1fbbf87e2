import { SagaflowError } from "../../define/errors.ts";
import type { Store } from "../../store/port.ts";

/**
 * Why a workflow that is not stored is missing: `workflow_removed` (410) while retention's
 * tombstone of it lasts, else `not_found` (404) with `notFound` as the message.
 */
export async function missingWorkflow(store: Store, name: string, id: string, notFound: string): Promise<SagaflowError> {
  const removed = await store.retention.removedWorkflow(name, id);
  if (!removed) return new SagaflowError("not_found", notFound, { status: 404 });
  return new SagaflowError(
    "workflow_removed",
    `workflow ${name} "${id}" ${removed.status} at ${new Date(removed.endedAt).toISOString()} and was removed by retention at ${new Date(removed.removedAt).toISOString()}`,
    { status: 410 },
  );
}
