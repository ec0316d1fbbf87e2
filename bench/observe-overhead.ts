/**
 * What observability costs: `bench/entity-commands.ts` and `bench/transfers.ts` (the programs of
 * `npm run bench` and `npm run bench:transfers`) at 64 in flight, run as child processes under
 * three settings, alternated round by round (the order rotates each round) so that the machine's
 * drift spreads over all of them:
 *
 * - `default`: nothing configured (metrics on, the OpenTelemetry API a no-op);
 * - `tracing`: every span sampled (OTEL_TRACES_SAMPLER=always_on) and exported over OTLP/HTTP
 *   protobuf to a local receiver (bench/support/otlp-sink.ts, its own process); metrics as default;
 * - `metrics-off`: SAGAFLOW_METRICS=off, tracing not configured.
 *
 * stdout: one JSON line per run (rate and CPU per operation of the process running Sagaflow), then
 * one line per (bench, mode) with each setting's median over the rounds and its ratio to
 * `default` (rate ratio < 1 and CPU ratio > 1: it costs). `otherCpuPct` of each run says how busy
 * the rest of the machine was.
 *
 * Environment:
 *   BENCH_ROUNDS=3          rounds (each runs every setting once)
 *   BENCH_SECONDS=4         measured seconds per point (passed on)
 *   BENCH_OBSERVE_BENCHES=entity-commands,transfers
 *   BENCH_SETTINGS=default,tracing,metrics-off
 *
 * Run: node --conditions=sagaflow-source --import tsx bench/observe-overhead.ts
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("observe-overhead");
const { log, emit } = program;
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const benches = (process.env["BENCH_OBSERVE_BENCHES"] ?? "entity-commands,transfers").split(",");
const settings = (process.env["BENCH_SETTINGS"] ?? "default,tracing,metrics-off").split(",");
const root = fileURLToPath(new URL("..", import.meta.url));

interface Figure {
  bench: string;
  mode: string;
  rate: number;
  /** CPU of the process running Sagaflow per operation (µs), less sensitive to other load than the rate. */
  cpuUs: number | null;
  otherCpuPct: number | null;
}

/** The environment of one setting: the parent's, without any OTEL_* or SAGAFLOW_METRICS of its own. */
function envFor(setting: string, sinkUrl: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OTEL_") && k !== "SAGAFLOW_METRICS"));
  const common = { BENCH_CONCURRENCY: "64", BENCH_WORKFLOWS: "transfer", BENCH_FSYNC: "0", BENCH_SECONDS: process.env["BENCH_SECONDS"] ?? "4" };
  if (setting === "tracing") {
    return {
      ...env, ...common,
      OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf", OTEL_TRACES_SAMPLER: "always_on",
      OTEL_METRICS_EXPORTER: "none", OTEL_SERVICE_NAME: "bench",
    };
  }
  if (setting === "metrics-off") return { ...env, ...common, SAGAFLOW_METRICS: "off" };
  return { ...env, ...common };
}

/** Runs one bench program; its figures at 64 in flight. */
async function runBench(bench: string, env: NodeJS.ProcessEnv): Promise<Figure[]> {
  const child = spawn(process.execPath, ["--conditions=sagaflow-source", "--import", "tsx", `bench/${bench}.ts`], { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`bench/${bench}.ts exited with ${code}`);
  return out
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((f) => f["figure"] === undefined && f["concurrency"] === 64)
    .map((f) => ({
      bench,
      mode: typeof f["mode"] === "string" ? f["mode"] : "nodes" in f ? "http" : "in-process",
      rate: Number(f["commandsPerSecond"] ?? f["transfersPerSecond"]),
      cpuUs: numberOrNull(f["cpuUsPerCommand"] ?? (f["serverCpuMsPerTransfer"] ?? f["cpuMsPerTransfer"] ?? NaN) as number * 1000),
      otherCpuPct: numberOrNull(f["otherCpuPct"]),
    }));
}

const numberOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? Math.round(v * 10) / 10 : null);
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

await program.run(async () => {
  const sink = spawn(process.execPath, ["--import", "tsx", "bench/support/otlp-sink.ts"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  program.defer(() => void sink.kill("SIGTERM"));
  const [first] = (await once(sink.stdout.setEncoding("utf8"), "data")) as [string];
  const sinkUrl = (JSON.parse(first.split("\n")[0]!) as { url: string }).url;
  const all: Array<Figure & { setting: string; round: number }> = [];
  for (let round = 1; round <= rounds; round++) {
    const order = settings.map((_, i) => settings[(i + round - 1) % settings.length]!);
    for (const bench of benches) {
      for (const setting of order) {
        log(`round ${round}/${rounds}: ${bench}, ${setting}`);
        for (const figure of await runBench(bench, envFor(setting, sinkUrl))) {
          all.push({ ...figure, setting, round });
          emit({ round, setting, ...figure });
        }
      }
    }
  }
  const keys = new Set(all.map((f) => `${f.bench}\u0000${f.mode}`));
  for (const key of keys) {
    const [bench, mode] = key.split("\u0000") as [string, string];
    const of = (setting: string) => all.filter((f) => f.bench === bench && f.mode === mode && f.setting === setting);
    const base = of("default");
    const baseRate = median(base.map((f) => f.rate));
    const baseCpu = median(base.map((f) => f.cpuUs ?? NaN));
    const summary: Record<string, unknown> = { figure: "summary", bench, mode, rounds };
    for (const setting of settings) {
      const runs = of(setting);
      const rate = median(runs.map((f) => f.rate));
      const cpu = median(runs.map((f) => f.cpuUs ?? NaN));
      summary[setting] = {
        rate: Math.round(rate),
        rates: runs.map((f) => f.rate),
        cpuUs: Math.round(cpu * 10) / 10,
        rateRatio: Math.round((rate / baseRate) * 1000) / 1000,
        cpuRatio: Math.round((cpu / baseCpu) * 1000) / 1000,
        otherCpuPct: runs.map((f) => f.otherCpuPct),
      };
    }
    emit(summary);
  }
});
