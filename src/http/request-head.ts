import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import { sendJson } from "./respond.ts";

function refuse(res: ServerResponse, error: SagaflowError): void {
  sendJson(res, error.status, { error: error.toJSON() }, { connection: "close" });
}

/**
 * What Node refuses in a request's head with a bare status line, answered as every other error:
 * an HTTP/1.1 request without `Host` (400 `malformed_request`, RFC 9112 3.2) and an `Expect`
 * other than `100-continue` (417 `expectation_failed`), both before any handler or access check.
 * Call after the server's request listener is added, before the listeners that only observe.
 */
export function answerHeadRefusals(server: Server): void {
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    const expect = String(req.headers.expect).slice(0, 100);
    refuse(res, new SagaflowError("expectation_failed", `the server cannot meet "Expect: ${expect}": it understands only 100-continue`, { status: 417 }));
  });
  // Node's own check answers a bare 400 with no way to shape it: ours runs in its place.
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
  const handlers = server.listeners("request") as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.httpVersion === "1.1" && req.headers.host === undefined) {
      return refuse(res, new SagaflowError("malformed_request", "an HTTP/1.1 request must carry a Host header", { status: 400 }));
    }
    for (const handler of handlers) handler.call(server, req, res);
  });
}
