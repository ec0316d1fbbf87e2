import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link, type Span, type SpanContext, type Tracer, type TracerProvider } from "@opentelemetry/api";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Store, StoredReply, WorkflowRecord } from "../store/port.ts";
import { SagaflowMetrics } from "./metrics.ts";
import { routeTemplate } from "./route-template.ts";
import { logEvent } from "./log-event.ts";

/** How Sagaflow reports what it does: Prometheus metrics, and OpenTelemetry spans when a provider is set. */
export interface ObserveOptions {
  /** Spans go here; default: the global provider of `@opentelemetry/api` (a no-op unless an SDK registered one). */
  tracerProvider?: TracerProvider;
  /** Process metrics (event-loop lag, heap, RSS) in `/metrics`. Default true. */
  processMetrics?: boolean;
}

/** Traces remembered per workflow and per feed position: bounded, oldest dropped first. */
const rememberLimit = 10_000;

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string" ? (error as { code: string }).code : "internal";

/**
 * The one object the runtime's hook points call: it times, counts and traces commands, commits,
 * workflow steps, timer firings, consumer deliveries and HTTP requests. Spans carry component,
 * handler and outcome, never an instance id or input (no personal data by default).
 */
export class Observer {
  readonly metrics: SagaflowMetrics;
  private readonly tracer: Tracer;
  /** The span context of the command that started each workflow: its steps join that trace. */
  private readonly workflowTraces = new Map<string, SpanContext>();
  /** The span context of the command that wrote each feed position: deliveries link to it. */
  private readonly positionTraces = new Map<number, SpanContext>();
  private workflowNames = new Set<string>();
  /** A command span was recorded: a tracer provider is taking spans. */
  private tracing = false;

  constructor(
    options: ObserveOptions = {},
    /** Where failed workflows are reported (the runtime's log). */
    private readonly log: (line: string) => void = () => {},
  ) {
    this.metrics = new SagaflowMetrics(options.processMetrics === undefined ? {} : { processMetrics: options.processMetrics });
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer("sagaflow");
  }

  /** The workflows of the service: a `start` sent to one of them begins its trace. */
  setWorkflows(names: Iterable<string>): void {
    this.workflowNames = new Set(names);
  }

