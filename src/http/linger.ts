import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { RetryLaterError, type SagaflowError } from "../define/errors.ts";

/**
 * How much a server still reads (and drops) of what a client sends once it was answered early,
 * before the connection closes. Closing on a client still sending makes it see a reset, and the
 * reset can take the answer with it (nginx's "lingering close" exists for the same reason). Past
 * either bound the connection is dropped, so a huge or slow upload costs at most this much.
 */
export const lingerBounds = { maxBytes: 16 * 1024 * 1024, maxMs: 2_000 };

/**
 * An error answer as bytes, `{"error": {"code", "message"}}` with `connection: close`, for a
 * connection no ServerResponse speaks on (a refused connection, a request Node could not read).
 */
export function rawErrorAnswer(error: SagaflowError): string {
  const body = JSON.stringify({ error: error.toJSON() });
  const retryAfter = error instanceof RetryLaterError ? `retry-after: ${error.retryAfterSeconds}\r\n` : "";
  return (
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `cache-control: no-store\r\nx-content-type-options: nosniff\r\n${retryAfter}connection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * Sends `answer` and ends the connection, then reads and drops what the client still sends until
 * it closes its side or `lingerBounds` (or `maxMs`) runs out, and closes. Takes the socket from
 * whoever read it before (Node's HTTP parser).
 */
export function lingerClose(socket: Duplex, answer: string, maxMs = lingerBounds.maxMs): void {
  let read = 0;
  const timer = setTimeout(() => socket.destroy(), maxMs);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
  socket.on("error", () => {}); // the client may be gone already
  socket.removeAllListeners("data");
  socket.on("data", (chunk: Buffer) => {
    read += chunk.length;
    if (read > lingerBounds.maxBytes) socket.destroy();
  });
  socket.end(answer);
  socket.resume();
}

/** Whether more of the request's body is still to come (a handler answering before it was read). */
export function bodyArriving(req: IncomingMessage): boolean {
  return !req.complete && (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0);
}

/**
 * Ends `res`, whose whole answer is written (with `connection: close`), once the request's body
 * has arrived: the rest of it is read and dropped meanwhile, so the client can finish sending and
 * read the answer. Past `lingerBounds`, or when the client goes, the connection is dropped.
 */
export function endAfterBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = res.socket;
  let read = 0;
  const done = (cut: boolean) => {
    clearTimeout(timer);
    req.off("data", onData);
    req.off("end", onEnd);
    req.off("close", onClose);
    res.end();
    if (cut) socket?.destroy();
  };
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read > lingerBounds.maxBytes) done(true);
  };
  const onEnd = () => done(false);
  const onClose = () => done(true);
  const timer = setTimeout(() => done(true), lingerBounds.maxMs);
  timer.unref();
  if (req.destroyed) return done(true);
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("close", onClose);
  req.resume();
}
