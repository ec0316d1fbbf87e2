import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { SagaflowError } from "../define/errors.ts";
import { HotCounter, HotHistogram, type HistogramSeries } from "./hot-instruments.ts";

/**
 * Sagaflow's Prometheus instruments, one registry per runtime (no global state: two services in
 * one process keep their own). Labels are of bounded cardinality only: component, handler,
 * outcome, workflow, step, consumer, view, node, route — never an instance id.
 *
 * Hot-path instruments (commands, commits, steps, HTTP requests) are ./hot-instruments.ts, with
 * their labelled children kept in maps here: a command costs a map lookup and a few increments.
 */
export class SagaflowMetrics {
  readonly registry = new Registry();
  private readonly commands: HotCounter;
  private readonly commandSeconds: HotHistogram;
  private readonly commandChildren = new Map<string, { count: { value: number }; seconds: HistogramSeries }>();
  private readonly commitSeconds: HotHistogram;
  private readonly commitOk: HistogramSeries;
  private readonly commitFailed: HistogramSeries;
  private readonly commitSize: HotHistogram;
  private readonly commitSizes: HistogramSeries;
  private readonly stepSeconds: HotHistogram;
  private readonly stepOutcomes: HotCounter;
  private readonly stepChildren = new Map<string, { count: { value: number }; seconds: HistogramSeries }>();
  private readonly compensations: Counter<"workflow">;
  private readonly timerLateness: Histogram;
  private readonly httpRequests: HotCounter;
  private readonly httpSeconds: HotHistogram;
  /** Routes are templates and statuses few, so this stays small. */
  private readonly httpChildren = new Map<string, { count: { value: number }; seconds: HistogramSeries }>();

  /** False when metrics are switched off: nothing is recorded, `/metrics` answers 404 and nothing is exported. */
  readonly enabled: boolean;

  constructor(options: { processMetrics?: boolean; enabled?: boolean } = {}) {
    this.enabled = options.enabled !== false;
    const registry = this.registry;
    const registers = [registry];
    if (this.enabled && options.processMetrics !== false) collectDefaultMetrics({ register: registry });
    const outcomeLabels = ["component", "handler", "outcome"];
    this.commands = new HotCounter(registry, "sagaflow_commands_total", "Commands and queries handled, by outcome (ok, refused, or the error code)", outcomeLabels);
    this.commandSeconds = new HotHistogram(registry, "sagaflow_command_duration_seconds", "From dispatch to committed reply", outcomeLabels,
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
    this.commitSeconds = new HotHistogram(registry, "sagaflow_commit_duration_seconds",
      "One group commit: the transaction and its fsync (SQLite synchronous=FULL, PostgreSQL synchronous_commit)", ["outcome"],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);
    this.commitOk = this.commitSeconds.labels("ok");
    this.commitFailed = this.commitSeconds.labels("error");
    this.commitSize = new HotHistogram(registry, "sagaflow_commit_writes", "Instance writes per group commit", [], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
    this.commitSizes = this.commitSize.labels();
    this.stepSeconds = new HotHistogram(registry, "sagaflow_workflow_step_duration_seconds", "One step execution (attempt), by outcome: ok, retry, failover, failed",
      ["workflow", "step", "outcome"], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60]);
    this.stepOutcomes = new HotCounter(registry, "sagaflow_workflow_steps_total", "Step executions by outcome: ok, retry, failover, failed", ["workflow", "step", "outcome"]);
    this.compensations = new Counter({ name: "sagaflow_workflow_compensations_total", help: "Workflows moved to their compensation (a saga's compensate step, a failover, a cancel step)", labelNames: ["workflow"], registers });
    this.timerLateness = new Histogram({ name: "sagaflow_timer_lateness_seconds", help: "How long after its due time a timer fired", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.httpRequests = new HotCounter(registry, "sagaflow_http_requests_total", "Requests to the service's HTTP API by route template and status", ["method", "route", "status"]);
    this.httpSeconds = new HotHistogram(registry, "sagaflow_http_request_duration_seconds", "Requests to the service's HTTP API, until the answer is sent",
      ["method", "route"], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60]);
  }

  /** A command or query ended: `seconds` from dispatch to reply. */
  command(component: string, handler: string, outcome: string, seconds: number): void {
    if (!this.enabled) return;
    const key = `${component}\u0000${handler}\u0000${outcome}`;
    let child = this.commandChildren.get(key);
    if (!child) {
      child = { count: this.commands.labels(component, handler, outcome), seconds: this.commandSeconds.labels(component, handler, outcome) };
      this.commandChildren.set(key, child);
    }
    child.count.value++;
    this.commandSeconds.observe(child.seconds, seconds);
  }

  commit(writes: number, seconds: number, ok: boolean): void {
    if (!this.enabled) return;
    this.commitSeconds.observe(ok ? this.commitOk : this.commitFailed, seconds);
    this.commitSize.observe(this.commitSizes, writes);
  }

  step(workflow: string, step: string, outcome: string, seconds: number): void {
    if (!this.enabled) return;
    const key = `${workflow}\u0000${step}\u0000${outcome}`;
    let child = this.stepChildren.get(key);
    if (!child) {
      child = { count: this.stepOutcomes.labels(workflow, step, outcome), seconds: this.stepSeconds.labels(workflow, step, outcome) };
      this.stepChildren.set(key, child);
    }
    child.count.value++;
    this.stepSeconds.observe(child.seconds, seconds);
  }

  compensation(workflow: string): void {
    if (!this.enabled) return;
    this.compensations.labels(workflow).inc();
  }

  timerFired(latenessSeconds: number): void {
    if (!this.enabled) return;
    this.timerLateness.observe(Math.max(0, latenessSeconds));
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    if (!this.enabled) return;
    const key = `${method}\u0000${route}\u0000${status}`;
    let child = this.httpChildren.get(key);
    if (!child) {
      child = { count: this.httpRequests.labels(method, route, String(status)), seconds: this.httpSeconds.labels(method, route) };
      this.httpChildren.set(key, child);
    }
    child.count.value++;
    this.httpSeconds.observe(child.seconds, seconds);
  }

  /** A gauge whose values are read when scraped (`read` sets them on the gauge). */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: (gauge: Gauge<L>) => Promise<void> | void): void {
    if (!this.enabled) return;
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        await read(this);
      },
    });
  }

  /** Commands and queries handled, and group commits made, since start (the console's rates): read from the instruments, off the hot path. */
  async totals(): Promise<{ commands: number; commits: number }> {
    const commands = (await this.commands.get()).values.reduce((n, v) => n + v.value, 0);
    const commits = (await this.commitSeconds.get()).values
      .filter((v) => v.metricName === "sagaflow_commit_duration_seconds_count" && v.labels["outcome"] === "ok")
      .reduce((n, v) => n + v.value, 0);
    return { commands, commits };
  }

  /** The Prometheus text exposition of every instrument. */
  async text(): Promise<{ contentType: string; text: string }> {
    if (!this.enabled) throw new SagaflowError("metrics_off", "metrics are switched off on this node (SAGAFLOW_METRICS=off or --no-metrics)", { status: 404 });
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
