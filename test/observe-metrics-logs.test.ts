import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { until } from "../src/runtime/test-support.ts";
import { getJson, postJson } from "./support/http.ts";
import { parsePrometheusText, sampleValue, type Sample } from "./support/prometheus-text.ts";
import { SagaflowProcess } from "./support/server-process.ts";

/**
 * Issue 14: `GET /metrics` on the admin port of a real `sagaflow serve` (parsed as Prometheus
 * text), and the structured JSON log lines (`--log-format json`) of a parked message, a failed
 * workflow and a store outage.
 */

const ids = ["m1", "m2", "m3", "p1", "j1", "j2", "j3", "j4"];

async function scrape(adminUrl: string): Promise<Sample[]> {
  const res = await fetch(`${adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return parsePrometheusText(await res.text());
}

/** The JSON lines of the output whose `event` is `event`. */
function events(output: string, event: string): Array<Record<string, unknown>> {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record["event"] === event);
}

describe("observability of a served service (metrics and logs)", () => {
  let server: SagaflowProcess;
  let admin: string;
  before(async () => {
    server = await SagaflowProcess.start({ target: "test/fixtures/observe", args: ["--log-format", "json"] });
    admin = await server.admin();
    for (const id of ["m1", "m2", "m3"]) assert.equal((await postJson(`${server.url}/meter/${id}/tick`, {})).status, 200);
    assert.equal((await postJson(`${server.url}/meter/p1/tick`, { poison: true })).status, 200);
    for (const id of ["j1", "j2"]) assert.equal((await postJson(`${server.url}/job/${id}/start`, {})).status, 200);
    assert.equal((await postJson(`${server.url}/job/j3/start`, { fail: true })).status, 200);
    assert.equal((await postJson(`${server.url}/job/j4/start`, { flaky: true })).status, 200);
    for (const id of ["j1", "j2", "j3", "j4"]) await getJson(`${server.url}/job/${id}`, { wait: 10 });
  });
  after(async () => {
    await server.cleanup();
  });

  it("after N commands the command counter rose by exactly N; no metric has an instance id label", async () => {
    const labels = { component: "meter", handler: "tick", outcome: "ok" };
    const first = sampleValue(await scrape(admin), "sagaflow_commands_total", labels);
    assert.equal(first, 4, "the four ticks of the set-up (the poison is only for the consumer)");
    const n = 20;
    for (let i = 0; i < n; i++) assert.equal((await postJson(`${server.url}/meter/m1/tick`, {})).status, 200);
    const samples = await scrape(admin);
    assert.equal(sampleValue(samples, "sagaflow_commands_total", labels) - first, n);
    assert.equal(sampleValue(samples, "sagaflow_command_duration_seconds_count", labels) - first, n);
    for (const sample of samples) {
      assert.ok(!("id" in sample.labels), `${sample.name} has an id label`);
      for (const value of Object.values(sample.labels)) assert.ok(!ids.includes(value), `${sample.name} has the instance id ${value} as a label`);
    }
    // HTTP requests by route template, never by path.
    assert.ok(sampleValue(samples, "sagaflow_http_requests_total", { method: "POST", route: "/{component}/{id}/{handler}", status: "200" }) >= n + 7);
    assert.ok(sampleValue(samples, "sagaflow_commit_writes_count") > 0);
    assert.ok(sampleValue(samples, "process_resident_memory_bytes") > 0);
  });

  it("workflows by status match the admin API", async () => {
    const samples = await scrape(admin);
    for (const [status, expected] of [["ended", 3], ["failed", 1], ["running", 0]] as const) {
      const listed = (await getJson(`${admin}/workflows`, { name: "job", status })).body.workflows as unknown[];
      const counted = samples.filter((s) => s.name === "sagaflow_workflows" && s.labels["workflow"] === "job" && s.labels["status"] === status).reduce((sum, s) => sum + s.value, 0);
      assert.equal(listed.length, expected, status);
      assert.equal(counted, expected, `sagaflow_workflows{status="${status}"}`);
    }
    assert.equal(sampleValue(samples, "sagaflow_workflows", { workflow: "job", status: "failed", step: "run" }), 1);
  });

  it("consumer lag and parked counts match a known backlog", async () => {
    // `stuck` never finishes its first delivery: every meter event is behind it. `audit` parks p1's poison tick.
    const meterEvents = 3 + 1 + 20;
    await until("the poison tick parked", () => (events(server.output(), "message_parked").length > 0 ? true : undefined), 15_000, { everyMs: 50 });
    const samples = await scrape(admin);
    const report = (await getJson(`${admin}/consumers`)).body as { consumers: Array<{ name: string; lag: number; parked: number }> };
    const stuck = report.consumers.find((c) => c.name === "stuck")!;
    const audit = report.consumers.find((c) => c.name === "audit")!;
    assert.equal(stuck.lag, meterEvents);
    assert.equal(sampleValue(samples, "sagaflow_consumer_lag", { consumer: "stuck" }), meterEvents);
    assert.equal(sampleValue(samples, "sagaflow_consumer_parked", { consumer: "audit" }), 1);
    assert.equal(sampleValue(samples, "sagaflow_consumer_parked", { consumer: "audit" }), audit.parked);
    assert.equal(sampleValue(samples, "sagaflow_consumer_lag", { consumer: "audit" }), audit.lag);
  });

  it("a parked message and a failed workflow are each one JSON line with the documented fields", async () => {
    const parked = await until("message_parked", () => events(server.output(), "message_parked")[0], 15_000, { everyMs: 50 });
    assert.equal(events(server.output(), "message_parked").length, 1);
    assert.equal(parked["level"], "warn");
    assert.equal(typeof parked["time"], "string");
    assert.match(String(parked["msg"]), /parked the message/);
    for (const [field, value] of Object.entries({ consumer: "audit", component: "meter", id: "p1", type: "ticked", attempts: 2, error_code: "handler_error" })) {
      if (field === "error_code") assert.equal(typeof parked[field], "string");
      else assert.equal(parked[field], value, field);
    }
    assert.equal(typeof parked["position"], "number");
    assert.match(String(parked["error_message"]), /cannot audit a poison tick/);

    const failed = await until("workflow_failed", () => events(server.output(), "workflow_failed")[0], 15_000, { everyMs: 50 });
    assert.equal(events(server.output(), "workflow_failed").length, 1);
    assert.equal(failed["level"], "error");
    assert.deepEqual(
      { workflow: failed["workflow"], id: failed["id"], step: failed["step"], attempt: failed["attempt"], error_code: failed["error_code"], error_message: failed["error_message"] },
      { workflow: "job", id: "j3", step: "run", attempt: 1, error_code: "job_refused", error_message: "the job was asked to fail" },
    );
    // The message is said once, in its field: `msg` says what failed, where.
    assert.equal(failed["msg"], 'workflow job "j3" failed at step run: job_refused');
  });

  it("a retried step attempt is a warning line, held back within 10 s of the step's last one", async () => {
    // j4's step threw on its first two attempts, 10 ms apart: the first said, the second held back.
    const retried = await until("step_attempt_failed", () => events(server.output(), "step_attempt_failed")[0], 15_000, { everyMs: 50 });
    assert.equal(events(server.output(), "step_attempt_failed").length, 1, "the second attempt's failure, 10 ms later, is held back");
    assert.equal(retried["level"], "warn");
    assert.deepEqual(
      { workflow: retried["workflow"], id: retried["id"], step: retried["step"], attempt: retried["attempt"], outcome: retried["outcome"], error_code: retried["error_code"], error_message: retried["error_message"], suppressed: retried["suppressed"] },
      { workflow: "job", id: "j4", step: "run", attempt: 1, outcome: "retry", error_code: "step_error", error_message: "flaky on attempt 1", suppressed: 0 },
    );
    assert.equal(typeof retried["retry_in_ms"], "number");
    assert.equal(retried["msg"], 'workflow job "j4" step run attempt 1 failed, retry in 10 ms: step_error');
    const samples = await scrape(admin);
    assert.equal(sampleValue(samples, "sagaflow_workflow_steps_total", { workflow: "job", step: "run", outcome: "retry" }), 2, "both retries counted");
    assert.equal((await getJson(`${server.url}/job/j4`)).body.status, "ended");
  });

  it("a store outage is one JSON line with its reason", { timeout: 60_000 }, async () => {
    // Another process holds SQLite's write lock past the store's busy timeout (5 s): commands get 503.
    const db = new Database(join(server.dataDir, "sagaflow.db"));
    try {
      db.exec("BEGIN EXCLUSIVE");
      // (better-sqlite3 waits out the busy timeout synchronously: the server is slow meanwhile.)
      const refused = await postJson(`${server.url}/meter/m2/tick`, {}, {}, 50_000);
      assert.equal(refused.status, 503, refused.text);
    } finally {
      db.exec("ROLLBACK");
      db.close();
    }
    const outage = await until("store_unavailable", () => events(server.output(), "store_unavailable")[0], 15_000, { everyMs: 50 });
    assert.equal(events(server.output(), "store_unavailable").length, 1, "one line per outage, not per request");
    assert.equal(outage["level"], "error");
    assert.equal(outage["reason"], "lock_timeout");
    assert.match(String(outage["error_message"]), /locked by another process/);
    assert.equal((await postJson(`${server.url}/meter/m2/tick`, {}, {}, 50_000)).status, 200);
  });
});
