import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { markAdminAnswer } from "./admin-guard.ts";
import { SagaflowError } from "../define/errors.ts";
import type { AdminFacade, OperatorAction } from "../runtime/facades.ts";
import type { WorkflowStatus } from "../store/port.ts";
import { sendError, sendHealth, sendJson } from "./respond.ts";
import { feedRoute, viewsRoute } from "./admin-feed.ts";
import { entitiesRoute } from "./admin-entities.ts";
import { nodesRoute } from "./admin-nodes.ts";
import { backupRoute } from "./admin-backup.ts";
import { listLimit, wholeNumber } from "./list-limit.ts";
import { sendMetrics } from "./metrics-route.ts";
import { consoleRoute, workflowSearch } from "./admin-console.ts";
import { sendConsole, wantsPage } from "./console-assets.ts";
import { applyServerEdges } from "./server-edges.ts";
import { operatorOptions } from "./operator-request.ts";

const statuses: WorkflowStatus[] = ["running", "paused", "suspended", "ended", "failed", "terminated"];
const actions: OperatorAction[] = ["suspend", "resume", "terminate", "retry", "cancel"];

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
 * The admin API as a Node request listener: what operators look at and act on. Serve it on its
 * own port, on loopback (`createAdmin`, `sagaflow serve`), or mount it behind your own access control.
 *
 * - `GET /workflows?name=&status=running,failed&step=&limit=&after=` and the console's filters
 *   `idPrefix=&createdAfter=&createdBefore=&outcome=`: `{ workflows, next }` (`next`: the `after` of the next page)
 * - `GET /definitions`: the declared workflows (steps, a saga's compensations) and entities
 * - `GET /process-map/{workflow}?since=&until=`: counts and times per step and transition over a window
 * - `GET /workflows/{name}/{id}`: the record and its history of transitions
 * - `GET /workflows/{name}/{id}/states?after=VERSION&limit=`: its state at each version after
 *   VERSION, as the change feed keeps them (retention may have pruned old ones); `next` pages on
 * - `POST /workflows/{name}/{id}/{suspend|resume|terminate|retry|cancel}`: terminate stops now and
 *   leaves effects in place; cancel runs the workflow's cancel step (a saga's compensations), 409
 *   when it declares none; `retry?undoneByHand=STEP` counts that step of a saga stopped in its
 *   compensations undone by the operator; `retry?forward=true` finishes the step done in part
 *   that nothing undoes a saga stopped at
 * - `GET /consumers`: each consumer's offset, the feed head and the lag
 * - `GET /consumers/{name}/lag`: its lag sampled every 5 s over the last 10 minutes, the lag now last
 * - `GET /rates`: commands and commits per second now and over each of the last sampled intervals
 * - `GET /consumers/{name}/parked`, `POST /consumers/{name}/parked/{position}/{retry|skip}`
 * - `GET /timers?status=pending|parked&limit=&after=`, `POST /timers/{name}/retry` (a parked one, due
 *   now) and `POST /timers/{name}/cancel`
 * - `GET /schedules`, `POST /schedules/{name}/pause|resume`
 * - `GET /views`: each view's generation, offset, lag, rebuild progress and parked count; `POST /views/{name}/rebuild`
 * - `GET /views/{name}/parked`, `POST /views/{name}/parked/{position}/{retry|skip}`
 * - `GET /entities/{component}/{id}` and `/entities/{component}/{id}/events?after=&limit=`, `/state?seq=`,
 *   `/idempotency-keys?after=&limit=`
 * - `GET /` and any page a browser navigates to: the web console (files under `/console/`)
 * - `GET /nodes`: the nodes sharing the store and the leases each holds
 * - `POST /backup {"path"}`: an online backup of the SQLite store into one new file (409 on PostgreSQL)
 * - `GET /metrics`: every metric in the Prometheus text format
 * - `GET /retention`: retention's settings, its last run and what it removed
 */
