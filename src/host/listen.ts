import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { eventStreams } from "../http/views-route.ts";
import { applyServerLimits, resolveServerLimits, serverOptions } from "../http/server-limits.ts";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Where a service listens. */
export interface ListenOptions {
  /** The service's HTTP API. Default 3000; 0 picks a free port. */
  port?: number;
  /** Default "127.0.0.1"; "0.0.0.0" or "::" to accept other machines. */
  host?: string;
  /** The admin API's port, always on 127.0.0.1 (it has no access control). Default port + 1 (a free one when port is 0); -1 turns it off. */
  adminPort?: number;
}

/** A service listening on its ports. */
export interface Listening {
  url: string;
  /** Undefined when the admin API is off. */
  adminUrl: string | undefined;
  /** Stops listening: answers still being worked on go out with `connection: close`, streamed view queries are ended. */
  close(): Promise<void>;
}

/** An error from listening, named by which port it was. */
function listenError(error: NodeJS.ErrnoException, port: number, which: "service" | "admin"): Error {
  const name = which === "service" ? `port ${port} (service)` : `admin port ${port}`;
  const message =
    error.code === "EADDRINUSE" ? `${name} is in use`
    : error.code === "EACCES" ? `${name} needs privileges this process does not have`
    : `cannot listen on ${name}: ${error.message}`;
  return Object.assign(new Error(message, { cause: error }), { code: error.code });
}

function bind(server: Server, port: number, host: string, which: "service" | "admin"): Promise<void> {
  return new Promise<void>((ready, fail) => {
    server.once("error", (error: NodeJS.ErrnoException) => fail(listenError(error, port, which)));
    server.listen(port, host, () => ready());
  });
}

/**
 * Serves `handler` (and `adminHandler` on loopback) on their own servers. Answers in flight when
 * closing get `connection: close`, so keep-alive clients cannot hold the server open (or keep
 * sending it work) after a shutdown began.
 */
export async function listenOn(handler: Listener, adminHandler: Listener, options: ListenOptions): Promise<Listening> {
  const unanswered = new Set<ServerResponse>();
  let closing = false;
  // Timeouts and connection bounds (SAGAFLOW_MAX_CONNECTIONS…): one client cannot take the service from the others.
  const limits = resolveServerLimits();
  const server = createServer(serverOptions(limits), (req, res) => {
    if (closing) res.setHeader("connection", "close");
    unanswered.add(res);
    res.once("close", () => unanswered.delete(res));
    handler(req, res);
  });
  applyServerLimits(server, limits);
  const port = options.port ?? 3000;
  await bind(server, port, options.host ?? "127.0.0.1", "service");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const adminPort = options.adminPort ?? (port === 0 ? 0 : port + 1);
  const admin = adminPort < 0 ? undefined : createServer(adminHandler);
  if (admin) {
    try {
      await bind(admin, adminPort, "127.0.0.1", "admin");
    } catch (error) {
      await new Promise<void>((done) => server.close(() => done()));
      throw error;
    }
  }
  const adminAddress = admin?.address() as AddressInfo | undefined;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    adminUrl: adminAddress ? `http://127.0.0.1:${adminAddress.port}` : undefined,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        for (const res of unanswered) if (!res.headersSent) res.setHeader("connection", "close");
        // Streamed view queries never finish on their own: end them, or server.close() waits forever.
        for (const res of unanswered) if (eventStreams.has(res)) res.end();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        admin?.close();
        admin?.closeAllConnections();
        await done;
      })()),
  };
}
