import { readFileSync } from "node:fs";
import type { Server, ServerOptions } from "node:http";
import type { Socket } from "node:net";
import { RetryLaterError } from "../define/errors.ts";
import { lingerClose, rawErrorAnswer } from "./linger.ts";
import { ClientCounts } from "./client-counts.ts";

/**
 * Bounds that keep one client from taking an HTTP server from the others: how long a request
 * may take to arrive, and how many connections may be open (in all, and from one address).
 */
export interface ServerLimits {
  /** Time to receive a request's headers (default 10 s). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (default 30 s): slow uploads are cut (408). */
  requestTimeoutMs: number;
  /** Open connections at most; more get a fast 503 with Retry-After. Default: from the descriptor limit. */
  maxConnections: number;
  /** Open connections from one remote address at most (0: no such bound). Default: a quarter of maxConnections. */
  maxConnectionsPerClient: number;
  /** How long an idle keep-alive connection stays open (default 5 s). */
  keepAliveTimeoutMs: number;
}

/**
 * A default for `maxConnections` under the process's open-file limit (Linux: /proc/self/limits),
 * leaving room for the database, logs and the answers to refused connections.
 */
function defaultMaxConnections(): number {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1];
    if (line === "unlimited") return 10_000;
    if (line !== undefined) return Math.max(16, Math.min(10_000, Math.floor(Number(line) * 0.7) - 64));
  } catch {
    // not Linux: fall through
  }
  return 1_000;
}

function fromEnv(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number ≥ 0, not "${raw}"`);
  return value;
}

/**
 * The limits, from `given`, else the environment (`SAGAFLOW_MAX_CONNECTIONS`,
 * `SAGAFLOW_MAX_CONNECTIONS_PER_CLIENT`, `SAGAFLOW_REQUEST_TIMEOUT_MS`,
 * `SAGAFLOW_HEADERS_TIMEOUT_MS`), else the defaults.
 */
export function resolveServerLimits(given: Partial<ServerLimits> = {}, env: NodeJS.ProcessEnv = process.env): ServerLimits {
  const maxConnections = given.maxConnections ?? fromEnv("SAGAFLOW_MAX_CONNECTIONS", env) ?? defaultMaxConnections();
  const requestTimeoutMs = given.requestTimeoutMs ?? fromEnv("SAGAFLOW_REQUEST_TIMEOUT_MS", env) ?? 30_000;
  return {
    maxConnections,
    maxConnectionsPerClient:
      given.maxConnectionsPerClient ?? fromEnv("SAGAFLOW_MAX_CONNECTIONS_PER_CLIENT", env) ?? Math.max(1, Math.floor(maxConnections / 4)),
    requestTimeoutMs,
    // Node requires headersTimeout ≤ requestTimeout.
    headersTimeoutMs: Math.min(requestTimeoutMs, given.headersTimeoutMs ?? fromEnv("SAGAFLOW_HEADERS_TIMEOUT_MS", env) ?? 10_000),
    keepAliveTimeoutMs: given.keepAliveTimeoutMs ?? 5_000,
  };
}

/**
 * Options for `http.createServer`: the request timeouts, and how often Node checks them (its
 * default, 30 s, would let a slow body live up to twice `requestTimeoutMs`).
 */
export function serverOptions(limits: ServerLimits): ServerOptions {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Room past Node's 16 KiB default, so an oversized bearer token reaches the authenticator and
    // is answered 401 `token_too_large` with a JSON error rather than a bare 431.
    maxHeaderSize: 32 * 1024,
  };
}

/** Refused connections are closed this long after their 503, if the client has not closed first. */
const refusedLingerMs = 1_000;

/**
 * Bounds the server's connections. One over `maxConnections` (or over `maxConnectionsPerClient`
 * from its address) gets a 503 `overloaded` with `Retry-After` at once, without its request being
 * read, and is closed; past a further margin, connections are dropped at accept (Node's
 * `maxConnections`), so a flood cannot use up the file descriptors. Also sets the timeouts (for a
 * server not created with `serverOptions`). Call before the server listens.
 */
export function applyServerLimits(server: Server, limits: ServerLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Refused connections hold a descriptor for up to refusedLingerMs: bound those too.
  server.maxConnections = limits.maxConnections + Math.max(100, Math.ceil(limits.maxConnections / 10));
  let open = 0;
  const perClient = new ClientCounts();
  // Node's own listener parses HTTP on the socket: run it only for connections let in.
  const httpListeners = server.listeners("connection") as Array<(socket: Socket) => void>;
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    const client = socket.remoteAddress ?? "";
    const fromClient = perClient.of(client);
    const why =
      open >= limits.maxConnections
        ? `the server has ${limits.maxConnections} connections open`
        : limits.maxConnectionsPerClient > 0 && fromClient >= limits.maxConnectionsPerClient
          ? `this client has ${limits.maxConnectionsPerClient} connections open`
          : undefined;
    if (why !== undefined) {
      lingerClose(socket, rawErrorAnswer(new RetryLaterError("overloaded", `${why}; try again shortly`)), refusedLingerMs);
      return;
    }
    open++;
    perClient.holdUntilClosed(client, socket);
    socket.once("close", () => void open--);
    for (const listener of httpListeners) listener.call(server, socket);
  });
}
