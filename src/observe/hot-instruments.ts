import type { Metric, Registry } from "prom-client";

/**
 * Counters and histograms for the hot path (every command, commit, step and HTTP request): a
 * labelled child is a plain record, so recording is an increment and a bucket search. prom-client's
 * own instruments hash their labels on every call (≈0.8 µs a command for a counter and a
 * histogram, measured; a command's whole CPU is ≈25 µs). They join the runtime's prom-client
 * registry as metrics it reads through `get()`, in the shape prom-client's own take, so `/metrics`
 * and the OTLP export see them like any other.
 */

type Labels = Record<string, string>;
type Value = { value: number; labels: Labels; metricName?: string };
type MetricJson = { name: string; help: string; type: "counter" | "histogram"; values: Value[]; aggregator: "sum" };

abstract class HotInstrument<Child> {
  protected readonly children = new Map<string, { labels: Labels; child: Child }>();

  constructor(
    registry: Registry,
    /** Read and, for OpenMetrics, renamed by the registry. */
    public name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    // The registry reads a metric through name, help, type, get() and reset(): these provide them.
    registry.registerMetric(this as unknown as Metric);
  }

  abstract readonly type: "counter" | "histogram";
  protected abstract newChild(): Child;
  protected abstract values(labels: Labels, child: Child): Value[];

  /** The child for these label values (in `labelNames` order); keep it: looking it up costs a Map access. */
  labels(...values: string[]): Child {
    const key = values.join("\u0000");
    let entry = this.children.get(key);
    if (!entry) {
      const labels: Labels = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ""));
      entry = { labels, child: this.newChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  get(): Promise<MetricJson> {
    const values = [...this.children.values()].flatMap(({ labels, child }) => this.values(labels, child));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: "sum" });
  }

  reset(): void {
    this.children.clear();
  }
}

export class HotCounter extends HotInstrument<{ value: number }> {
  readonly type = "counter" as const;
  protected newChild() {
    return { value: 0 };
  }
  protected values(labels: Labels, child: { value: number }): Value[] {
    return [{ value: child.value, labels }];
  }
}

/** One series of a histogram: `counts[i]` observations in bucket i (the last one: above every bound). */
export interface HistogramSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class HotHistogram extends HotInstrument<HistogramSeries> {
  readonly type = "histogram" as const;

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[], readonly bounds: readonly number[]) {
    super(registry, name, help, labelNames);
  }

  /** Adds one observation to a series. */
  observe(series: HistogramSeries, value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  protected newChild(): HistogramSeries {
    return { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
  }

  protected values(labels: Labels, series: HistogramSeries): Value[] {
    const out: Value[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += series.counts[i]!;
      out.push({ value: cumulative, labels: { ...labels, le: String(bound) }, metricName: `${this.name}_bucket` });
    });
    out.push({ value: series.count, labels: { ...labels, le: "+Inf" }, metricName: `${this.name}_bucket` });
    out.push({ value: series.sum, labels, metricName: `${this.name}_sum` });
    out.push({ value: series.count, labels, metricName: `${this.name}_count` });
    return out;
  }
}
