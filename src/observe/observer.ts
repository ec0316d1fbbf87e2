import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from "@opentelemetry/api";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isStoreUnavailable } from "../define/errors.ts";
import type { FeedEntry, Store, StoredReply, TimerRecord, WorkflowRecord } from "../store/port.ts";
import { linksTo, parentFrom, toTraceparent } from "./trace-context.ts";
import { SagaflowMetrics } from "./metrics.ts";
import { routeTemplate } from "./route-template.ts";
import { logEvent } from "./log-event.ts";
import { StepAttemptLog } from "./step-attempt-log.ts";

/** How Sagaflow reports what it does: Prometheus metrics, and OpenTelemetry spans when a provider is set. */
export interface ObserveOptions {
  /** Spans go here; default: the global provider of `@opentelemetry/api` (a no-op unless an SDK registered one). */
  tracerProvider?: TracerProvider;
  /** Process metrics (event-loop lag, heap, RSS) in `/metrics`. Default true. */
  processMetrics?: boolean;
  /** Metrics at all (`/metrics`, OTLP metrics); false records none. Default true. */
  metrics?: boolean;
}

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string" ? (error as { code: string }).code : "internal";

/** A store outage on `span` as an event (the reason: out of reach, disk full, lock timeout, …). */
function noteOutage(span: Span, error: unknown): void {
  if (isStoreUnavailable(error)) span.addEvent("store_unavailable", { "sagaflow.reason": error.reason });
}

/** Links kept on one span that serves many (a commit's writes, a view update's entries): at most this many. */
const maxLinks = 32;

/**
 * The one object the runtime's hook points call: it times, counts and traces commands, commits,
 * workflow steps, timer firings, consumer deliveries, view updates and queries and HTTP requests.
 * Spans carry component, handler and outcome, never an instance id or input (no personal data by
 * default). Span contexts that later work joins or links to travel with the data, in the store
 * (./trace-context.ts): a workflow's record, a feed entry, a timer. When no span records (no
 * tracer provider, or not sampled), no attributes are built.
 */
export class Observer {
  readonly metrics: SagaflowMetrics;
  private readonly tracer: Tracer;
  private readonly stepAttempts: StepAttemptLog;

  constructor(
    options: ObserveOptions = {},
    /** Where failed workflows and step attempts are reported (the runtime's log). */
    private readonly log: (line: string) => void = () => {},
  ) {
    this.metrics = new SagaflowMetrics({
      ...(options.processMetrics === undefined ? {} : { processMetrics: options.processMetrics }),
      ...(options.metrics === undefined ? {} : { enabled: options.metrics }),
    });
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer("sagaflow");
    this.stepAttempts = new StepAttemptLog(log);
  }

  /**
   * Times and traces one command or query, from dispatch to its committed reply. `run` gets the
   * command span's `traceparent` when it records, to store with what the command writes.
   */
  command<T extends StoredReply & { position?: number }>(component: string, id: string, handler: string, run: (trace: string | undefined) => Promise<T>): Promise<T> {
    const started = performance.now();
    const span = this.tracer.startSpan(`${component}.${handler}`, { kind: SpanKind.INTERNAL });
    const recording = span.isRecording();
    let result: Promise<T>;
    if (recording) {
      span.setAttributes({ "sagaflow.component": component, "sagaflow.handler": handler });
      result = context.with(trace.setSpan(context.active(), span), run, undefined, toTraceparent(span.spanContext()));
    } else {
      result = run(undefined);
    }
    return result.then(
      (reply) => {
        const outcome = reply.ok ? "ok" : "refused";
        this.metrics.command(component, handler, outcome, (performance.now() - started) / 1000);
        if (recording) {
          span.setAttribute("sagaflow.outcome", outcome);
          if (!reply.ok) span.setAttribute("sagaflow.refusal", reply.code);
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
          noteOutage(span, error);
          span.end();
        }
        throw error;
      },
    );
  }

  /** The `traceparent` of the span in progress, if one records: stored with a timer started now. */
  currentTrace(): string | undefined {
    const span = trace.getActiveSpan();
    return span?.isRecording() ? toTraceparent(span.spanContext()) : undefined;
  }

