import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { postJson } from "./support/http.ts";
import { OtlpReceiver, type ReceivedMetric } from "./support/otlp-receiver.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * Issue 14, metrics over OTLP: a real `sagaflow serve` configured only by OTEL_* variables pushes
 * the instruments of `GET /metrics` to an OTLP/HTTP receiver in this process (JSON and protobuf);
 * SAGAFLOW_METRICS=off switches metrics off (no `/metrics`, no export).
 */

const ticks = 5;

function otelEnv(receiver: OtlpReceiver, protocol: string): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: "observe-under-test",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_TRACES_EXPORTER: "none",
    OTEL_METRIC_EXPORT_INTERVAL: "200",
  };
}

/** The tick counter's value in an export, if it holds it. */
function tickCount(metrics: ReceivedMetric[]): number | undefined {
  const counter = metrics.find((m) => m.name === "sagaflow_commands_total");
  return counter?.points.find((p) => p.attributes["component"] === "meter" && p.attributes["handler"] === "tick" && p.attributes["outcome"] === "ok")?.value;
}

for (const protocol of ["http/json", "http/protobuf"]) {
  describe(`metrics over OTLP ${protocol}`, () => {
    it("the command counter arrives with exactly the commands made, beside the histograms and process metrics of /metrics", { timeout: 60_000 }, async () => {
      const receiver = await OtlpReceiver.start();
      const server = await SagaflowProcess.start({ target: "test/fixtures/observe", env: otelEnv(receiver, protocol) });
      try {
        for (let i = 0; i < ticks; i++) assert.equal((await postJson(`${server.url}/meter/m${i}/tick`, {})).status, 200);
        const deadline = Date.now() + 15_000;
        let latest: ReceivedMetric[] | undefined;
        while ((latest = receiver.metricExports.at(-1)) === undefined || tickCount(latest) !== ticks) {
          if (Date.now() > deadline) throw new Error(`no export with ${ticks} ticks; last: ${JSON.stringify(latest?.find((m) => m.name === "sagaflow_commands_total"))}`);
          await sleep(50);
        }
        const names = new Set(latest.map((m) => m.name));
        for (const name of ["sagaflow_command_duration_seconds", "sagaflow_commit_duration_seconds", "sagaflow_workflows", "process_resident_memory_bytes"]) {
          assert.ok(names.has(name), `${name} is exported: ${[...names].join(", ")}`);
        }
        // Labels stay bounded: no instance id (m0…m4) in any exported point.
        for (const metric of latest) for (const point of metric.points) assert.ok(!Object.values(point.attributes).some((v) => /^m\d$/.test(String(v))), metric.name);
        assert.ok([...receiver.contentTypes].some((t) => t.includes(protocol === "http/json" ? "json" : "protobuf")));
        assert.equal(receiver.spans.length, 0, "OTEL_TRACES_EXPORTER=none leaves traces off");
      } finally {
        await server.cleanup();
        await receiver.close();
      }
    });
  });
}

describe("metrics switched off", () => {
  it("SAGAFLOW_METRICS=off: GET /metrics answers 404 metrics_off and no metrics export starts, while traces still do", { timeout: 60_000 }, async () => {
    const receiver = await OtlpReceiver.start();
    const env = { ...otelEnv(receiver, "http/json"), OTEL_TRACES_EXPORTER: "otlp", SAGAFLOW_METRICS: "off", SAGAFLOW_LOG_FORMAT: "json" };
    const server = await SagaflowProcess.start({ target: "test/fixtures/observe", env });
    try {
      assert.equal((await postJson(`${server.url}/meter/m1/tick`, {})).status, 200);
      const res = await fetch(`${await server.admin()}/metrics`);
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "metrics_off");
      const logged = server.output().split("\n").filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { event?: string }).event);
      assert.ok(logged.includes("tracing_started"), server.output());
      assert.ok(!logged.includes("metrics_export_started"), "no metrics export");
    } finally {
      await server.cleanup();
      await receiver.close();
    }
  });

  it("an OTEL_METRICS_EXPORTER it cannot serve refuses to start, before the service listens", { timeout: 30_000 }, async () => {
    const server = SagaflowProcess.create({ target: "test/fixtures/observe", env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_METRICS_EXPORTER: "otpl", OTEL_TRACES_EXPORTER: "none" } });
    try {
      await assert.rejects(server.start(), /OTEL_METRICS_EXPORTER="otpl" is not supported by sagaflow serve; use otlp/);
      assert.equal(existsSync(server.dbPath), false, "refused before the service opened its store, let alone listened");
    } finally {
      await server.cleanup();
    }
  });

  it("a SAGAFLOW_METRICS that is neither on nor off refuses to start", { timeout: 30_000 }, async () => {
    const server = SagaflowProcess.create({ target: "test/fixtures/observe", env: { SAGAFLOW_METRICS: "of" } });
    try {
      await assert.rejects(server.start(), /SAGAFLOW_METRICS must be on or off/);
    } finally {
      await server.cleanup();
    }
  });
});
