import type { ServerResponse } from "node:http";
import type { EndpointReply, ServerSentEvent } from "../define/endpoint.ts";
import { SagaflowError } from "../define/errors.ts";
import { sendJson } from "./respond.ts";
import { openEventStream } from "./stopping.ts";

/** One event in the `text/event-stream` format; `data` is JSON unless a string. */
export function formatEvent(event: ServerSentEvent): string {
  const data = typeof event.data === "string" ? event.data : JSON.stringify(event.data ?? null);
  let text = "";
  if (event.event !== undefined) text += `event: ${event.event.replace(/[\r\n]/g, " ")}\n`;
  if (event.id !== undefined) text += `id: ${event.id.replace(/[\r\n]/g, " ")}\n`;
  for (const line of data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  return `${text}\n`;
}

/**
 * Writes an endpoint's answer. An event stream is written as its events come — the next asked of
 * the iterator only once the socket took the last, so a slow reader holds the producer back
 * rather than fill memory — and ends with them, or when the caller goes away (`signal`);
 * shutdown ends it like a streamed view query.
 */
export async function writeEndpointReply(res: ServerResponse, reply: EndpointReply, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  const { body, status, headers } = reply;
  switch (body.kind) {
    case "json":
      sendJson(res, status, body.value, headers);
      return;
    case "text":
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body.text), ...headers });
      res.end(body.text);
      return;
    case "empty":
      res.writeHead(status, headers);
      res.end();
      return;
    case "events": {
      res.writeHead(status, { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers });
      // HEAD gets the headers alone: nothing would be sent of the events, so none is waited for.
      if (res.req.method === "HEAD") {
        res.end();
        return;
      }
      res.flushHeaders();
      openEventStream(res);
      try {
        for await (const event of body.events) {
          if (signal.aborted || res.writableEnded) break;
          // A reader slower than the events: take the next only once the socket has taken this one.
          if (!res.write(formatEvent(event))) await drained(res, signal);
        }
      } catch (error) {
        // The status is gone already: the failure ends the stream as an `error` event.
        const known = error instanceof SagaflowError ? error : undefined;
        if (!known) log(`sagaflow: an endpoint's event stream failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        const detail = known ? known.toJSON() : { code: "internal", message: "the stream failed" };
        if (!res.writableEnded) res.write(formatEvent({ event: "error", data: { error: detail } }));
      } finally {
        if (!res.writableEnded) res.end();
      }
    }
  }
}

/** Resolves once `res` has taken what it was given (`drain`), or can take nothing more (closed, or the caller went away). */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
