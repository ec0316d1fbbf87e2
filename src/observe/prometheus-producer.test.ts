import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, DataPointType, type HistogramMetricData, type SumMetricData } from "@opentelemetry/sdk-metrics";
import { Counter, Histogram, Registry } from "prom-client";
import { PrometheusMetricProducer } from "./prometheus-producer.ts";

describe("Prometheus registry as OpenTelemetry metric data", () => {
  it("counters-become-cumulative-monotonic-sums-and-histograms-per-bucket-counts-per-label-set", async () => {
    const registry = new Registry();
    const counter = new Counter({ name: "jobs_total", help: "jobs", labelNames: ["outcome"], registers: [registry] });
    counter.labels("ok").inc(3);
    counter.labels("failed").inc();
    const histogram = new Histogram({ name: "job_seconds", help: "time", labelNames: ["kind"], buckets: [0.1, 1], registers: [registry] });
    for (const seconds of [0.05, 0.5, 0.7, 5]) histogram.labels("a").observe(seconds);
    histogram.labels("b").observe(0.01);

    const { resourceMetrics } = await new PrometheusMetricProducer(registry, resourceFromAttributes({ "service.name": "t" })).collect();
    const metrics = resourceMetrics.scopeMetrics[0]!.metrics;
    const jobs = metrics.find((m) => m.descriptor.name === "jobs_total") as SumMetricData;
    assert.equal(jobs.dataPointType, DataPointType.SUM);
    assert.equal(jobs.isMonotonic, true);
    assert.equal(jobs.aggregationTemporality, AggregationTemporality.CUMULATIVE);
    assert.deepEqual(jobs.dataPoints.map((p) => [p.attributes, p.value]), [[{ outcome: "ok" }, 3], [{ outcome: "failed" }, 1]]);

    const seconds = metrics.find((m) => m.descriptor.name === "job_seconds") as HistogramMetricData;
    assert.equal(seconds.descriptor.unit, "s");
    const byKind = new Map(seconds.dataPoints.map((p) => [p.attributes["kind"], p.value]));
    // a: 0.05 (≤0.1), 0.5 and 0.7 (≤1), 5 (+Inf).
    assert.deepEqual(byKind.get("a")?.buckets, { boundaries: [0.1, 1], counts: [1, 2, 1] });
    assert.equal(byKind.get("a")?.count, 4);
    assert.ok(Math.abs((byKind.get("a")?.sum ?? 0) - 6.25) < 1e-9);
    assert.deepEqual(byKind.get("b")?.buckets, { boundaries: [0.1, 1], counts: [1, 0, 0] });
  });
});
