import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Authenticator } from "../auth/authenticator.ts";
import { checkAdminBind, guardAdmin, isLoopback } from "../http/admin-guard.ts";
import { applySecurityHeaders } from "../http/security-headers.ts";
import { shutdownDrainMs, stopAnswers } from "../http/stopping.ts";
import { applyServerLimits, resolveServerLimits, serverOptions } from "../http/server-limits.ts";
import { applyServerEdges } from "../http/server-edges.ts";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Where a service listens. */
export interface ListenOptions {
  /** The service's HTTP API. Default 3000; 0 picks a free port. */
  port?: number;
  /** Default "127.0.0.1"; "0.0.0.0" or "::" to accept other machines. */
  host?: string;
  /** The admin API's port. Default port + 1 (a free one when port is 0); -1 turns it off. */
  adminPort?: number;
  /**
   * The admin API's address. Default "127.0.0.1"; any other needs `adminToken` or `adminRole`
   * (listening refuses to start without one).
   */
  adminHost?: string;
  /** A token the admin API requires (`Authorization: Bearer <token>`), wherever it listens; 16 characters or more. */
  adminToken?: string;
  /** The admin API also accepts a JWT of the service's issuers whose `roles` claim contains this role. */
  adminRole?: string;
  /** Serve HTTPS with this PEM certificate (chain) and key, read from files; `reloadTls()` reads them again. */
  tls?: { certFile: string; keyFile: string };
}

/** A certificate and key pair, read now; a bad file is an error naming it. */
function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  return { cert: read(tls.certFile, "certificate (--tls-cert)"), key: read(tls.keyFile, "key (--tls-key)") };
}

