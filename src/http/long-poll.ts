import type { ServerResponse } from "node:http";
import type { WorkflowView } from "../define/workflow.ts";
import type { ServiceFacade } from "../runtime/facades.ts";
import { answerWait, callerHalfClosed, toldToStop } from "./stopping.ts";

/**
 * `GET /{workflow}/{id}?wait=`: the workflow's view once it is over or the wait runs out. A caller
 * that leaves drops its wait at once (undefined: nobody to answer); a stop, or the caller
 * half-closing, answers it now, with the record as it then is, as if the wait had run out.
 */
export async function waitForWorkflow(
  service: ServiceFacade, res: ServerResponse, workflow: string, id: string, waitMs: number,
): Promise<WorkflowView<unknown> | undefined> {
  const wait = answerWait(res);
  try {
    return await service.workflowResult(workflow, id, waitMs, wait);
  } catch (error) {
    if (wait.reason === undefined || error !== wait.reason) throw error;
    if (res.destroyed || !(toldToStop(res) || callerHalfClosed(res))) return undefined;
    return service.workflowResult(workflow, id, 0);
  }
}
