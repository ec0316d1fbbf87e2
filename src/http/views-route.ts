import type { IncomingMessage, ServerResponse } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import type { ServiceFacade } from "../runtime/facades.ts";
import { reservedParams } from "../runtime/views/view-service.ts";
import { inputFromQuery } from "./body.ts";
import { sendJson } from "./respond.ts";
import type { ViewStreams } from "./view-streams.ts";
import { openEventStream } from "./stopping.ts";
import { ClientCounts } from "./client-counts.ts";

/** At most this many streamed queries at once (each holds a connection and up to one result). */
export const maxStreams = 1_000;
/** At most this many of them from one client (remote address): one cannot take them all. */
export const maxStreamsPerClient = Math.max(1, Math.floor(maxStreams / 10));
let openStreams = 0;
const streamsPerClient = new ClientCounts();

const tooManyStreams = (why: string) => new SagaflowError("overloaded", why, { status: 503, retryable: true });

/**
 * `GET /views/{view}/{query}?param=…`: runs a view query. Reserved parameters: `pageToken` (from
 * a previous page's `nextPageToken`) and `waitForPosition` (a command's `Sagaflow-Position`, for
 * read-your-writes). With `Accept: text/event-stream` the result is sent, then again each time
 * it changes (see ViewStreams: at most once per interval, the latest only, to readers that keep up).
 */
export async function viewRoute(
  service: ServiceFacade, streams: ViewStreams, req: IncomingMessage, res: ServerResponse, view: string, query: string, url: URL,
): Promise<void> {
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
  // HEAD is a one-off query whose body Node leaves out: never a stream nobody would read.
  if (req.method === "HEAD" || !(req.headers.accept ?? "").includes("text/event-stream")) {
    sendJson(res, 200, await service.queryView(view, query, params, options));
    return;
  }
  if (openStreams >= maxStreams) throw tooManyStreams(`already ${maxStreams} streamed queries open`);
  const client = req.socket.remoteAddress ?? "";
  if (streamsPerClient.of(client) >= maxStreamsPerClient) throw tooManyStreams(`this client already has ${maxStreamsPerClient} streamed queries open`);
  openStreams++;
  streamsPerClient.holdUntilClosed(client, res);
  res.once("close", () => void openStreams--);
  await streams.open(res, view, query, params, options);
  if (res.headersSent) openEventStream(res);
}
