import { STATUS_CODES } from "node:http";
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
