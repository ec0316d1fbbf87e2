import { SagaflowError } from "../define/errors.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { listLimit } from "./admin.ts";

const lagCountCap = 10_000;

const notFound = (what: string) => new SagaflowError("not_found", what, { status: 404 });

/** Admin routes for consumers (offsets, lag, parked messages) and timers. */
export async function feedRoute(runtime: Runtime, method: string, segments: string[], query: URLSearchParams): Promise<unknown> {
  const store = runtime.store;
  if (segments[0] === "timers") {
    if (method !== "GET" || segments.length !== 1) throw notFound("use GET /timers?status=pending|parked");
    const status = query.get("status");
    if (status !== null && status !== "pending" && status !== "parked") {
      throw new SagaflowError("invalid_status", 'status must be "pending" or "parked"');
    }
    return { timers: await store.listTimers(status ?? undefined, listLimit(query.get("limit"))) };
  }
  if (method === "GET" && segments.length === 1) {
    const head = await store.feedHead();
    // Lag: entries of the consumer's own source not handled yet (counted up to a cap).
    const consumers = await Promise.all(
      [...runtime.consumers.values()].map(async (runner) => {
        const pending = await store.readFeed(runner.position, lagCountCap, [runner.definition.source.name]);
        const parked = await store.listParked(runner.definition.name, lagCountCap);
        return {
          name: runner.definition.name,
          source: runner.definition.source.name,
          offset: runner.position,
          head,
          lag: pending.length,
          lagIsAtLeast: pending.length === lagCountCap,
          // Failed messages and those held behind them: each waits for `sagaflow parked … retry|skip`.
          parked: parked.length,
        };
      }),
    );
    return { head, consumers };
  }
  const name = segments[1]!;
  const runner = runtime.consumers.get(name);
  if (!runner) throw notFound(`no consumer named "${name}"`);
  if (segments[2] !== "parked") throw notFound("use /consumers/{name}/parked");
  if (method === "GET" && segments.length === 3) {
    return { parked: await store.listParked(name, listLimit(query.get("limit"))) };
  }
  const position = Number(segments[3]);
  const action = segments[4];
  if (method === "POST" && segments.length === 5 && Number.isSafeInteger(position) && (action === "retry" || action === "skip")) {
    try {
      return await (action === "retry" ? runner.retry(position) : runner.skip(position));
    } catch (error) {
      throw notFound(error instanceof Error ? error.message : String(error));
    }
  }
  throw notFound("use POST /consumers/{name}/parked/{position}/retry or /skip");
}

/** Admin routes for views: where each one is, and rebuilding one on demand. */
export async function viewsRoute(runtime: Runtime, method: string, segments: string[]): Promise<unknown> {
  if (method === "GET" && segments.length === 1) {
    const head = await runtime.store.feedHead();
    const views = runtime.views.runners().map((runner) => ({
      name: runner.definition.name,
      version: runner.definition.version,
      head,
      active: runner.serving,
      lag: runner.serving ? head - runner.serving.offset : null,
      rebuilding: runner.rebuilding,
      lastError: runner.lastError ?? null,
    }));
    return { head, views };
  }
  if (method === "POST" && segments.length === 3 && segments[2] === "rebuild") {
    const runner = runtime.views.runner(segments[1]!);
    return { rebuilding: await runner.rebuild() };
  }
  throw notFound("use GET /views or POST /views/{name}/rebuild");
}
