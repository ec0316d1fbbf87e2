import type { IncomingMessage, ServerResponse } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import type { ServiceFacade } from "../runtime/facades.ts";
import { reservedParams } from "../views/view-service.ts";
import { inputFromQuery } from "./body.ts";
import { sendJson } from "./respond.ts";

/** At most this many streamed queries at once (each re-runs its query on every view change). */
export const maxStreams = 1_000;
let openStreams = 0;
/** Responses that are open event streams: they never end by themselves, so shutdown ends them. */
export const eventStreams = new WeakSet<ServerResponse>();

/**
 * `GET /views/{view}/{query}?param=…`: runs a view query. Reserved parameters: `pageToken` (from
 * a previous page's `nextPageToken`) and `waitForPosition` (a command's `Sagaflow-Position`, for
 * read-your-writes). With `Accept: text/event-stream` the result is sent, then again each time
 * it changes.
 */
export async function viewRoute(service: ServiceFacade, req: IncomingMessage, res: ServerResponse, view: string, query: string, url: URL): Promise<void> {
  const params = inputFromQuery(url.searchParams);
  const options: { pageToken?: string; waitForPosition?: number } = {};
  const pageToken = url.searchParams.get("pageToken");
  if (pageToken !== null) options.pageToken = pageToken;
  const position = url.searchParams.get("waitForPosition") ?? req.headers["sagaflow-wait-for-position"];
  if (typeof position === "string") {
    if (!/^\d+$/.test(position)) throw new SagaflowError("invalid_position", "waitForPosition must be a whole number");
    options.waitForPosition = Number(position);
  }
  for (const reserved of reservedParams) delete params[reserved];
  const run = () => service.queryView(view, query, params, options);

  if (!(req.headers.accept ?? "").includes("text/event-stream")) {
    sendJson(res, 200, await run());
    return;
  }
  if (openStreams >= maxStreams) {
    throw new SagaflowError("overloaded", `already ${maxStreams} streamed queries open`, { status: 503, retryable: true });
  }
  const first = JSON.stringify(await run());
  openStreams++;
  eventStreams.add(res);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.write(`event: result\ndata: ${first}\n\n`);
  let last = first;
  // Later results need no waiting: they are sent because the view moved on.
  const later = options.pageToken === undefined ? {} : { pageToken: options.pageToken };
  let running = false;
  let again = false;
  const refresh = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const next = JSON.stringify(await service.queryView(view, query, params, later));
        if (next !== last) {
          last = next;
          res.write(`event: result\ndata: ${next}\n\n`);
        }
      } while (again);
    } catch (error) {
      res.write(`event: error\ndata: ${JSON.stringify({ error: String(error) })}\n\n`);
    } finally {
      running = false;
    }
  };
  const stopListening = service.watchView(view, () => void refresh());
  // A comment line now and then keeps proxies from closing an idle stream.
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  heartbeat.unref();
  res.on("close", () => {
    stopListening();
    clearInterval(heartbeat);
    openStreams--;
  });
}
