/**
 * `sagaflow serve`: its flags and environment, the service loaded, served until SIGTERM or SIGINT.
 * Loaded only by that command (main.ts), so that the admin commands start without the runtime.
 */
import { durationFlag, parseArgs, portFlag, postgresFlag } from "./args.ts";
import { serveFlags } from "./help.ts";
import { loadService } from "./load-service.ts";
import { serve } from "./serve.ts";
import { retentionFromFlags } from "./retention-flags.ts";
import { applyAuthOverrides } from "../auth/auth-overrides.ts";
import { serveLogging } from "./serve-logging.ts";
import { metricsExportFromEnv, startMetricsExport, startTracingFromEnv } from "../observe/otel-setup.ts";
import { logEvent } from "../observe/log-event.ts";

const syncModes = ["FULL", "NORMAL", "OFF"] as const;

/** `--no-metrics` or SAGAFLOW_METRICS=off switches metrics off (on|off; a typo is an error). */
function metricsSwitch(noMetrics: boolean, variable: string | undefined): boolean {
  if (noMetrics) return false;
  const value = variable?.trim().toLowerCase();
  if (value === undefined || value === "" || value === "on") return true;
  if (value === "off") return false;
  throw new Error(`SAGAFLOW_METRICS must be on or off, not "${variable}"`);
}

/** Flushing spans and metrics on shutdown waits at most this long: a collector that is gone must not hold the exit. */
const telemetryFlushMs = 5_000;

function flushTelemetry(exports: ReadonlyArray<{ shutdown(): Promise<void> } | undefined>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((done) => (timer = setTimeout(done, telemetryFlushMs)));
  const flushed = Promise.all(exports.map((e) => (e ? e.shutdown().catch(() => {}) : Promise.resolve())));
  return Promise.race([flushed, late]).finally(() => clearTimeout(timer));
}

function wholeNumberFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a whole number > 0, got "${value}"`);
  return n;
}

export async function serveCommand(argv: string[]): Promise<void> {
  const { positionals, flags, lists } = parseArgs(argv, serveFlags, "serve");
  const target = positionals[0];
  if (!target) throw new Error("serve needs a service module or folder");
  const adminPort = flags.get("admin-port");
  const postgres = postgresFlag(flags.get("postgres") ?? process.env["SAGAFLOW_DATABASE_URL"], "--postgres (or SAGAFLOW_DATABASE_URL)");
  const sync = flags.get("sync")?.toUpperCase();
  if (sync !== undefined && !syncModes.includes(sync as never)) throw new Error(`--sync must be one of ${syncModes.join(", ")}`);
  const nodeName = flags.get("node-name") ?? process.env["SAGAFLOW_NODE_NAME"];
  const leaseMs = flags.get("lease-ms") ?? process.env["SAGAFLOW_LEASE_MS"];
  const cacheSize = flags.get("cache-size") ?? process.env["SAGAFLOW_CACHE_SIZE"];
  const forgetAfter = flags.get("forget-dead-nodes-after") ?? process.env["SAGAFLOW_FORGET_DEAD_NODES_AFTER"];
  const fromEnv = (name: string) => (process.env[name] === "" ? undefined : process.env[name]);
  const adminHost = flags.get("admin-host") ?? fromEnv("SAGAFLOW_ADMIN_HOST");
  const adminToken = flags.get("admin-token") ?? fromEnv("SAGAFLOW_ADMIN_TOKEN");
  const adminRole = flags.get("admin-role") ?? fromEnv("SAGAFLOW_ADMIN_ROLE");
  const tlsCert = flags.get("tls-cert") ?? fromEnv("SAGAFLOW_TLS_CERT");
  const tlsKey = flags.get("tls-key") ?? fromEnv("SAGAFLOW_TLS_KEY");
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new Error("--tls-cert and --tls-key go together");
  const listOf = (flag: string, variable: string) => lists.get(flag) ?? fromEnv(variable)?.split(",").map((v) => v.trim()).filter((v) => v !== "");
  const jwtIssuer = flags.get("jwt-issuer") ?? fromEnv("SAGAFLOW_JWT_ISSUER");
  const jwtSecret = flags.get("jwt-secret") ?? fromEnv("SAGAFLOW_JWT_SECRET");
  const jwksUrl = flags.get("jwks-url") ?? fromEnv("SAGAFLOW_JWKS_URL");
  const jwtAudience = listOf("jwt-audience", "SAGAFLOW_JWT_AUDIENCE");
  const jwtAlgorithms = listOf("jwt-algorithm", "SAGAFLOW_JWT_ALGORITHMS");
  // Checked before the service loads: a mistyped period stops the start with one clear line.
  const retention = retentionFromFlags(flags, process.env);
  const metrics = metricsSwitch(flags.has("no-metrics"), process.env["SAGAFLOW_METRICS"]);
  const logging = serveLogging(flags.get("log-level") ?? process.env["SAGAFLOW_LOG_LEVEL"], flags.get("log-format") ?? process.env["SAGAFLOW_LOG_FORMAT"]);
  // Left in a unit file from the SQLite days, say: said, not silently dropped.
  for (const flag of postgres === undefined ? [] : ["data", "sync"].filter((f) => flags.has(f))) {
    logEvent(logging.log, "warn", { event: "flag_ignored", flag }, `sagaflow: --${flag} is for SQLite and is ignored with --postgres (the data is in PostgreSQL)`);
  }
  // Checked before the service loads, as the tracing set up here: a mistyped OTEL_* stops the start.
  const metricsExport = metrics ? metricsExportFromEnv(process.env) : undefined;
  // Before the service loads: spans of everything it does go to the exporter the environment names.
  const tracing = await startTracingFromEnv(process.env, logging.log);
  const service = await loadService(target);
  const auth = applyAuthOverrides(service.auth, {
    ...(jwtIssuer === undefined ? {} : { issuer: jwtIssuer }),
    ...(jwtSecret === undefined ? {} : { secret: jwtSecret }),
    ...(jwksUrl === undefined ? {} : { jwksUrl }),
    ...(jwtAudience === undefined ? {} : { audience: jwtAudience }),
    ...(jwtAlgorithms === undefined ? {} : { algorithms: jwtAlgorithms }),
  });
  const running = await serve({
    service,
    log: logging.log,
    port: portFlag(flags.get("port") ?? process.env["PORT"], 3000),
    host: flags.get("host") ?? "127.0.0.1",
    dataDir: flags.get("data") ?? ".sagaflow",
    ...(sync ? { synchronous: sync as (typeof syncModes)[number] } : {}),
    ...(adminPort === undefined ? {} : { adminPort: adminPort === "-1" ? -1 : portFlag(adminPort, 0, "--admin-port") }),
    ...(postgres === undefined ? {} : { postgres }),
    ...(flags.has("postgres-schema") ? { postgresSchema: flags.get("postgres-schema")! } : {}),
    ...(nodeName === undefined ? {} : { nodeName }),
    ...(leaseMs === undefined ? {} : { leaseMs: wholeNumberFlag("--lease-ms", leaseMs) }),
    ...(cacheSize === undefined ? {} : { cacheSize: wholeNumberFlag("--cache-size (or SAGAFLOW_CACHE_SIZE)", cacheSize) }),
    ...(forgetAfter === undefined ? {} : { forgetDeadNodesAfterMs: durationFlag("--forget-dead-nodes-after", forgetAfter) }),
    ...(flags.has("terminate-orphaned-workflows") ? { orphanedWorkflows: "terminate" as const } : {}),
    ...(Object.keys(retention).length === 0 ? {} : { retention }),
    ...(adminHost === undefined ? {} : { adminHost }),
    ...(adminToken === undefined ? {} : { adminToken }),
    ...(adminRole === undefined ? {} : { adminRole }),
    ...(tlsCert === undefined || tlsKey === undefined ? {} : { tls: { certFile: tlsCert, keyFile: tlsKey } }),
    ...(auth === undefined || auth === service.auth ? {} : { auth }),
    ...(metrics ? {} : { metrics: false }),
  }).catch((error: unknown) => {
    // A start-up refusal (orphaned workflows, a port in use, a locked data folder…): one clear line, then exit 1.
    const message = error instanceof Error ? error.message : String(error);
    logEvent(logging.log, "error", { event: "startup_refused" }, `sagaflow: ${message}`);
    process.exit(1);
  });
  const metricsExporter = await startMetricsExport(metricsExport, running.runtime.observer.metrics, logging.log);
  const names = service.components.map((c) => c.name).join(", ");
  console.log(`sagaflow: serving "${service.name}" (${names}) on ${running.url}`);
  console.log(postgres === undefined ? `sagaflow: data in ${flags.get("data") ?? ".sagaflow"}/sagaflow.db` : `sagaflow: data in PostgreSQL (schema ${flags.get("postgres-schema") ?? "sagaflow"})`);
  if (running.adminUrl) console.log(`sagaflow: admin API on ${running.adminUrl}`);
  const { membership } = running.runtime;
  if (membership.clustered) console.log(`sagaflow: node ${membership.nodeId}; nodes on this schema share the work (lease ${membership.leaseMs} ms)`);
  const shutdown = (signal: string) => {
    console.log(`sagaflow: ${signal}: finishing in-flight commands`);
    running.close().then(() => flushTelemetry([tracing, metricsExporter])).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`sagaflow: shutdown failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  if (tlsCert !== undefined) {
    // A renewed certificate is put in place and the process told: new connections get it, open ones go on.
    process.on("SIGHUP", () => {
      try {
        running.reloadTls();
        console.log("sagaflow: SIGHUP: TLS certificate and key reloaded");
      } catch (error) {
        console.error(`sagaflow: SIGHUP: TLS reload failed, the previous certificate stays: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}
