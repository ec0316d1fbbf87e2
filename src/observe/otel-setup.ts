import { logEvent } from "./log-event.ts";
import type { SagaflowMetrics } from "./metrics.ts";

/** What `sagaflow serve` set up from the OTEL_* variables (traces, metrics): flushed and stopped on shutdown. */
export interface OtelExport {
  shutdown(): Promise<void>;
}

const protocols = ["http/protobuf", "http/json"] as const;
type Protocol = (typeof protocols)[number];
type Signal = "TRACES" | "METRICS";

/**
 * Whether a signal is exported, and how: on when `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_{signal}_ENDPOINT` or `OTEL_{signal}_EXPORTER=otlp` is set, off with
 * `OTEL_{signal}_EXPORTER=none` or `OTEL_SDK_DISABLED=true`. The protocol is
 * `OTEL_EXPORTER_OTLP_{signal}_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else http/protobuf.
 */
function otlpProtocol(env: NodeJS.ProcessEnv, signal: Signal): Protocol | undefined {
  if (env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() === "true") return undefined;
  const exporterName = env[`OTEL_${signal}_EXPORTER`]?.trim();
  if (exporterName === "none") return undefined;
  const wanted = Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`] || exporterName === "otlp");
  if (!wanted) return undefined;
  if (exporterName !== undefined && exporterName !== "" && exporterName !== "otlp") {
    throw new Error(`OTEL_${signal}_EXPORTER="${exporterName}" is not supported by sagaflow serve; use otlp (or none)`);
  }
  const protocol = (env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ?? env["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "http/protobuf").trim();
  if (!protocols.includes(protocol as never)) {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL="${protocol}" is not supported by sagaflow serve; use ${protocols.join(" or ")}`);
  }
  return protocol as Protocol;
}

/** The service's resource: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the default name. */
async function resourceFromEnv() {
  const { detectResources, envDetector, resourceFromAttributes } = await import("@opentelemetry/resources");
  return resourceFromAttributes({ "service.name": "sagaflow" }).merge(detectResources({ detectors: [envDetector] }));
}

/**
 * Sets up tracing from the standard environment variables, loading the SDK only then (see
 * otlpProtocol for when): reads `OTEL_SERVICE_NAME` (default "sagaflow"), `OTEL_RESOURCE_ATTRIBUTES`,
 * the protocol (`http/protobuf`, the default, or `http/json`), `OTEL_TRACES_SAMPLER`/`_ARG` and the
 * exporters' own variables (headers, timeout). Registers the provider globally, with W3C trace
 * context propagation.
 */
export async function startTracingFromEnv(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<OtelExport | undefined> {
  const protocol = otlpProtocol(env, "TRACES");
  if (protocol === undefined) return undefined;
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, exporters, resource] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    protocol === "http/json" ? import("@opentelemetry/exporter-trace-otlp-http") : import("@opentelemetry/exporter-trace-otlp-proto"),
    resourceFromEnv(),
  ]);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new exporters.OTLPTraceExporter())] });
  provider.register();
  logEvent(log, "info", { event: "tracing_started", protocol }, `sagaflow: tracing to OTLP (${protocol})`);
  return { shutdown: () => provider.shutdown() };
}

/** `OTEL_METRIC_EXPORT_INTERVAL` / `_TIMEOUT` (ms): a whole number above 0, else `fallback`. */
function msFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name]?.trim();
  if (text === undefined || text === "") return fallback;
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`${name}="${text}" must be a whole number of milliseconds > 0`);
  return ms;
}

/** The OTLP metric export the environment asks for, and how often. */
export interface MetricsExport {
  protocol: Protocol;
  exportIntervalMillis: number;
  exportTimeoutMillis: number;
}

/**
 * The metric export the environment asks for (see otlpProtocol: `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_METRICS_EXPORTER=otlp`…), every `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60,000), or
 * undefined for none. Read before the service starts, so that a mistyped variable stops the start
 * rather than show up once the service is listening.
 */
export function metricsExportFromEnv(env: NodeJS.ProcessEnv): MetricsExport | undefined {
  const protocol = otlpProtocol(env, "METRICS");
  if (protocol === undefined) return undefined;
  const exportIntervalMillis = msFromEnv(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000);
  const exportTimeoutMillis = Math.min(exportIntervalMillis, msFromEnv(env, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000));
  return { protocol, exportIntervalMillis, exportTimeoutMillis };
}

/** Exports the service's metrics (the instruments of `GET /metrics`) as `settings` say. Nothing when metrics are switched off. */
export async function startMetricsExport(settings: MetricsExport | undefined, metrics: SagaflowMetrics, log: (line: string) => void): Promise<OtelExport | undefined> {
  if (!metrics.enabled || settings === undefined) return undefined;
  const { protocol, exportIntervalMillis, exportTimeoutMillis } = settings;
  const [{ MeterProvider, PeriodicExportingMetricReader }, { PrometheusMetricProducer }, { otlpMetricExporter }, resource] = await Promise.all([
    import("@opentelemetry/sdk-metrics"),
    import("./prometheus-producer.ts"),
    import("./otlp-metric-exporter.ts"),
    resourceFromEnv(),
  ]);
  const reader = new PeriodicExportingMetricReader({
    exporter: otlpMetricExporter(protocol),
    exportIntervalMillis,
    exportTimeoutMillis,
    metricProducers: [new PrometheusMetricProducer(metrics.registry, resource)],
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  logEvent(log, "info", { event: "metrics_export_started", protocol }, `sagaflow: metrics to OTLP (${protocol}) every ${exportIntervalMillis} ms`);
  return { shutdown: () => provider.shutdown() };
}
