import { isSpanContextValid, ROOT_CONTEXT, trace, TraceFlags, type Context, type Link, type SpanContext } from "@opentelemetry/api";

/**
 * Span contexts as the store keeps them: W3C `traceparent` text ("00-{trace id}-{span id}-{flags}"),
 * 55 characters, so that a workflow's steps, a consumer's delivery or a timer's firing can join or
 * link to the work that produced them after a restart or on another node.
 */
export function toTraceparent(context: SpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.traceFlags & TraceFlags.SAMPLED ? "01" : "00"}`;
}

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context stored as `traceparent`; undefined for none or anything else. */
export function fromTraceparent(traceparent: string | undefined): SpanContext | undefined {
  if (traceparent === undefined) return undefined;
  const match = traceparentPattern.exec(traceparent);
  if (!match) return undefined;
  const context: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16), isRemote: true };
  return isSpanContextValid(context) ? context : undefined;
}

/** A context whose parent is the stored span (a root context when there is none). */
export function parentFrom(traceparent: string | undefined): Context {
  const parent = fromTraceparent(traceparent);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

/** Links to the stored spans, each once; none when nothing was traced. */
export function linksTo(traceparents: ReadonlyArray<string | undefined>): Link[] {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const traceparent of traceparents) {
    if (traceparent === undefined || seen.has(traceparent)) continue;
    seen.add(traceparent);
    const context = fromTraceparent(traceparent);
    if (context) links.push({ context });
  }
  return links;
}
