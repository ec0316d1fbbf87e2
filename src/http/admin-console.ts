import { SagaflowError } from "../define/errors.ts";
import type { AdminFacade, WorkflowSearch } from "../runtime/facades.ts";
import type { WorkflowStatus } from "../store/port.ts";

const day = 24 * 60 * 60 * 1000;
/** A process map covers at most this long (its cost grows with the instances in the window). */
const maxWindowMs = 90 * day;

function time(query: URLSearchParams, key: string): number | undefined {
  const raw = query.get(key);
  if (raw === null || raw === "") return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SagaflowError("invalid_time", `${key} must be epoch milliseconds or an ISO 8601 date, not "${raw}"`);
  }
  return value;
}

/** A list of every workflow pages on after `{name}/{id}` (its `next`; a name holds no "/"). */
function acrossNames(after: string): { afterName: string; afterId: string } {
  const slash = after.indexOf("/");
  if (slash <= 0) throw new SagaflowError("invalid_input", `after without name is the next of a list of every workflow, {name}/{id}, not "${after}"`);
  return { afterName: after.slice(0, slash), afterId: after.slice(slash + 1) };
}

/** The filters of `GET /workflows` (those the store has, and the console's extra ones). */
export function workflowSearch(query: URLSearchParams, limit: number, statuses: WorkflowStatus[] | undefined): WorkflowSearch {
  const text = (key: string) => {
    const value = query.get(key);
    return value === null || value === "" ? undefined : value;
  };
  const name = text("name");
  const after = text("after");
  const step = text("step");
  const idPrefix = text("idPrefix");
  const outcome = text("outcome");
  const createdAfter = time(query, "createdAfter");
  const createdBefore = time(query, "createdBefore");
  return {
    limit,
    ...(name === undefined ? {} : { name }),
    ...(after === undefined ? {} : name === undefined ? acrossNames(after) : { afterId: after }),
    ...(statuses === undefined ? {} : { statuses }),
    ...(step === undefined ? {} : { step }),
    ...(idPrefix === undefined ? {} : { idPrefix }),
    ...(outcome === undefined ? {} : { outcome }),
    ...(createdAfter === undefined ? {} : { createdAfter }),
    ...(createdBefore === undefined ? {} : { createdBefore }),
  };
}

/**
 * Admin routes the web console reads (any client may):
 * - `GET /definitions`: the declared workflows (steps, failover, a saga's compensations) and entities
 * - `GET /process-map/{workflow}?since=&until=` (epoch ms or ISO dates), or `?windowMs=` (the last so long; default an hour)
 */
export async function consoleRoute(admin: AdminFacade, method: string, segments: string[], query: URLSearchParams): Promise<unknown> {
  if (method === "GET" && segments[0] === "definitions" && segments.length === 1) return admin.definitions();
  if (method === "GET" && segments[0] === "process-map" && segments.length === 2 && segments[1] !== "") {
    const until = time(query, "until") ?? Date.now();
    const windowMs = time(query, "windowMs");
    const since = time(query, "since") ?? until - (windowMs ?? 60 * 60 * 1000);
    if (since > until) throw new SagaflowError("invalid_time", "since must not be after until");
    if (until - since > maxWindowMs) throw new SagaflowError("invalid_time", "a process map covers at most 90 days");
    return admin.processMap(segments[1]!, since, until);
  }
  throw new SagaflowError("not_found", "use GET /definitions or GET /process-map/{workflow}?since=&until=", { status: 404 });
}
