import { readFileSync } from "node:fs";
import type { FlagSpec } from "./args.ts";
import { feedUsage } from "./feed-commands.ts";
import { schedulesUsage } from "./schedules-command.ts";
import { initUsage } from "./init.ts";
import { nodesUsage } from "./nodes-command.ts";
import { tokenUsage } from "./token-command.ts";
import { backupUsage } from "./backup-command.ts";
import { migrateUsage } from "./migrate-command.ts";
import { retentionUsage } from "./retention-command.ts";
import { retentionFlags } from "./retention-flags.ts";
import { viewsUsage } from "./views-command.ts";
import { workflowsUsage } from "./workflows-command.ts";

/** The flags of `serve` (and of `dev`, which passes them on to `serve`). */
export const serveFlags: FlagSpec = {
  values: [
    "port", "host", "data", "sync", "cache-size", "admin-port", "postgres", "postgres-schema", "node-name", "lease-ms", "forget-dead-nodes-after",
    "admin-host", "admin-token", "admin-role", "tls-cert", "tls-key",
    "jwt-issuer", "jwt-secret", "jwks-url", "jwt-audience", "jwt-algorithm", "log-level", "log-format",
    ...retentionFlags.map((r) => r.flag),
  ],
  booleans: ["terminate-orphaned-workflows", "no-metrics"],
};

export const serveUsage = `  sagaflow serve <service module or folder> [--port N] [--host H] [--data DIR] [--sync FULL|NORMAL|OFF]
                 [--admin-port N] [--terminate-orphaned-workflows]
                 [--postgres URL [--postgres-schema S] [--node-name N] [--lease-ms N]
                  [--forget-dead-nodes-after 3600|90s|30m|1h]]
                 (or SAGAFLOW_DATABASE_URL, SAGAFLOW_NODE_NAME, SAGAFLOW_LEASE_MS, SAGAFLOW_FORGET_DEAD_NODES_AFTER;
                  several nodes may share one schema)
                 [--tls-cert FILE --tls-key FILE]   HTTPS (SAGAFLOW_TLS_CERT, SAGAFLOW_TLS_KEY); SIGHUP reloads them
                 [--admin-host H] [--admin-token T] [--admin-role R]
                  (SAGAFLOW_ADMIN_HOST, SAGAFLOW_ADMIN_TOKEN, SAGAFLOW_ADMIN_ROLE; a non-loopback admin host needs
                   a token (16+ characters) or a role: a JWT of the service's issuers with roles containing R)
                 [--jwt-issuer I] [--jwt-secret S] [--jwks-url URL] [--jwt-audience A …] [--jwt-algorithm ALG …]
                  (SAGAFLOW_JWT_ISSUER, SAGAFLOW_JWT_SECRET, SAGAFLOW_JWKS_URL, SAGAFLOW_JWT_AUDIENCE,
                   SAGAFLOW_JWT_ALGORITHMS: change the service's issuer I — or its only one — or add it)

                 [--retain-feed D] [--retain-workflows D] [--retain-idempotency D] [--retain-tombstones D]
                 [--retention-interval D]   what retention keeps how long (D: 7d, 12h, 30m, 90s, 500ms; a bare
                  number is days; 0 keeps forever, not for idempotency or the interval); SAGAFLOW_RETAIN_FEED,
                  SAGAFLOW_RETAIN_WORKFLOWS, SAGAFLOW_RETAIN_IDEMPOTENCY, SAGAFLOW_RETAIN_TOMBSTONES,
                  SAGAFLOW_RETENTION_INTERVAL; defaults 7d, 7d, 7d, 90d, 1m

                 [--cache-size N] (or SAGAFLOW_CACHE_SIZE) instances kept in memory, default 10000: memory grows
                  with N × the size of a state; lower it for large states

                 [--log-level debug|info|warn|error] [--log-format json|pretty]
                 [--no-metrics] (or SAGAFLOW_METRICS=off: no /metrics, none exported)
                 traces and metrics over OTLP: set OTEL_EXPORTER_OTLP_ENDPOINT (and OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_PROTOCOL,
                  OTEL_TRACES_SAMPLER, OTEL_METRIC_EXPORT_INTERVAL…; OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER=none for one only)`;

export const devUsage = `  sagaflow dev   <service module or folder> [same options as serve]   restarts on file changes`;

export const serveDefaults = `defaults: --port 3000, --host 127.0.0.1, --data ./.sagaflow, --sync FULL (fsync every commit),
          --log-level info, --log-format pretty on a terminal and json otherwise (or SAGAFLOW_LOG_LEVEL, SAGAFLOW_LOG_FORMAT),
          --admin-port: port + 1 (-1: none; GET /metrics there for Prometheus), --admin-host 127.0.0.1; --forget-dead-nodes-after 3600 (a dead node leaves \`sagaflow nodes\`)`;

const adminNote = `  (each talks to a running service's admin API: --admin URL or SAGAFLOW_ADMIN, default http://127.0.0.1:3001 (PORT + 1 when PORT is set);
   --admin-token T or SAGAFLOW_ADMIN_TOKEN when it requires one; a read gives up after
   SAGAFLOW_ADMIN_TIMEOUT_MS, default 30000)`;

/** The help of one command (`sagaflow <command> --help`), or undefined for a command this file does not know. */
export function commandHelp(command: string): string | undefined {
  const usage: Record<string, string> = {
    serve: `${serveUsage}\n\n${serveDefaults}`,
    dev: `${devUsage}\n\n${serveUsage}\n\n${serveDefaults}`,
    init: initUsage,
    workflows: workflowsUsage,
    consumers: `${feedUsage}\n${adminNote}`,
    parked: `${feedUsage}\n${adminNote}`,
    timers: `${feedUsage}\n${adminNote}`,
    schedules: `${schedulesUsage}\n${adminNote}`,
    views: `${viewsUsage}\n${adminNote}`,
    nodes: `${nodesUsage}\n${adminNote}`,
    token: tokenUsage,
    backup: `${backupUsage}\n${adminNote}`,
    migrate: migrateUsage,
    retention: `${retentionUsage}\n${adminNote}`,
  };
  const text = usage[command];
  return text === undefined ? undefined : `usage:\n${text}`;
}

/** This package's version, from its package.json (two folders up from src/cli or dist/cli). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return manifest.version ?? "unknown";
}
