import { createOtlpHttpExportDelegate, convertLegacyHttpOptions } from "@opentelemetry/otlp-exporter-base/node-http";
import { JsonMetricsSerializer, MetricsExporterMetricsHelper, ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import type { PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics";

/**
 * An OTLP/HTTP metric exporter (`http/protobuf` or `http/json`) built as the OpenTelemetry trace
 * exporters are, from the same OTLP packages (no release of the metric exporter packages matches
 * them). Reads the standard variables: `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT` (`/v1/metrics` is
 * appended to the generic one), `_HEADERS`, `_TIMEOUT`, `_COMPRESSION`.
 */
export function otlpMetricExporter(protocol: "http/protobuf" | "http/json"): PushMetricExporter {
  const json = protocol === "http/json";
  const delegate = createOtlpHttpExportDelegate(
    convertLegacyHttpOptions({}, "METRICS", "v1/metrics", { "Content-Type": json ? "application/json" : "application/x-protobuf" }),
    json ? JsonMetricsSerializer : ProtobufMetricsSerializer,
    "otlp_http_metric_exporter",
    MetricsExporterMetricsHelper,
    undefined,
  );
  return {
    export: (metrics: ResourceMetrics, done) => delegate.export(metrics, done),
    forceFlush: () => delegate.forceFlush(),
    shutdown: () => delegate.shutdown(),
  };
}