export function adminHandler(admin: AdminFacade, log: (line: string) => void = (l) => console.error(l)): (req: IncomingMessage, res: ServerResponse) => void {
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const segments = url.pathname.split("/").slice(1).map(decodeURIComponent);
    // HEAD is answered as GET, without the body (Node leaves it out).
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    if (method === "GET" && url.pathname === "/health") return sendHealth(res, admin.storeStatus());
    if (method === "GET" && url.pathname === "/metrics") return sendMetrics(res, await admin.metrics());
    // The web console: its page at / and at any deep link a browser opens, its files under /console/.
    if (wantsPage(req, url.pathname)) return sendConsole(req, res, url.pathname);
    if (segments[0] === "definitions" || segments[0] === "process-map") {
      return sendJson(res, 200, await consoleRoute(admin, method, segments, url.searchParams));
    }
    if (segments[0] === "entities") return sendJson(res, 200, await entitiesRoute(admin, method, segments, url.searchParams));
    if (segments[0] === "backup") return sendJson(res, 200, await backupRoute(admin, req, segments));
    if (segments[0] === "nodes") return sendJson(res, 200, await nodesRoute(admin, method, segments));
    if (segments[0] === "rates" && segments.length === 1) {
      if (method !== "GET") throw new SagaflowError("method_not_allowed", "use GET /rates", { status: 405 });
      return sendJson(res, 200, await admin.rates());
    }
    if (segments[0] === "retention" && segments.length === 1) {
      if (method !== "GET") throw new SagaflowError("method_not_allowed", "use GET /retention", { status: 405 });
      return sendJson(res, 200, await admin.retention());
    }
    if (segments[0] === "views") return sendJson(res, 200, await viewsRoute(admin, method, segments, url.searchParams));
    if (segments[0] === "schedules") {
      if (method === "GET" && segments.length === 1) return sendJson(res, 200, await admin.schedules());
      if (method === "POST" && segments.length === 3 && (segments[2] === "pause" || segments[2] === "resume")) {
        return sendJson(res, 200, await admin.setSchedulePaused(segments[1]!, segments[2] === "pause"));
      }
      throw new SagaflowError("not_found", "use GET /schedules or POST /schedules/{name}/pause|resume", { status: 404 });
    }
    if (segments[0] === "consumers" || segments[0] === "timers") {
      return sendJson(res, 200, await feedRoute(admin, method, segments, url.searchParams));
    }
    if (segments[0] !== "workflows") throw new SagaflowError("not_found", `no admin route ${url.pathname}`, { status: 404 });
    if (method === "GET" && segments.length === 1) {
      const status = statusFilter(url.searchParams.get("status"));
      return sendJson(res, 200, await admin.searchWorkflows(workflowSearch(url.searchParams, listLimit(url.searchParams.get("limit")), status)));
    }
    const [, name, id, action] = segments as [string, string | undefined, string | undefined, string | undefined];
    if (name === undefined || id === undefined) throw new SagaflowError("not_found", "use /workflows/{name}/{id}", { status: 404 });
    if (method === "GET" && action === undefined) return sendJson(res, 200, await admin.showWorkflow(name, id, wholeNumber(url.searchParams, "historyAfter")));
    if (method === "GET" && action === "states" && segments.length === 4) {
      return sendJson(res, 200, await admin.workflowStates(name, id, wholeNumber(url.searchParams, "after"), listLimit(url.searchParams.get("limit"))));
    }
    if (method === "POST" && action !== undefined && actions.includes(action as OperatorAction)) {
      return sendJson(res, 200, await admin.operateWorkflow(name, id, action as OperatorAction, await operatorOptions(url, req, action)));
    }
    throw new SagaflowError("not_found", `no admin route ${method} ${url.pathname}`, { status: 404 });
  }
  return (req, res) => {
    markAdminAnswer(res);
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, error instanceof URIError ? new SagaflowError("invalid_path", "bad percent-encoding") : error, log);
    });
  };
}

/** The admin API on its own server (listen on loopback: it has no access control). */
export function createAdmin(admin: AdminFacade, log: (line: string) => void = (l) => console.error(l)): Server {
  const server = createServer(adminHandler(admin, log));
  applyServerEdges(server);
  return server;
}
