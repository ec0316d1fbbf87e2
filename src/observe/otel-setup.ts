import { logEvent } from "./log-event.ts";

/** The tracing `sagaflow serve` set up: flushed and stopped on shutdown. */
export interface Tracing {
  shutdown(): Promise<void>;
}

const protocols = ["http/protobuf", "http/json"] as const;

/**
 * Sets up the OpenTelemetry SDK from the standard environment variables, loading it only then:
 * on when `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_TRACES_EXPORTER=otlp` is set (and `OTEL_SDK_DISABLED` is not `true`). Reads
 * `OTEL_SERVICE_NAME` (default "sagaflow"), `OTEL_RESOURCE_ATTRIBUTES`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL`/`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` (`http/protobuf`, the
 * default, or `http/json`), `OTEL_TRACES_SAMPLER`/`_ARG` and the exporters' own variables
 * (headers, timeout). Registers the provider globally, with W3C trace context propagation.
 */
export async function startTracingFromEnv(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<Tracing | undefined> {
  if (env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() === "true") return undefined;
  const exporterName = env["OTEL_TRACES_EXPORTER"]?.trim();
  if (exporterName === "none") return undefined;
  const wanted = Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] || exporterName === "otlp");
  if (!wanted) return undefined;
  if (exporterName !== undefined && exporterName !== "" && exporterName !== "otlp") {
    throw new Error(`OTEL_TRACES_EXPORTER="${exporterName}" is not supported by sagaflow serve; use otlp (or none)`);
  }
  const protocol = (env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? env["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "http/protobuf").trim();
  if (!protocols.includes(protocol as never)) {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL="${protocol}" is not supported by sagaflow serve; use ${protocols.join(" or ")}`);
  }
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { detectResources, envDetector, resourceFromAttributes }, exporters] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/resources"),
    protocol === "http/json" ? import("@opentelemetry/exporter-trace-otlp-http") : import("@opentelemetry/exporter-trace-otlp-proto"),
  ]);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the default name.
  const resource = resourceFromAttributes({ "service.name": "sagaflow" }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new exporters.OTLPTraceExporter())] });
  provider.register();
  logEvent(log, "info", { event: "tracing_started", protocol }, `sagaflow: tracing to OTLP (${protocol})`);
  return { shutdown: () => provider.shutdown() };
}
