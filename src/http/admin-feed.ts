import { SagaflowError } from "../define/errors.ts";
import type { AdminFacade } from "../runtime/facades.ts";
import type { TimerCursor } from "../store/port.ts";
import { listLimit, wholeNumber } from "./list-limit.ts";

const notFound = (what: string) => new SagaflowError("not_found", what, { status: 404 });

/** `?after=` of GET /timers: a page's `next`, `{dueAt}:{name}` (a name may hold colons too). */
function timerCursor(raw: string | null): TimerCursor | undefined {
  if (raw === null) return undefined;
  const colon = raw.indexOf(":");
  const dueAt = Number(raw.slice(0, colon));
  if (colon < 1 || !Number.isFinite(dueAt)) throw new SagaflowError("invalid_input", `after must be a page's "next" ({dueAt}:{name}), not "${raw}"`);
  return { dueAt, name: raw.slice(colon + 1) };
}

/** Admin routes for consumers (offsets, lag and its recent history `GET /consumers/{name}/lag`, parked messages) and timers. */
export async function feedRoute(admin: AdminFacade, method: string, segments: string[], query: URLSearchParams): Promise<unknown> {
  if (segments[0] === "timers") {
    const action = segments[2];
    if (method === "POST" && segments.length === 3 && (action === "retry" || action === "cancel")) {
      return action === "retry" ? admin.retryTimer(segments[1]!) : admin.cancelTimer(segments[1]!);
    }
    if (method !== "GET" || segments.length !== 1) throw notFound("use GET /timers?status=pending|parked, or POST /timers/{name}/retry or /cancel");
    const status = query.get("status");
    if (status !== null && status !== "pending" && status !== "parked") {
      throw new SagaflowError("invalid_status", 'status must be "pending" or "parked"');
    }
    // A page of them in (due time, name) order; `next` reads on from a full page.
    const limit = listLimit(query.get("limit"));
    const timers = await admin.timers(status ?? undefined, limit, timerCursor(query.get("after")));
    const last = timers.length === limit ? timers.at(-1)! : undefined;
    return { timers, next: last ? `${last.dueAt}:${last.name}` : null };
  }
  if (method === "GET" && segments.length === 1) return admin.consumers();
  const name = segments[1]!;
  if (method === "GET" && segments.length === 3 && segments[2] === "lag") return admin.consumerLag(name);
  if (segments[2] !== "parked") throw notFound("use /consumers/{name}/parked or GET /consumers/{name}/lag");
  if (method === "GET" && segments.length === 3) {
    // A page of them, after position `after`; `next` reads on from a full page.
    const limit = listLimit(query.get("limit"));
    const parked = await admin.parked(name, limit, wholeNumber(query, "after"));
    return { parked, next: parked.length === limit ? parked.at(-1)!.entry.position : null };
  }
  const position = Number(segments[3]);
  const action = segments[4];
  if (method === "POST" && segments.length === 5 && Number.isSafeInteger(position) && (action === "retry" || action === "skip")) {
    return admin.releaseParked(name, position, action);
  }
  throw notFound("use POST /consumers/{name}/parked/{position}/retry or /skip");
}

/**
 * Admin routes for views: where each one is, rebuilding one on demand (`POST /views/{name}/rebuild`,
 * `?from=current` to seed it from the entities' current state first), and the entries a view
 * parked (`GET /views/{name}/parked`, `POST /views/{name}/parked/{position}/retry|skip`).
 */
export async function viewsRoute(admin: AdminFacade, method: string, segments: string[], query?: URLSearchParams): Promise<unknown> {
  if (method === "GET" && segments.length === 1) return admin.views();
  if (method === "POST" && segments.length === 3 && segments[2] === "rebuild") {
    const from = query?.get("from") ?? "feed";
    if (from !== "feed" && from !== "current") throw new SagaflowError("invalid_from", 'from must be "feed" or "current"');
    return { rebuilding: await admin.rebuildView(segments[1]!, from), from };
  }
  if (segments[2] === "parked") {
    const view = segments[1]!;
    if (method === "GET" && segments.length === 3) return { parked: await admin.viewParked(view, listLimit(query?.get("limit") ?? null)) };
    const position = Number(segments[3]);
    const action = segments[4];
    if (method === "POST" && segments.length === 5 && Number.isSafeInteger(position) && (action === "retry" || action === "skip")) {
      return admin.releaseViewParked(view, position, action);
    }
  }
  throw notFound("use GET /views, POST /views/{name}/rebuild[?from=current], GET /views/{name}/parked or POST /views/{name}/parked/{position}/retry|skip");
}
