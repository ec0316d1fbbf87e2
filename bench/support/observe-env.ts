/**
 * Observability in a bench process that hosts a runtime itself (in-process modes, the
 * entity-commands server), set from the environment as `sagaflow serve` sets it: tracing from the
 * OTEL_* variables (set up once per process: the provider is global), metrics off with
 * SAGAFLOW_METRICS=off. bench/observe-overhead.ts compares them.
 */
import type { ObserveOptions } from "../../src/observe/observer.ts";
import { startTracingFromEnv } from "../../src/observe/otel-setup.ts";

let tracing: ReturnType<typeof startTracingFromEnv> | undefined;

export async function observeFromEnv(log: (line: string) => void): Promise<ObserveOptions> {
  await (tracing ??= startTracingFromEnv(process.env, log));
  return process.env["SAGAFLOW_METRICS"]?.trim().toLowerCase() === "off" ? { metrics: false } : {};
}