  /** Times and traces one command or query, from dispatch to its committed reply. */
  command<T extends StoredReply & { position?: number }>(component: string, id: string, handler: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const span = this.tracer.startSpan(`${component}.${handler}`, {
      kind: SpanKind.INTERNAL,
      attributes: { "sagaflow.component": component, "sagaflow.handler": handler },
    });
    const recording = span.isRecording();
    if (recording) this.tracing = true;
    if (recording && handler === "start" && this.workflowNames.has(component)) remember(this.workflowTraces, `${component}\u0000${id}`, span.spanContext());
    const result = recording ? context.with(trace.setSpan(context.active(), span), run) : run();
    return result.then(
      (reply) => {
        const outcome = reply.ok ? "ok" : "refused";
        this.metrics.command(component, handler, outcome, (performance.now() - started) / 1000);
        if (recording) {
          span.setAttribute("sagaflow.outcome", outcome);
          if (!reply.ok) span.setAttribute("sagaflow.refusal", reply.code);
          if (reply.position !== undefined) remember(this.positionTraces, reply.position, span.spanContext());
          span.end();
        }
        return reply;
      },
      (error: unknown) => {
        const code = errorCode(error);
        // An unknown component or handler is named by the caller: not a label (unbounded).
        const known = code !== "unknown_component" && code !== "unknown_command";
        this.metrics.command(known ? component : "(unknown)", known ? handler : "(unknown)", code, (performance.now() - started) / 1000);
        if (recording) {
          span.setAttribute("sagaflow.outcome", code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: code });
          span.end();
        }
        throw error;
      },
    );
  }

  /** `store` with its `commit` timed and traced (the group committer's one call). */
  timedCommits(store: Store): Store {
    const commit = store.commit.bind(store);
    const timed = Object.create(store) as Store;
    timed.commit = async (writes) => {
      const started = performance.now();
      const span = this.tracer.startSpan("sagaflow.commit", { attributes: { "sagaflow.commit.writes": writes.length } });
      try {
        const outcomes = await commit(writes);
        this.metrics.commit(writes.length, (performance.now() - started) / 1000, true);
        return outcomes;
      } catch (error) {
        this.metrics.commit(writes.length, (performance.now() - started) / 1000, false);
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(error) });
        span.addEvent("store_unavailable", { "sagaflow.reason": errorCode(error) });
        throw error;
      } finally {
        span.end();
      }
    };
    return timed;
  }

  /**
   * Times and traces one step execution, in the trace of the command that started the workflow
   * (when this process saw it). `run` returns the record the step leads to.
   */
  async step<R extends { record: WorkflowRecord; note: string }>(workflow: string, id: string, before: WorkflowRecord, run: () => Promise<R>): Promise<R> {
    const step = before.step ?? "";
    const started = performance.now();
    const parent = this.workflowTraces.get(`${workflow}\u0000${id}`);
    const span = this.tracer.startSpan(
      `${workflow} step ${step}`,
      { attributes: { "sagaflow.workflow": workflow, "sagaflow.step": step, "sagaflow.attempt": before.attempt + 1 } },
      parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : context.active(),
    );
    const result = await (span.isRecording() ? context.with(trace.setSpan(context.active(), span), run) : run());
    const outcome = stepOutcome(result);
    this.metrics.step(workflow, step, outcome, (performance.now() - started) / 1000);
    const after = result.record;
    if (after.step !== step && (after.step === "compensate" || outcome === "failover")) this.metrics.compensation(workflow);
    span.setAttribute("sagaflow.outcome", outcome);
    if (outcome === "failed") {
      span.setStatus({ code: SpanStatusCode.ERROR, message: after.lastError?.code ?? "failed" });
      const error = after.lastError ?? { code: "failed", message: result.note };
      const fields = { event: "workflow_failed", workflow, id, step, attempt: before.attempt + 1, error_code: error.code, error_message: error.message };
      logEvent(this.log, "error", fields, `sagaflow: workflow ${workflow} "${id}" failed at step ${step}: ${error.code}: ${error.message}`);
    }
    span.end();
    return result;
  }

  /** A durable timer fired `now`, due at `dueAt`. */
  timerFired(dueAt: number, now: number): void {
    this.metrics.timerFired((now - dueAt) / 1000);
  }

  /** Traces one consumer delivery, linked to the span of the command that wrote the entry (when this process saw it). */
  async delivery<T>(consumer: string, position: number, run: () => Promise<T>): Promise<T> {
    // The producing command's reply (where its position is remembered) may still be on its way
    // when the consumer, woken by the commit, reads the entry: wait one turn (only when tracing).
    const producer =
      this.positionTraces.get(position) ??
      (this.tracing ? await new Promise<void>((r) => setImmediate(r)).then(() => this.positionTraces.get(position)) : undefined);
    const links: Link[] = producer ? [{ context: producer }] : [];
    const span = this.tracer.startSpan(`${consumer} deliver`, { kind: SpanKind.CONSUMER, links, attributes: { "sagaflow.consumer": consumer, "sagaflow.position": position } }, ROOT_CONTEXT);
    if (!span.isRecording()) return run();
    return context.with(trace.setSpan(ROOT_CONTEXT, span), run).then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(error) });
        span.end();
        throw error;
      },
    );
  }

  /** The service's HTTP listener, counted by route template and status, each request a server span (W3C `traceparent` honoured). */
  http(listener: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      const started = performance.now();
      const method = req.method ?? "GET";
      const route = routeTemplate(req.url ?? "/");
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      const span: Span = this.tracer.startSpan(
        `${method} ${route}`,
        { kind: SpanKind.SERVER, attributes: { "http.request.method": method, "http.route": route, "url.path": route } },
        parent,
      );
      res.once("finish", () => {
        this.metrics.httpRequest(method, route, res.statusCode, (performance.now() - started) / 1000);
        span.setAttribute("http.response.status_code", res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      if (span.isRecording()) context.with(trace.setSpan(parent, span), () => listener(req, res));
      else listener(req, res);
    };
  }
}

function remember<K>(map: Map<K, SpanContext>, key: K, value: SpanContext): void {
  map.set(key, value);
  if (map.size > rememberLimit) map.delete(map.keys().next().value!);
}

/** ok (moved on, paused or ended), retry, failover or failed: read from the transition the step led to. */
function stepOutcome(result: { record: WorkflowRecord; note: string }): string {
  if (result.record.status === "failed") return "failed";
  if (result.note.includes("; retry in")) return "retry";
  if (result.note.includes("; failover to")) return "failover";
  return "ok";
}