  /**
   * `store` with its `commit` timed and traced (the group committer's one call): a span of its
   * own, linked to the commands whose writes it carries (they share it, so it is no one's child).
   */
  timedCommits(store: Store): Store {
    const commit = store.commit.bind(store);
    const timed = Object.create(store) as Store;
    timed.commit = async (writes) => {
      const started = performance.now();
      const span = this.tracer.startSpan("sagaflow.commit", undefined, ROOT_CONTEXT);
      const recording = span.isRecording();
      if (recording) {
        span.setAttribute("sagaflow.commit.writes", writes.length);
        for (const link of linksTo(writes.slice(0, maxLinks).map((w) => w.trace))) span.addLink(link);
      }
      try {
        const outcomes = await commit(writes);
        this.metrics.commit(writes.length, (performance.now() - started) / 1000, true);
        return outcomes;
      } catch (error) {
        this.metrics.commit(writes.length, (performance.now() - started) / 1000, false);
        if (recording) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(error) });
          noteOutage(span, error);
        }
        throw error;
      } finally {
        span.end();
      }
    };
    return timed;
  }

  /**
   * Times and traces one step execution, in the trace of the command that started the workflow
   * (its `traceparent` is kept in the record). `run` returns the record the step leads to.
   */
  async step<R extends { record: WorkflowRecord; note: string; refused?: true }>(workflow: string, id: string, before: WorkflowRecord, run: () => Promise<R>): Promise<R> {
    const step = before.step ?? "";
    const started = performance.now();
    const span = this.tracer.startSpan(`${workflow} step ${step}`, undefined, parentFrom(before.trace));
    const recording = span.isRecording();
    if (recording) span.setAttributes({ "sagaflow.workflow": workflow, "sagaflow.step": step, "sagaflow.attempt": before.attempt + 1 });
    const result = await (recording ? context.with(trace.setSpan(context.active(), span), run) : run());
    const outcome = stepOutcome(result);
    this.metrics.step(workflow, step, outcome, (performance.now() - started) / 1000);
    const after = result.record;
    if (after.step !== step && (after.step === "compensate" || outcome === "failover")) this.metrics.compensation(workflow);
    if (recording) {
      span.setAttribute("sagaflow.outcome", outcome);
      if (after.step !== step && after.step !== null) span.setAttribute("sagaflow.next_step", after.step);
      if (after.status === "paused") span.addEvent("paused", after.dueAt === null ? {} : { "sagaflow.wake_in_ms": Math.max(0, after.dueAt - after.updatedAt) });
      if (outcome === "failed") span.setStatus({ code: SpanStatusCode.ERROR, message: after.lastError?.code ?? "failed" });
    }
    if (outcome === "retry" || outcome === "failover") this.stepAttempts.failed(workflow, id, step, before.attempt + 1, outcome, after, result.refused === true);
    if (outcome === "failed") {
      const error = after.lastError ?? { code: "failed", message: result.note };
      const partial = "partial" in error && error.partial === true;
      const fields = { event: "workflow_failed", workflow, id, step, attempt: before.attempt + 1, error_code: error.code, error_message: error.message, ...(partial ? { partial } : {}) };
      const inPart = partial ? ", after part of it took effect" : "";
      logEvent(this.log, "error", fields, `sagaflow: workflow ${workflow} "${id}" failed at step ${step}${inPart}: ${error.code}: ${error.message}`);
    }
    span.end();
    return result;
  }

  /**
   * A workflow woken by time, not by a step or a command (a pause's or the workflow's timeout):
   * one short span in the workflow's trace.
   */
  wake(workflow: string, record: WorkflowRecord, reason: "pause_timeout" | "workflow_timeout"): void {
    const span = this.tracer.startSpan(`${workflow} wake`, undefined, parentFrom(record.trace));
    if (!span.isRecording()) return;
    span.setAttributes({ "sagaflow.workflow": workflow, "sagaflow.reason": reason });
    if (record.step !== null) span.setAttribute("sagaflow.step", record.step);
    span.end();
  }

  /** Times and traces one timer firing (its call inside), linked to the span of the work that started the timer. */
  timerFiring<T>(timer: TimerRecord, now: number, run: () => Promise<T>): Promise<T> {
    this.metrics.timerFired((now - timer.dueAt) / 1000);
    const links = timer.trace === undefined ? undefined : linksTo([timer.trace]);
    const span = this.tracer.startSpan("timer fire", links ? { kind: SpanKind.CONSUMER, links } : { kind: SpanKind.CONSUMER }, ROOT_CONTEXT);
    if (!span.isRecording()) return run();
    span.setAttributes({ "sagaflow.component": timer.component, "sagaflow.handler": timer.handler, "sagaflow.timer.attempt": timer.attempts + 1 });
    return this.within(span, run);
  }

  /** Traces one consumer delivery, linked to the span of the command that wrote the entry (kept with it). */
  delivery<T>(consumer: string, entry: FeedEntry, run: () => Promise<T>): Promise<T> {
    const links = entry.trace === undefined ? undefined : linksTo([entry.trace]);
    const span = this.tracer.startSpan(`${consumer} deliver`, links ? { kind: SpanKind.CONSUMER, links } : { kind: SpanKind.CONSUMER }, ROOT_CONTEXT);
    if (!span.isRecording()) return run();
    span.setAttributes({ "sagaflow.consumer": consumer, "sagaflow.position": entry.position, "sagaflow.component": entry.component });
    return this.within(span, run);
  }

  /** Traces one batch of feed entries applied to a view, linked to the commands that wrote them (the first few). */
  viewUpdate<T>(view: string, entries: readonly FeedEntry[], run: () => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan(`view ${view} update`, { kind: SpanKind.CONSUMER }, ROOT_CONTEXT);
    if (!span.isRecording()) return run();
    span.setAttributes({ "sagaflow.view": view, "sagaflow.view.entries": entries.length, "sagaflow.position": entries.at(-1)?.position ?? 0 });
    for (const link of linksTo(entries.slice(0, maxLinks).map((e) => e.trace))) span.addLink(link);
    return this.within(span, run);
  }

  /** Traces one view query, in the trace of the request that asks it. */
  viewQuery<T>(view: string, query: string, run: () => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan(`view ${view} query ${query}`);
    if (!span.isRecording()) return run();
    span.setAttributes({ "sagaflow.view": view, "sagaflow.query": query });
    return this.within(span, run);
  }

  /** Runs `run` with `span` current, and ends the span with its outcome. */
  private within<T>(span: Span, run: () => Promise<T>): Promise<T> {
    return context.with(trace.setSpan(context.active(), span), run).then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(error) });
        noteOutage(span, error);
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

/** ok (moved on, paused or ended), retry, failover or failed: read from the transition the step led to. */
function stepOutcome(result: { record: WorkflowRecord; note: string }): string {
  if (result.record.status === "failed") return "failed";
  if (result.note.includes("; retry in")) return "retry";
  if (result.note.includes("; failover to")) return "failover";
  return "ok";
}
