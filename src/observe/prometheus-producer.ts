import { ValueType, type Attributes, type HrTime } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import type { Registry } from "prom-client";

/** One metric of prom-client's `getMetricsAsJSON()`. */
interface PromMetric {
  name: string;
  help: string;
  type: string;
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

const hrTime = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/**
 * Sagaflow's Prometheus registry as OpenTelemetry metric data, for an OTLP metric exporter: the
 * same instruments, names and labels as `GET /metrics`, read when the exporter collects (so the
 * hot path records each value once). Counters become cumulative monotonic sums, gauges gauges,
 * histograms explicit-bucket histograms; summaries (none are registered) are left out.
 */
export class PrometheusMetricProducer implements MetricProducer {
  private readonly startTime = hrTime(Date.now());

  constructor(
    private readonly registry: Registry,
    private readonly resource: Resource,
  ) {}

  async collect(): Promise<CollectionResult> {
    const metrics = (await this.registry.getMetricsAsJSON()) as unknown as PromMetric[];
    const endTime = hrTime(Date.now());
    const data = metrics.map((m) => this.convert(m, endTime)).filter((m) => m !== undefined);
    return { resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: "sagaflow" }, metrics: data }] }, errors: [] };
  }

  private convert(metric: PromMetric, endTime: HrTime): MetricData | undefined {
    const descriptor = { name: metric.name, description: metric.help, unit: unitOf(metric.name), valueType: ValueType.DOUBLE };
    const point = <T>(attributes: Attributes, value: T): DataPoint<T> => ({ startTime: this.startTime, endTime, attributes, value });
    switch (metric.type) {
      case "counter":
        return {
          descriptor, dataPointType: DataPointType.SUM, aggregationTemporality: AggregationTemporality.CUMULATIVE, isMonotonic: true,
          dataPoints: metric.values.map((v) => point(v.labels, v.value)),
        };
      case "gauge":
        return {
          descriptor, dataPointType: DataPointType.GAUGE, aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPoints: metric.values.map((v) => point(v.labels, v.value)),
        };
      case "histogram":
        return {
          descriptor, dataPointType: DataPointType.HISTOGRAM, aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPoints: histograms(metric).map(([labels, histogram]) => point(labels, histogram)),
        };
      default:
        return undefined;
    }
  }
}

/** Prometheus' cumulative `_bucket` series (and `_sum`, `_count`) as one histogram per label set. */
function histograms(metric: PromMetric): Array<[Attributes, Histogram]> {
  const bySeries = new Map<string, { labels: Attributes; bounds: Array<[number, number]>; sum: number; count: number }>();
  for (const { value, labels, metricName } of metric.values) {
    const { le, ...rest } = labels;
    const key = JSON.stringify(rest);
    let series = bySeries.get(key);
    if (!series) bySeries.set(key, (series = { labels: rest, bounds: [], sum: 0, count: 0 }));
    if (metricName?.endsWith("_bucket")) {
      if (le !== "+Inf") series.bounds.push([Number(le), value]);
    } else if (metricName?.endsWith("_sum")) series.sum = value;
    else if (metricName?.endsWith("_count")) series.count = value;
  }
  return [...bySeries.values()].map(({ labels, bounds, sum, count }) => {
    bounds.sort((a, b) => a[0] - b[0]);
    // Per-bucket counts: each cumulative count less the one below; the last bucket is (+Inf).
    const counts = bounds.map(([, cumulative], i) => cumulative - (i === 0 ? 0 : bounds[i - 1]![1]));
    counts.push(count - (bounds.at(-1)?.[1] ?? 0));
    return [labels, { buckets: { boundaries: bounds.map(([bound]) => bound), counts }, sum, count }];
  });
}

function unitOf(name: string): string {
  if (name.endsWith("_seconds") || name.includes("_seconds_")) return "s";
  if (name.endsWith("_bytes") || name.includes("_bytes_")) return "By";
  return "1";
}
