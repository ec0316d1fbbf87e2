import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Counter, Histogram, Registry } from "prom-client";
import { HotCounter, HotHistogram } from "./hot-instruments.ts";

/** A registry's series as sorted `name{labels} value` lines, whatever the order of labels. */
async function series(registry: Registry): Promise<string[]> {
  const metrics = (await registry.getMetricsAsJSON()) as unknown as Array<{ name: string; type: string; values: Array<{ value: number; labels: Record<string, unknown>; metricName?: string }> }>;
  return metrics
    .flatMap((m) => m.values.map((v) => {
      const labels = Object.entries(v.labels).map(([k, l]) => `${k}=${String(l)}`).sort().join(",");
      return `${m.type} ${v.metricName ?? m.name}{${labels}} ${v.value}`;
    }))
    .sort();
}

describe("hot-path instruments", () => {
  it("record-the-same-series-as-prom-client-counters-and-histograms-would", async () => {
    const bounds = [0.001, 0.01, 0.1, 1];
    const observations: Array<[string, string, number]> = [["wallet", "ok", 0.0005], ["wallet", "ok", 0.05], ["wallet", "ok", 3], ["wallet", "refused", 0.01], ["shop", "ok", 0.1]];

    const prom = new Registry();
    const counter = new Counter({ name: "calls_total", help: "h", labelNames: ["component", "outcome"], registers: [prom] });
    const histogram = new Histogram({ name: "call_seconds", help: "h", labelNames: ["component", "outcome"], buckets: bounds, registers: [prom] });
    for (const [component, outcome, seconds] of observations) {
      counter.labels(component, outcome).inc();
      histogram.labels(component, outcome).observe(seconds);
    }

    const hot = new Registry();
    const hotCounter = new HotCounter(hot, "calls_total", "h", ["component", "outcome"]);
    const hotHistogram = new HotHistogram(hot, "call_seconds", "h", ["component", "outcome"], bounds);
    for (const [component, outcome, seconds] of observations) {
      hotCounter.labels(component, outcome).value++;
      hotHistogram.observe(hotHistogram.labels(component, outcome), seconds);
    }

    assert.deepEqual(await series(hot), await series(prom));
    assert.match(await hot.metrics(), /^call_seconds_bucket\{component="wallet",outcome="ok",le="0\.001"\} 1$/m);
    hot.resetMetrics();
    assert.deepEqual(await series(hot), []);
  });
});
