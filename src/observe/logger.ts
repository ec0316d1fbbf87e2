import { trace } from "@opentelemetry/api";
import { pino, type Logger } from "pino";
import { structuredLog, type LogLevel, type StructuredLogFunction } from "./log-event.ts";

/** `--log-format`: one JSON object per line, or a short readable line (the default on a terminal). */
export type LogFormat = "json" | "pretty";

export const logLevels: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const logFormats: readonly LogFormat[] = ["json", "pretty"];

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go. Default: stderr. */
  write?: (line: string) => void;
}

/** A structured logger, and the engine's `log` option backed by it (text lines are `warn`: they say something went wrong). */
export interface SagaflowLogger {
  logger: Logger;
  log: StructuredLogFunction;
}

/**
 * pino, writing `level`, `time`, `msg`, and `trace_id`/`span_id` when a span is active, as JSON
 * lines, or through a small formatter as readable lines (no pino-pretty dependency).
 */
export function createLogger(options: LoggerOptions = {}): SagaflowLogger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const format = options.format ?? (process.stderr.isTTY ? "pretty" : "json");
  const destination = { write: format === "json" ? write : (line: string) => write(prettyLine(line)) };
  const logger = pino(
    {
      level: options.level ?? "info",
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const { traceId, spanId } = span.spanContext();
        return { trace_id: traceId, span_id: spanId };
      },
    },
    destination,
  );
  const log: StructuredLogFunction = (line: string) => logger.warn(line.replace(/^sagaflow: /, ""));
  log[structuredLog] = (level, fields, message) => logger[level](fields, message.replace(/^sagaflow: /, ""));
  return { logger, log };
}

const levelWidth = 5;

/** `12:00:01.234 WARN  message  key=value …` from one pino JSON line. */
function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, ...rest } = record;
  const clock = typeof time === "string" ? time.slice(11, 23) : "";
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  // Fields go at the end of the message's first line: a multi-line message (a query with a caret
  // under the error) keeps its shape.
  const [first, ...more] = String(msg).split("\n");
  const head = `${clock} ${String(level).toUpperCase().padEnd(levelWidth)} ${first}${fields.length > 0 ? `  ${fields.join(" ")}` : ""}`;
  return `${[head, ...more].join("\n")}\n`;
}
