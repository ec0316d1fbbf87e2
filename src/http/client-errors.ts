import { maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { SagaflowError } from "../define/errors.ts";
import { lingerClose, rawErrorAnswer } from "./linger.ts";

/** The error for what Node's HTTP parser or its request timeout refused. */
function refusalOf(error: NodeJS.ErrnoException & { reason?: string }, server: Server): SagaflowError {
  switch (error.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new SagaflowError(
        "request_timeout",
        `the request did not arrive in time: its headers within ${server.headersTimeout} ms, all of it within ${server.requestTimeout} ms`,
        { status: 408 },
      );
    case "HPE_HEADER_OVERFLOW": {
      const limit = (server as Server & { maxHeaderSize?: number }).maxHeaderSize ?? maxHeaderSize;
      return new SagaflowError("headers_too_large", `the request's headers are larger than ${limit} bytes`, { status: 431 });
    }
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return new SagaflowError("payload_too_large", "the body's chunk extensions are larger than the server reads", { status: 413 });
    default:
      return new SagaflowError("malformed_request", `the request is not well-formed HTTP/1.1: ${error.reason ?? error.message}`, { status: 400 });
  }
}

/**
 * Answers what Node refuses before a request reaches the listener (its `clientError` event: a
 * request timeout, malformed framing, headers too large) with a JSON error and `connection:
 * close`, as every other error, where Node would send a bare status line. Nothing is written to a
 * connection that is gone: it is dropped. Answers owed to requests before the refused one on the
 * same connection (pipelined) are sent first.
 */
export function answerClientErrors(server: Server): void {
  // The answers of each connection, oldest first, as far as they may be unfinished.
  const answers = new WeakMap<Duplex, ServerResponse[]>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const open = answers.get(req.socket);
    if (!open) return void answers.set(req.socket, [res]);
    while (open.length > 0 && open[0]!.writableFinished) open.shift();
    open.push(res);
  });
  const answered = new WeakSet<Duplex>();
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    // The parser goes on failing on what still arrives: answer once.
    if (answered.has(socket)) return;
    answered.add(socket);
    if (error.code === "ECONNRESET") return void socket.destroy();
    const owed = (answers.get(socket) ?? []).filter((res) => !res.writableFinished);
    // The refused request's own answer, if its headers reached the listener (then its body timed
    // out or broke its framing): ours takes its place unless it has begun.
    const own = owed.find((res) => !res.req.complete);
    let done = false;
    const answer = () => {
      if (done) return;
      done = true;
      if (!socket.writable || own?.headersSent) socket.destroy();
      else lingerClose(socket, rawErrorAnswer(refusalOf(error, server)));
    };
    // Answers owed to requests before it go first: one written now would be taken for theirs.
    const earlier = owed.filter((res) => res !== own);
    let left = earlier.length;
    if (left === 0) return answer();
    socket.once("close", answer);
    for (const res of earlier) res.once("close", () => --left === 0 && answer());
  });
}
