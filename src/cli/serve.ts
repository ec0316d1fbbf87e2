import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { ServiceDefinition } from "../define/service.ts";
import { createIngress } from "../http/ingress.ts";
import { Runtime } from "../runtime/runtime.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";

export interface ServeOptions {
  service: ServiceDefinition;
  port?: number;
  host?: string;
  /** Folder of the SQLite file. Default `./.sagaflow`. */
  dataDir?: string;
  /** SQLite durability: FULL (default) fsyncs every commit. */
  synchronous?: "FULL" | "NORMAL" | "OFF";
  log?: (line: string) => void;
}

export interface RunningService {
  url: string;
  runtime: Runtime;
  /** Stops accepting, lets in-flight commands finish, closes the store. */
  close(): Promise<void>;
}

/** Runs a service on SQLite behind the HTTP ingress. */
export async function serve(options: ServeOptions): Promise<RunningService> {
  const log = options.log ?? ((line: string) => console.error(line));
  const dataDir = resolve(options.dataDir ?? ".sagaflow");
  mkdirSync(dataDir, { recursive: true });
  const store = new SqliteStore({
    path: join(dataDir, "sagaflow.db"),
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
  });
  const runtime = new Runtime({ store, components: options.service.components, log });
  await runtime.start();
  const server = createIngress(runtime, { log });
  await new Promise<void>((ready, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", () => ready());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    runtime,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        await closed;
        await runtime.stop();
      })()),
  };
}
