import type { Store, WorkflowStatus } from "../../store/port.ts";

/** Sorts after every id (ids are ASCII, ../ids.ts): an `afterId` that skips the rest of a name. */
const PAST_EVERY_ID = "\uffff";

/**
 * The workflows the store holds in any of `statuses` whose name `defined` lacks — a workflow a
 * deploy removed, or one a newer version added and a rollback does not have — each with the id of
 * one instance. One short read of the status index per stored name and status, however many
 * instances there are.
 */
export async function undefinedWorkflows(store: Store, defined: ReadonlySet<string>, statuses: readonly WorkflowStatus[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const status of statuses) {
    let afterName: string | undefined;
    for (;;) {
      const [next] = await store.listWorkflows({ statuses: [status], limit: 1, ...(afterName === undefined ? {} : { afterName, afterId: PAST_EVERY_ID }) });
      if (!next) break;
      if (!defined.has(next.name) && !found.has(next.name)) found.set(next.name, next.id);
      afterName = next.name;
    }
  }
  return found;
}
