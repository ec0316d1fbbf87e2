import { join } from "node:path";
import type { AuthConfig } from "../define/auth.ts";
import type { ServiceDefinition } from "../define/service.ts";
import { createSagaflow, runtimeOf } from "../host/create-sagaflow.ts";
import type { ListenOptions } from "../host/listen.ts";
import { postgres, sqlite } from "../host/stores.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { RetentionSettings } from "../runtime/retention/retention-service.ts";

/** Where and how to listen (ports, admin address and token, HTTPS): as `listen()` takes them. */
export interface ServeOptions extends ListenOptions {
  service: ServiceDefinition;
  /** Trusted JWT issuers replacing the service's own (the service's with the CLI's flags applied). */
  auth?: AuthConfig;
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
  /** Instances kept in memory (default 10,000): memory grows with this times the size of a state. */
  cacheSize?: number;
  /** Several nodes: a node silent for longer than this leaves `sagaflow nodes`. Default 1 hour. */
  forgetDeadNodesAfterMs?: number;
  /** What retention removes after how long (`--retain-…` flags; docs/site/guides/operations.md, "Retention"). */
  retention?: Partial<RetentionSettings>;
  /** Metrics at all (`/metrics`, OTLP metrics). Default true. */
  metrics?: boolean;
  log?: (line: string) => void;
}

export interface RunningService {
  url: string;
  adminUrl: string | undefined;
  /** The composition root, for the CLI's messages and the project's tests. */
  runtime: Runtime;
  /** Stops accepting, lets in-flight commands finish, closes the store. */
  close(): Promise<void>;
  /** Reads the TLS files again for new connections (see Listening.reloadTls). */
  reloadTls(): void;
}

/** Runs a service on SQLite (or PostgreSQL) behind the HTTP ingress: `createSagaflow(…).listen(…)`. */
export async function serve(options: ServeOptions): Promise<RunningService> {
  const store =
    options.postgres !== undefined
      ? postgres(options.postgres, options.postgresSchema ? { schema: options.postgresSchema } : {})
      : sqlite(join(options.dataDir ?? ".sagaflow", "sagaflow.db"), options.synchronous ? { synchronous: options.synchronous } : {});
  const app = createSagaflow(options.service, {
    store,
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.orphanedWorkflows ? { orphanedWorkflows: options.orphanedWorkflows } : {}),
    ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
    ...(options.forgetDeadNodesAfterMs === undefined ? {} : { forgetDeadNodesAfterMs: options.forgetDeadNodesAfterMs }),
    ...(options.auth === undefined ? {} : { auth: options.auth }),
    ...(options.retention === undefined ? {} : { retention: options.retention }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  try {
    const listening = await app.listen({
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(options.adminPort === undefined ? {} : { adminPort: options.adminPort }),
      ...(options.adminHost === undefined ? {} : { adminHost: options.adminHost }),
      ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
      ...(options.adminRole === undefined ? {} : { adminRole: options.adminRole }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    });
    return { url: listening.url, adminUrl: listening.adminUrl, runtime: runtimeOf(app)!, close: () => app.stop(), reloadTls: () => listening.reloadTls() };
  } catch (error) {
    await app.stop();
    throw error;
  }
}
