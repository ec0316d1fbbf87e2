import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Requests on one connection are handled one after another. With HTTP/1.1 pipelining a client
 * sends several requests without waiting for the answers; Node answers them in order but hands
 * them to the listener at once, so a query sent after a command on the same connection could run
 * first and read the state from before it. RFC 9112 (9.3.2) allows handling pipelined requests
 * in parallel only when all of them are safe: here each waits until the one before it on its
 * connection is answered. A connection that does not pipeline never waits.
 */
export function inOrderPerConnection(listener: Listener): Listener {
  /** Connections with a request being handled, and the requests queued behind it. */
  const queued = new WeakMap<Socket, Array<() => void>>();
  const start = (socket: Socket, req: IncomingMessage, res: ServerResponse) => {
    // "close": answered, or the connection is gone (then the queued ones are handled as sent).
    res.once("close", () => {
      const next = queued.get(socket)?.shift();
      if (next) next();
      else queued.delete(socket);
    });
    listener(req, res);
  };
  return (req, res) => {
    const socket = req.socket;
    const waiting = queued.get(socket);
    if (waiting) {
      waiting.push(() => start(socket, req, res));
      return;
    }
    queued.set(socket, []);
    start(socket, req, res);
  };
}
