import { SagaflowError } from "../define/errors.ts";
import type { AdminFacade, NodesReport } from "../runtime/facades.ts";

/** `GET /nodes`: the nodes sharing this store, what each holds (leases), and what nobody holds. */
export async function nodesRoute(admin: AdminFacade, method: string, segments: string[]): Promise<NodesReport> {
  if (method !== "GET" || segments.length !== 1) throw new SagaflowError("not_found", "use GET /nodes", { status: 404 });
  return admin.nodes();
}
