import { SagaflowError } from "../define/errors.ts";
import type { AdminFacade } from "../runtime/facades.ts";
import { listLimit } from "./list-limit.ts";

const maxEvents = 1_000;

/**
 * Admin routes for entity instances (Property 7: everything durable is visible):
 * - `GET /entities/{component}/{id}`: a key-value entity's stored record, or an event-sourced
 *   entity's latest snapshot and event count
 * - `GET /entities/{component}/{id}/events?after=SEQ&limit=N`: its events, oldest first
 * - `GET /entities/{component}/{id}/state?seq=SEQ`: an event-sourced entity's state right after event SEQ
 * - `GET /entities/{component}/{id}/idempotency-keys?after=KEY&limit=N`: the idempotency records it
 *   holds (key, when, the reply a repeat gets), by key; `next` is the `after` of the next page
 */
export async function entitiesRoute(admin: AdminFacade, method: string, segments: string[], query: URLSearchParams): Promise<unknown> {
  const [, name, id, what] = segments;
  if (method !== "GET" || name === undefined || id === undefined || segments.length > 4 || (what !== undefined && what !== "events" && what !== "state" && what !== "idempotency-keys")) {
    throw new SagaflowError("not_found", "use GET /entities/{component}/{id}[/events|/state?seq=|/idempotency-keys]", { status: 404 });
  }
  if (what === undefined) return admin.entity(name, id);
  if (what === "idempotency-keys") return admin.idempotencyKeys(name, id, query.get("after") ?? "", listLimit(query.get("limit")));
  if (what === "state") {
    const seq = Number(query.get("seq"));
    if (query.get("seq") === null || !Number.isSafeInteger(seq) || seq < 1) throw new SagaflowError("invalid_input", "seq must be a whole number ≥ 1");
    return admin.entityStateAt(name, id, seq);
  }
  const after = Number(query.get("after") ?? 0);
  const limit = Number(query.get("limit") ?? 100);
  if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > maxEvents) {
    throw new SagaflowError("invalid_input", `after must be a whole number ≥ 0 and limit 1 to ${maxEvents}`);
  }
  return admin.entityEvents(name, id, after, limit);
}