/** A service listening on its ports. */
export interface Listening {
  url: string;
  /** Undefined when the admin API is off. */
  adminUrl: string | undefined;
  /**
   * Stops listening: answers still being worked on go out with `connection: close`, long polls are
   * answered now, endpoint handlers' `signal` is aborted, event streams are ended; connections
   * still open after `SAGAFLOW_SHUTDOWN_DRAIN_MS` (default 10 s) are closed.
   */
  close(): Promise<void>;
  /**
   * Reads the TLS certificate and key files again and uses them for new connections; open
   * connections go on undisturbed (`sagaflow serve` calls it on SIGHUP). A bad pair throws and the
   * old one stays. Nothing to do without TLS.
   */
  reloadTls(): void;
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

/** The service port, the admin port (port + 1 by default; -1 for none) and the admin API's address. */
function portsOf(options: ListenOptions): { port: number; adminPort: number; adminHost: string } {
  const port = options.port ?? 3000;
  return { port, adminPort: options.adminPort ?? (port === 0 ? 0 : port + 1), adminHost: options.adminHost ?? "127.0.0.1" };
}

/**
 * Fails as listenOn would when a port it is given is taken (or not allowed), by binding each for
 * a moment: called before the service starts, so a start refused for its port runs nothing (no
 * timer fired, no schedule caught up). A port taken in the moment between is still refused then.
 */
export async function probePorts(options: ListenOptions): Promise<void> {
  const { port, adminPort, adminHost } = portsOf(options);
  const wanted: Array<[number, string, "service" | "admin"]> = [[port, options.host ?? "127.0.0.1", "service"], [adminPort, adminHost, "admin"]];
  for (const [p, host, which] of wanted) {
    if (p <= 0 || p > 65_535 || (which === "admin" && p === port)) continue;
    const server = createServer();
    await bind(server, p, host, which);
    await new Promise<void>((done) => server.close(() => done()));
  }
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
/** Open connections to the admin API at most (each console tab polls over a few). */
const adminMaxConnections = 256;

export async function listenOn(handler: Listener, adminHandler: Listener, options: ListenOptions, authenticator?: Authenticator): Promise<Listening> {
  const unanswered = new Set<ServerResponse>();
  let closing = false;
  const { port, adminPort, adminHost } = portsOf(options);
  const access = {
    ...(options.adminToken === undefined ? {} : { token: options.adminToken }),
    ...(options.adminRole === undefined ? {} : { role: options.adminRole }),
    ...(authenticator === undefined ? {} : { authenticator }),
  };
  // Before anything listens: two servers on one port, a port past the last, and an admin API open to the network without access control.
  if (adminPort > 0 && adminPort === port) {
    throw new Error(`the admin port and the service port are both ${port}: give --admin-port another port (or -1 for no admin API)`);
  }
  if (options.adminPort === undefined && adminPort > 65_535) {
    throw new Error(`the admin API listens on the service port + 1 by default, and ${port} + 1 is past the last port: give --admin-port (or -1 for no admin API)`);
  }
  if (adminPort >= 0) checkAdminBind(adminHost, access);
  const tls = options.tls ? readTls(options.tls) : undefined;
  // Timeouts and connection bounds (SAGAFLOW_MAX_CONNECTIONS…): one client cannot take the service from the others.
  const limits = resolveServerLimits();
  const drainMs = shutdownDrainMs();
  const listener: Listener = (req, res) => {
    // A request on a kept-alive connection after close() began: told to stop from the start.
    if (closing) stopAnswers([res]);
    unanswered.add(res);
    res.once("close", () => unanswered.delete(res));
    handler(req, res);
  };
  const httpOptions = serverOptions(limits);
  const server: Server | HttpsServer = tls ? createHttpsServer({ ...httpOptions, ...tls }, listener) : createServer(httpOptions, listener);
  applyServerLimits(server, limits);
  applyServerEdges(server);
  await bind(server, port, options.host ?? "127.0.0.1", "service");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  // The admin API speaks HTTPS too when it leaves the machine (its token must not cross the network in clear).
  const adminTls = tls !== undefined && !isLoopback(adminHost);
  const guarded = guardAdmin((req, res) => {
    applySecurityHeaders(req, res);
    adminHandler(req, res);
  }, access);
  // The same timeouts and head size as the service; fewer connections (an operator's few, and
  // the descriptors stay the service's), not bounded per client (operators share an address).
  const adminLimits = { ...limits, maxConnections: Math.min(limits.maxConnections, adminMaxConnections), maxConnectionsPerClient: 0 };
  const adminOptions = serverOptions(adminLimits);
  const admin = adminPort < 0 ? undefined : adminTls ? createHttpsServer({ ...adminOptions, ...tls }, guarded) : createServer(adminOptions, guarded);
  if (admin) {
    applyServerLimits(admin, adminLimits);
    applyServerEdges(admin);
    try {
      await bind(admin, adminPort, adminHost, "admin");
    } catch (error) {
      await new Promise<void>((done) => server.close(() => done()));
      throw error;
    }
  }
  const adminAddress = admin?.address() as AddressInfo | undefined;
  const adminShown = adminAddress ? (adminAddress.family === "IPv6" ? `[${adminAddress.address}]` : adminAddress.address) : undefined;
  let closed: Promise<void> | undefined;
  return {
    url: `${tls ? "https" : "http"}://${host}:${address.port}`,
    adminUrl: adminAddress ? `${adminTls ? "https" : "http"}://${adminShown}:${adminAddress.port}` : undefined,
    reloadTls: () => {
      if (!options.tls) return;
      const fresh = readTls(options.tls);
      // Throws on a certificate that does not match its key: the running pair stays.
      (server as HttpsServer).setSecureContext(fresh);
      if (adminTls) (admin as HttpsServer).setSecureContext(fresh);
    },
    close: () =>
      (closed ??= (async () => {
        closing = true;
        // Long polls and event streams never finish soon on their own: tell them, and endpoint handlers, to finish now.
        stopAnswers(unanswered);
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        admin?.close();
        admin?.closeAllConnections();
        // A handler that ignores its signal cannot hold the stop past the drain bound.
        const cut = setTimeout(() => server.closeAllConnections(), drainMs);
        await done;
        clearTimeout(cut);
      })()),
  };
}
