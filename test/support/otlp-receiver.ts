import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A span as the receiver decoded it (ids in hex). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  links: Array<{ traceId: string; spanId: string }>;
  attributes: Record<string, unknown>;
}

/** One metric of an OTLP metrics export: its sum or gauge points (histograms: name only, no points). */
export interface ReceivedMetric {
  name: string;
  points: Array<{ attributes: Record<string, unknown>; value: number }>;
}

/**
 * An OTLP/HTTP receiver in the test process: `POST /v1/traces` and `POST /v1/metrics` in JSON
 * (`http/json`) or protobuf (`http/protobuf`, decoded by the small wire-format reader below).
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every metrics export received, in order (each one holds every metric at that time). */
  readonly metricExports: ReceivedMetric[][] = [];
  readonly contentTypes = new Set<string>();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    let receiver: OtlpReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const type = req.headers["content-type"] ?? "";
        receiver!.contentTypes.add(type);
        if (req.url === "/v1/metrics") receiver!.metricExports.push(type.includes("json") ? metricsFromJson(body) : metricsFromProtobuf(body));
        else receiver!.spans.push(...(type.includes("json") ? fromJson(body) : fromProtobuf(body)));
        res.writeHead(200, { "content-type": type.includes("json") ? "application/json" : "application/x-protobuf" });
        res.end(type.includes("json") ? "{}" : undefined);
      });
    });
    receiver = new OtlpReceiver(server);
    await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((done) => this.server.close(() => done()));
  }
}

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  links?: Array<{ traceId: string; spanId: string }>;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

function fromJson(body: Buffer): ReceivedSpan[] {
  const request = JSON.parse(body.toString("utf8")) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: JsonSpan[] }> }> };
  return (request.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => s.spans ?? [])).map((span) => ({
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId ?? "",
    name: span.name,
    links: (span.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
    attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]])),
  }));
}

/** Protobuf fields of one message: field number → values (Buffers for length-delimited, numbers/bigints otherwise). */
function fields(buf: Buffer): Map<number, Array<Buffer | bigint>> {
  const out = new Map<number, Array<Buffer | bigint>>();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    let value: Buffer | bigint;
    if (wire === 0) value = varint();
    else if (wire === 1) (value = buf.readBigUInt64LE(at)), (at += 8);
    else if (wire === 5) (value = BigInt(buf.readUInt32LE(at))), (at += 4);
    else if (wire === 2) {
      const length = Number(varint());
      value = buf.subarray(at, at + length);
      at += length;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

const bytes = (f: Map<number, Array<Buffer | bigint>>, n: number): Buffer[] => (f.get(n) ?? []) as Buffer[];
const hex = (f: Map<number, Array<Buffer | bigint>>, n: number): string => bytes(f, n)[0]?.toString("hex") ?? "";

// ExportTraceServiceRequest{1: ResourceSpans{2: ScopeSpans{2: Span}}}; Span{1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 9 attributes, 13 links}.
function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of bytes(fields(body), 1)) {
    for (const scopeSpans of bytes(fields(resourceSpans), 2)) {
      for (const raw of bytes(fields(scopeSpans), 2)) {
        const span = fields(raw);
        const attributes: Record<string, unknown> = {};
        for (const kv of bytes(span, 9)) {
          const f = fields(kv);
          const value = fields(bytes(f, 2)[0] ?? Buffer.alloc(0));
          attributes[bytes(f, 1)[0]!.toString("utf8")] = value.has(1) ? bytes(value, 1)[0]!.toString("utf8") : Number((value.get(3) ?? value.get(2) ?? [0n])[0]);
        }
        spans.push({
          traceId: hex(span, 1),
          spanId: hex(span, 2),
          parentSpanId: hex(span, 4),
          name: bytes(span, 5)[0]?.toString("utf8") ?? "",
          links: bytes(span, 13).map((l) => ({ traceId: hex(fields(l), 1), spanId: hex(fields(l), 2) })),
          attributes,
        });
      }
    }
  }
  return spans;
}

interface JsonPoint {
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  asDouble?: number;
  asInt?: string | number;
}

function metricsFromJson(body: Buffer): ReceivedMetric[] {
  type JsonMetric = { name: string; sum?: { dataPoints?: JsonPoint[] }; gauge?: { dataPoints?: JsonPoint[] } };
  const request = JSON.parse(body.toString("utf8")) as { resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: JsonMetric[] }> }> };
  return (request.resourceMetrics ?? []).flatMap((r) => (r.scopeMetrics ?? []).flatMap((s) => s.metrics ?? [])).map((m) => ({
    name: m.name,
    points: ((m.sum ?? m.gauge)?.dataPoints ?? []).map((p) => ({
      attributes: Object.fromEntries((p.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]])),
      value: p.asDouble ?? Number(p.asInt ?? 0),
    })),
  }));
}

const double = (bits: bigint): number => {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(bits);
  return buf.readDoubleLE(0);
};

// ExportMetricsServiceRequest{1: ResourceMetrics{2: ScopeMetrics{2: Metric}}}; Metric{1 name, 5 gauge, 7 sum, 9 histogram};
// Gauge/Sum{1: NumberDataPoint{4 as_double (fixed64), 6 as_int, 7 attributes}}.
function metricsFromProtobuf(body: Buffer): ReceivedMetric[] {
  const metrics: ReceivedMetric[] = [];
  for (const resourceMetrics of bytes(fields(body), 1)) {
    for (const scopeMetrics of bytes(fields(resourceMetrics), 2)) {
      for (const raw of bytes(fields(scopeMetrics), 2)) {
        const metric = fields(raw);
        const data = bytes(metric, 7)[0] ?? bytes(metric, 5)[0];
        const points = data === undefined ? [] : bytes(fields(data), 1).map((rawPoint) => {
          const point = fields(rawPoint);
          const attributes: Record<string, unknown> = {};
          for (const kv of bytes(point, 7)) {
            const f = fields(kv);
            attributes[bytes(f, 1)[0]!.toString("utf8")] = bytes(fields(bytes(f, 2)[0] ?? Buffer.alloc(0)), 1)[0]?.toString("utf8");
          }
          const asDouble = point.get(4)?.[0];
          return { attributes, value: typeof asDouble === "bigint" ? double(asDouble) : Number(point.get(6)?.[0] ?? 0n) };
        });
        metrics.push({ name: bytes(metric, 1)[0]?.toString("utf8") ?? "", points });
      }
    }
  }
  return metrics;
}
