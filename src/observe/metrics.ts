import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { SagaflowError } from "../define/errors.ts";

/**
 * Sagaflow's Prometheus instruments, one registry per runtime (no global state: two services in
 * one process keep their own). Labels are of bounded cardinality only: component, handler,
 * outcome, workflow, step, consumer, view, node, route — never an instance id.
 *
 * Hot-path instruments (commands, commits, steps) keep their labelled children in maps, so a
 * command costs a map lookup and two increments, not prom-client's label hashing.
 */
export class SagaflowMetrics {
  readonly registry = new Registry();
  private readonly commands: Counter<"component" | "handler" | "outcome">;
  private readonly commandSeconds: Histogram<"component" | "handler" | "outcome">;
  private readonly commandChildren = new Map<string, { count: Counter.Internal; seconds: Histogram.Internal<"component" | "handler" | "outcome"> }>();
  private readonly commitSeconds: Histogram<"outcome">;
  /** The commit histogram's two children, made on first use. */
  private commitOk: Histogram.Internal<"outcome"> | undefined;
  private commitFailed: Histogram.Internal<"outcome"> | undefined;
  private readonly commitSize: Histogram;
  private readonly stepSeconds: Histogram<"workflow" | "step" | "outcome">;
  private readonly stepOutcomes: Counter<"workflow" | "step" | "outcome">;
  private readonly stepChildren = new Map<string, { count: Counter.Internal; seconds: Histogram.Internal<"workflow" | "step" | "outcome"> }>();
  private readonly compensations: Counter<"workflow">;
  private readonly timerLateness: Histogram;
  private readonly httpRequests: Counter<"method" | "route" | "status">;
  private readonly httpSeconds: Histogram<"method" | "route">;
  /** Routes are templates and statuses few, so these stay small. */
  private readonly httpChildren = new Map<string, { count: Counter.Internal; seconds: Histogram.Internal<"method" | "route"> }>();

  /** False when metrics are switched off: nothing is recorded, `/metrics` answers 404 and nothing is exported. */
  readonly enabled: boolean;

  constructor(options: { processMetrics?: boolean; enabled?: boolean } = {}) {
    this.enabled = options.enabled !== false;
    const registers = [this.registry];
    if (this.enabled && options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.commands = new Counter({ name: "sagaflow_commands_total", help: "Commands and queries handled, by outcome (ok, refused, or the error code)", labelNames: ["component", "handler", "outcome"], registers });
    this.commandSeconds = new Histogram({
      name: "sagaflow_command_duration_seconds",
      help: "From dispatch to committed reply",
      labelNames: ["component", "handler", "outcome"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: "sagaflow_commit_duration_seconds",
      help: "One group commit: the transaction and its fsync (SQLite synchronous=FULL, PostgreSQL synchronous_commit)",
      labelNames: ["outcome"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.commitSize = new Histogram({ name: "sagaflow_commit_writes", help: "Instance writes per group commit", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers });
    this.stepSeconds = new Histogram({
      name: "sagaflow_workflow_step_duration_seconds",
      help: "One step execution (attempt), by outcome: ok, retry, failover, failed",
      labelNames: ["workflow", "step", "outcome"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    });
    this.stepOutcomes = new Counter({ name: "sagaflow_workflow_steps_total", help: "Step executions by outcome: ok, retry, failover, failed", labelNames: ["workflow", "step", "outcome"], registers });
    this.compensations = new Counter({ name: "sagaflow_workflow_compensations_total", help: "Workflows moved to their compensation (a saga's compensate step, a failover, a cancel step)", labelNames: ["workflow"], registers });
    this.timerLateness = new Histogram({ name: "sagaflow_timer_lateness_seconds", help: "How long after its due time a timer fired", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.httpRequests = new Counter({ name: "sagaflow_http_requests_total", help: "Requests to the service's HTTP API by route template and status", labelNames: ["method", "route", "status"], registers });
    this.httpSeconds = new Histogram({
      name: "sagaflow_http_request_duration_seconds",
      help: "Requests to the service's HTTP API, until the answer is sent",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    });
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
    child.count.inc();
    child.seconds.observe(seconds);
  }

  commit(writes: number, seconds: number, ok: boolean): void {
    if (!this.enabled) return;
    (ok ? (this.commitOk ??= this.commitSeconds.labels("ok")) : (this.commitFailed ??= this.commitSeconds.labels("error"))).observe(seconds);
    this.commitSize.observe(writes);
  }

  step(workflow: string, step: string, outcome: string, seconds: number): void {
    if (!this.enabled) return;
    const key = `${workflow}\u0000${step}\u0000${outcome}`;
    let child = this.stepChildren.get(key);
    if (!child) {
      child = { count: this.stepOutcomes.labels(workflow, step, outcome), seconds: this.stepSeconds.labels(workflow, step, outcome) };
      this.stepChildren.set(key, child);
    }
    child.count.inc();
    child.seconds.observe(seconds);
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
    child.count.inc();
    child.seconds.observe(seconds);
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

  /** The Prometheus text exposition of every instrument. */
  async text(): Promise<{ contentType: string; text: string }> {
    if (!this.enabled) throw new SagaflowError("metrics_off", "metrics are switched off on this node (SAGAFLOW_METRICS=off or --no-metrics)", { status: 404 });
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
