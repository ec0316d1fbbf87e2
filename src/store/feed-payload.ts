import type { WorkflowStatus } from "./port.ts";

/**
 * A workflow's feed payload, `{ status, step, state }` as JSON text, built around the state's JSON
 * text (already encoded for the record) rather than encoding the state twice. A state of
 * `undefined` (`null` or `undefined` here: how an adapter keeps "no value") is left out, as
 * JSON.stringify would.
 *
 * @example
 * workflowFeedPayload("running", "withdraw", '{"n":1}'); // '{"status":"running","step":"withdraw","state":{"n":1}}'
 */
export function workflowFeedPayload(status: WorkflowStatus, step: string | null, state: string | null | undefined): string {
  const head = `{"status":${JSON.stringify(status)},"step":${JSON.stringify(step)}`;
  return state == null ? `${head}}` : `${head},"state":${state}}`;
}
