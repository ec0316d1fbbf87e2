import { mkdirSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { ServiceDefinition } from "../define/service.ts";
import { createAdmin } from "../http/admin.ts";
import { createIngress } from "../http/ingress.ts";
import { eventStreams } from "../http/views-route.ts";
import { Runtime } from "../runtime/runtime.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { PostgresStore } from "../store/postgres/postgres-store.ts";
import type { Store } from "../store/port.ts";

export interface ServeOptions {
  service: ServiceDefinition;
  port?: number;
  host?: string;
  /** The admin API's port (always on 127.0.0.1). Default: port + 1; -1 turns it off. */
  adminPort?: number;
  /** What to do with workflows standing at a step this code no longer defines. */
  orphanedWorkflows?: "refuse" | "terminate";
  /** Folder of the SQLite file. Default `./.sagaflow`. */
  dataDir?: string;
  /** SQLite durability: FULL (default) fsyncs every commit. */
  synchronous?: "FULL" | "NORMAL" | "OFF";
  /**
   * A PostgreSQL connection string: store everything there instead of in SQLite. Several nodes
   * may serve the same database and schema: they share the work with leases.
   */
  postgres?: string;
  /** The PostgreSQL schema (default "sagaflow"). */
  postgresSchema?: string;
  /** Several nodes: this node's name (shown by `sagaflow nodes`) and the lease time (default 5,000 ms). */
  nodeName?: string;
  leaseMs?: number;
  /** Several nodes: a node silent for longer than this leaves `sagaflow nodes`. Default 1 hour. */
  forgetDeadNodesAfterMs?: number;
  log?: (line: string) => void;
}

export interface RunningService {
  url: string;
  adminUrl: string | undefined;
  runtime: Runtime;
  /** Stops accepting, lets in-flight commands finish, closes the store. */
  close(): Promise<void>;
}

function openStore(options: ServeOptions): Store {
  if (options.postgres !== undefined) {
    return new PostgresStore({ connectionString: options.postgres, ...(options.postgresSchema ? { schema: options.postgresSchema } : {}) });
  }
  const dataDir = resolve(options.dataDir ?? ".sagaflow");
  mkdirSync(dataDir, { recursive: true });
  return new SqliteStore({
    path: join(dataDir, "sagaflow.db"),
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
  });
}

/** Runs a service on SQLite (or PostgreSQL) behind the HTTP ingress. */
export async function serve(options: ServeOptions): Promise<RunningService> {
  const log = options.log ?? ((line: string) => console.error(line));
  const store = openStore(options);
  let runtime: Runtime;
  try {
    // The constructor checks the definitions (e.g. view queries): the store is closed if it throws too.
    runtime = new Runtime({
      store,
      components: options.service.components,
      log,
      ...(options.orphanedWorkflows ? { orphanedWorkflows: options.orphanedWorkflows } : {}),
      ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      ...(options.forgetDeadNodesAfterMs === undefined ? {} : { forgetDeadNodesAfterMs: options.forgetDeadNodesAfterMs }),
    });
    await runtime.start();
  } catch (error) {
    await store.close();
    throw error;
  }
  const server = createIngress(runtime, { log });
  // Answers still being worked on: on shutdown they go out with `connection: close`, so that
  // keep-alive clients cannot hold the server open (or keep sending it work) after SIGTERM.
  const unanswered = new Set<ServerResponse>();
  let shuttingDown = false;
  server.prependListener("request", (_req: IncomingMessage, res: ServerResponse) => {
    if (shuttingDown) res.setHeader("connection", "close");
    unanswered.add(res);
    res.once("close", () => unanswered.delete(res));
  });
  await new Promise<void>((ready, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", () => ready());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const adminPort = options.adminPort ?? (options.port ? options.port + 1 : 0);
  const admin = adminPort < 0 ? undefined : createAdmin(runtime, log);
  if (admin) {
    await new Promise<void>((ready, fail) => {
      admin.once("error", fail);
      admin.listen(adminPort, "127.0.0.1", () => ready());
    });
  }
  const adminAddress = admin?.address() as AddressInfo | undefined;
  const url = `http://${host}:${address.port}`;
  const adminUrl = adminAddress ? `http://127.0.0.1:${adminAddress.port}` : undefined;
  // Shown by `sagaflow nodes` (sent with the next heartbeat).
  runtime.membership.info = { ...runtime.membership.info, url, ...(adminUrl ? { admin: adminUrl } : {}) };
  let closing: Promise<void> | undefined;
  return {
    url,
    adminUrl,
    runtime,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        for (const res of unanswered) if (!res.headersSent) res.setHeader("connection", "close");
        // Streamed view queries never finish on their own: end them, or server.close() waits forever.
        for (const res of unanswered) if (eventStreams.has(res)) res.end();
        const closed = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        admin?.close();
        admin?.closeAllConnections();
        await closed;
        await runtime.stop();
      })()),
  };
}
