import type { IncomingMessage, Server, ServerResponse } from "node:http";

/** Requests whose client waits for `100 Continue` before it sends the body, with their answers. */
const awaitingContinue = new WeakMap<IncomingMessage, ServerResponse>();

/**
 * `Expect: 100-continue` is answered `100 Continue` when a handler starts reading the body, not
 * before any handler runs as Node does: a request refused first (no token or a bad one, no such
 * route) gets its answer without a 100, and its client need not upload a body only to have it
 * dropped. Node sends the refusal with `connection: close` (the client may still send the body).
 */
export function continueWhenBodyRead(server: Server): void {
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.set(req, res);
    server.emit("request", req, res);
  });
}

/** Tells a client that waits for `100 Continue` to send its body (once); nothing for any other. */
export function askForBody(req: IncomingMessage): void {
  const res = awaitingContinue.get(req);
  if (res === undefined) return;
  awaitingContinue.delete(req);
  if (!res.headersSent) res.writeContinue();
}
