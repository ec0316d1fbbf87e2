import { createServer, type Server } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { OperatorAction } from "../runtime/workflow/engine.ts";
import type { WorkflowStatus } from "../store/port.ts";
import { sendError, sendJson } from "./respond.ts";
import { feedRoute, viewsRoute } from "./admin-feed.ts";
import { entitiesRoute } from "./admin-entities.ts";
import { nodesRoute } from "./admin-nodes.ts";

const statuses: WorkflowStatus[] = ["running", "paused", "suspended", "ended", "failed", "terminated"];
const actions: OperatorAction[] = ["suspend", "resume", "terminate", "retry", "cancel"];
const maxListLimit = 1000;

export function listLimit(raw: string | null): number {
  if (raw === null) return 100;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxListLimit) {
    throw new SagaflowError("invalid_limit", `limit must be a whole number from 1 to ${maxListLimit}`);
  }
  return limit;
}

function statusFilter(raw: string | null): WorkflowStatus[] | undefined {
  if (raw === null) return undefined;
  const wanted = raw.split(",");
  for (const status of wanted) {
    if (!statuses.includes(status as WorkflowStatus)) {
      throw new SagaflowError("invalid_status", `unknown status "${status}"; use ${statuses.join(", ")}`);
    }
  }
  return wanted as WorkflowStatus[];
}

/**
 * The admin API, on its own port (loopback by default): what operators look at and act on.
 *
 * - `GET /workflows?name=&status=running,failed&step=&limit=&after=`
 * - `GET /workflows/{name}/{id}`: the record and its history of transitions
 * - `POST /workflows/{name}/{id}/{suspend|resume|terminate|retry|cancel}`: terminate stops now and
 *   leaves effects in place; cancel runs the workflow's cancel step (a saga's compensations), 409
 *   when it declares none
 * - `GET /consumers`: each consumer's offset, the feed head and the lag
 * - `GET /consumers/{name}/parked`, `POST /consumers/{name}/parked/{position}/{retry|skip}`
 * - `GET /timers?status=pending|parked&limit=`
 * - `GET /views`: each view's generation, offset, lag and rebuild progress; `POST /views/{name}/rebuild`
 * - `GET /entities/{component}/{id}` and `/entities/{component}/{id}/events?after=&limit=`
 * - `GET /nodes`: the nodes sharing the store and the leases each holds
 */
export function createAdmin(runtime: Runtime, log: (line: string) => void = (l) => console.error(l)): Server {
  return createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const segments = url.pathname.split("/").slice(1).map(decodeURIComponent);
      if (req.method === "GET" && url.pathname === "/health") return sendJson(res, 200, { status: "ok" });
      if (segments[0] === "entities") {
        return sendJson(res, 200, await entitiesRoute(runtime, req.method ?? "GET", segments, url.searchParams));
      }
      if (segments[0] === "nodes") return sendJson(res, 200, await nodesRoute(runtime, req.method ?? "GET", segments));
      if (segments[0] === "views") {
        return sendJson(res, 200, await viewsRoute(runtime, req.method ?? "GET", segments));
      }
      if (segments[0] === "consumers" || segments[0] === "timers") {
        return sendJson(res, 200, await feedRoute(runtime, req.method ?? "GET", segments, url.searchParams));
      }
      if (segments[0] !== "workflows") throw new SagaflowError("not_found", `no admin route ${url.pathname}`, { status: 404 });
      if (req.method === "GET" && segments.length === 1) {
        const name = url.searchParams.get("name") ?? undefined;
        const after = url.searchParams.get("after") ?? undefined;
        const status = statusFilter(url.searchParams.get("status"));
        const step = url.searchParams.get("step") ?? undefined;
        const workflows = await runtime.store.listWorkflows({
          limit: listLimit(url.searchParams.get("limit")),
          ...(name === undefined ? {} : { name }),
          ...(after === undefined ? {} : { afterId: after }),
          ...(status === undefined ? {} : { statuses: status }),
          ...(step === undefined ? {} : { step }),
        });
        return sendJson(res, 200, { workflows });
      }
      const [, name, id, action] = segments as [string, string | undefined, string | undefined, string | undefined];
      if (name === undefined || id === undefined) throw new SagaflowError("not_found", "use /workflows/{name}/{id}", { status: 404 });
      if (req.method === "GET" && action === undefined) {
        const workflow = await runtime.store.loadWorkflow(name, id);
        if (!workflow) throw new SagaflowError("not_found", `no workflow ${name} "${id}"`, { status: 404 });
        const history = await runtime.store.workflowHistory(name, id, 1000);
        return sendJson(res, 200, { workflow, history });
      }
      if (req.method === "POST" && action !== undefined && actions.includes(action as OperatorAction)) {
        const result = await runtime.operateWorkflow(name, id, action as OperatorAction);
        return sendJson(res, 200, result);
      }
      throw new SagaflowError("not_found", `no admin route ${req.method} ${url.pathname}`, { status: 404 });
    })().catch((error: unknown) => {
      if (!res.headersSent) sendError(res, error instanceof URIError ? new SagaflowError("invalid_path", "bad percent-encoding") : error, log);
    });
  });
}
