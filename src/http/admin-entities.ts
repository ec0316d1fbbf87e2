import { SagaflowError } from "../define/errors.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { checkId } from "../runtime/ids.ts";

const maxEvents = 1_000;

/**
 * Admin routes for entity instances (Property 7: everything durable is visible):
 * - `GET /entities/{component}/{id}`: a key-value entity's stored record, or an event-sourced
 *   entity's latest snapshot and event count
 * - `GET /entities/{component}/{id}/events?after=SEQ&limit=N`: its events, oldest first
 */
export async function entitiesRoute(runtime: Runtime, method: string, segments: string[], query: URLSearchParams): Promise<unknown> {
  const [, name, id, what] = segments;
  if (method !== "GET" || name === undefined || id === undefined || segments.length > 4 || (what !== undefined && what !== "events")) {
    throw new SagaflowError("not_found", "use GET /entities/{component}/{id}[/events]", { status: 404 });
  }
  const component = runtime.component(name);
  if (!component || component.kind === "workflow") {
    throw new SagaflowError("not_found", `no entity named "${name}" (workflows are under /workflows)`, { status: 404 });
  }
  checkId(id);
  const store = runtime.store;
  if (what === "events") {
    const after = Number(query.get("after") ?? 0);
    const limit = Number(query.get("limit") ?? 100);
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > maxEvents) {
      throw new SagaflowError("invalid_input", `after must be a whole number ≥ 0 and limit 1 to ${maxEvents}`);
    }
    return { component: name, id, events: await store.readEvents(name, id, after, limit) };
  }
  if (component.kind === "key-value") {
    const record = await store.loadKv(name, id);
    if (!record) throw new SagaflowError("not_found", `${name} "${id}" was never written`, { status: 404 });
    return { component: name, id, ...record };
  }
  const history = await store.loadHistory(name, id);
  const last = history.events.at(-1)?.seq ?? history.snapshot?.seq ?? 0;
  if (last === 0) throw new SagaflowError("not_found", `${name} "${id}" has no events`, { status: 404 });
  return { component: name, id, seq: last, snapshot: history.snapshot ?? null, eventsSinceSnapshot: history.events.length };
}
