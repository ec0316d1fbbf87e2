import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { until } from "../src/runtime/test-support.ts";
import { getJson, postJson, requestJson } from "./support/http.ts";
import { OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver.ts";
import { SagaflowProcess } from "./support/server-process.ts";

/**
 * Issue 14, traces: a real `sagaflow serve` configured only by OTEL_* environment variables sends
 * its spans to an OTLP/HTTP receiver in this process (JSON and protobuf).
 */

function otelEnv(receiver: OtlpReceiver, protocol: string): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: "bank-under-test",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_TRACES_SAMPLER: "always_on",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  };
}

async function waitForSpans(receiver: OtlpReceiver, done: (spans: ReceivedSpan[]) => boolean, timeoutMs = 15_000): Promise<ReceivedSpan[]> {
  return until(() => `the spans; got: ${receiver.spans.map((s) => s.name).join(", ")}`, () => done(receiver.spans) && receiver.spans, timeoutMs, { everyMs: 50 });
}

for (const protocol of ["http/json", "http/protobuf"]) {
  describe(`traces over OTLP ${protocol}`, () => {
    it("one trace from the HTTP start of a transfer saga to its last step, the step's calls inside their step", { timeout: 60_000 }, async () => {
      const receiver = await OtlpReceiver.start();
      const server = await SagaflowProcess.start({ target: "examples/bank", env: otelEnv(receiver, protocol) });
      try {
        await postJson(`${server.url}/wallet/alice/create`, { initialBalance: 100 });
        await postJson(`${server.url}/wallet/bob/create`, { initialBalance: 0 });
        const traceId = randomBytes(16).toString("hex");
        const callerSpan = randomBytes(8).toString("hex");
        const started = await postJson(`${server.url}/transfer/t1/start`, { from: "alice", to: "bob", amount: 20 }, { traceparent: `00-${traceId}-${callerSpan}-01` });
        assert.equal(started.status, 200, started.text);
        assert.equal((await getJson(`${server.url}/transfer/t1`, { wait: 10 })).body.state.status, "completed");
        const spans = await waitForSpans(receiver, (all) => all.some((s) => s.name === "transfer step deposit"));
        const inTrace = spans.filter((s) => s.traceId === traceId);
        const byName = (name: string) => inTrace.find((s) => s.name === name);
        const http = byName("POST /{component}/{id}/{handler}");
        assert.ok(http, `the HTTP span joins the caller's trace: ${inTrace.map((s) => s.name).join(", ")}`);
        assert.equal(http.parentSpanId, callerSpan);
        const start = byName("transfer.start")!;
        assert.equal(start.parentSpanId, http.spanId);
        const withdraw = byName("transfer step withdraw")!;
        const deposit = byName("transfer step deposit")!;
        assert.ok(withdraw && deposit, "both steps are in the trace of the request that started the saga");
        assert.equal(withdraw.parentSpanId, start.spanId);
        assert.equal(deposit.parentSpanId, start.spanId);
        const call = byName("wallet.withdraw");
        assert.ok(call, "the step's call is in the trace");
        assert.equal(call.parentSpanId, withdraw.spanId);
        assert.equal(byName("wallet.deposit")?.parentSpanId, deposit.spanId);
        // No instance id in span attributes by default.
        for (const span of inTrace) for (const value of Object.values(span.attributes)) assert.ok(!["t1", "alice", "bob"].includes(String(value)), `${span.name} carries an id`);
        assert.ok([...receiver.contentTypes].some((t) => t.includes(protocol === "http/json" ? "json" : "protobuf")));
      } finally {
        await server.cleanup();
        await receiver.close();
      }
    });
  });
}

for (const protocol of ["http/json", "http/protobuf"]) {
  describe(`traces across a SIGKILL, over OTLP ${protocol}`, () => {
    it("the steps of a saga that run after a restart join the trace of the request that started it", { timeout: 90_000 }, async () => {
      const receiver = await OtlpReceiver.start();
      // held-transfer in mode "hold": withdraw, then a durable pause of holdMs, then deposit.
      const server = await SagaflowProcess.start({ target: "test/fixtures/bank-states", env: otelEnv(receiver, protocol) });
      try {
        await postJson(`${server.url}/wallet/alice/create`, { initialBalance: 100 });
        await postJson(`${server.url}/wallet/bob/create`, { initialBalance: 0 });
        const traceId = randomBytes(16).toString("hex");
        const input = { from: "alice", to: "bob", amount: 30, mode: "hold", holdMs: 3_000 };
        const started = await postJson(`${server.url}/held-transfer/h1/start`, input, { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` });
        assert.equal(started.status, 200, started.text);
        await waitForSpans(receiver, (all) => all.some((s) => s.name === "held-transfer step withdraw"));
        assert.equal((await getJson(`${server.url}/held-transfer/h1`)).body.status, "paused");
        const before = receiver.spans.length;
        await server.restart("SIGKILL");
        assert.equal((await getJson(`${server.url}/held-transfer/h1`, { wait: 20 })).body.state.status, "completed");
        await waitForSpans(receiver, (all) => all.some((s) => s.name === "wallet.deposit" && s.traceId === traceId));
        const inTrace = receiver.spans.filter((s) => s.traceId === traceId);
        const afterRestart = receiver.spans.slice(before).filter((s) => s.traceId === traceId);
        const start = inTrace.find((s) => s.name === "held-transfer.start")!;
        assert.ok(start, `the start is in the caller's trace: ${inTrace.map((s) => s.name).join(", ")}`);
        const deposit = afterRestart.find((s) => s.name === "held-transfer step deposit");
        assert.ok(deposit, `the deposit step, run by the restarted process, joins the original trace: ${afterRestart.map((s) => s.name).join(", ")}`);
        assert.equal(deposit.parentSpanId, start.spanId);
        const wake = afterRestart.find((s) => s.name === "held-transfer wake");
        assert.equal(wake?.parentSpanId, start.spanId, "the pause's timeout wakes the workflow in its trace");
        assert.equal(wake.attributes["sagaflow.reason"], "pause_timeout");
        assert.equal(afterRestart.find((s) => s.name === "wallet.deposit")?.parentSpanId, deposit.spanId, "the step's call is inside the step");
        // The withdraw ran once, before the kill: one span, in the original trace.
        assert.equal(inTrace.filter((s) => s.name === "held-transfer step withdraw").length, 1);
      } finally {
        await server.cleanup();
        await receiver.close();
      }
    });
  });
}

describe("traces of timers across a SIGKILL", () => {
  it("a timer that fires after a restart is linked to the span that started it, and its call is inside the firing", { timeout: 60_000 }, async () => {
    const receiver = await OtlpReceiver.start();
    // plan.schedule emits an event; the scheduler consumer starts the timer; it calls sink.fire.
    const server = await SagaflowProcess.start({ target: "test/fixtures/consumers-timers", env: otelEnv(receiver, "http/protobuf") });
    try {
      const timers = [{ name: "late-one", target: "s1", dueIn: 3_000 }];
      assert.equal((await postJson(`${server.url}/plan/p1/schedule`, { timers })).status, 200);
      const spans = await waitForSpans(receiver, (all) => all.some((s) => s.name === "scheduler deliver"));
      const schedule = spans.find((s) => s.name === "plan.schedule")!;
      const delivery = spans.find((s) => s.name === "scheduler deliver")!;
      assert.deepEqual(delivery.links, [{ traceId: schedule.traceId, spanId: schedule.spanId }]);
      assert.ok(!spans.some((s) => s.name === "timer fire"), "the timer has not fired before the kill");
      await server.restart("SIGKILL");
      const after = await waitForSpans(receiver, (all) => all.some((s) => s.name === "sink.fire"));
      const firing = after.find((s) => s.name === "timer fire")!;
      assert.deepEqual(firing.links, [{ traceId: delivery.traceId, spanId: delivery.spanId }], "linked to the delivery that started the timer");
      const call = after.find((s) => s.name === "sink.fire")!;
      assert.equal(call.parentSpanId, firing.spanId);
      assert.equal(call.traceId, firing.traceId);
    } finally {
      await server.cleanup();
      await receiver.close();
    }
  });
});

describe("traces of views", () => {
  it("a view update is linked to the command that wrote its entry, and a query is a span of the request that asks it", { timeout: 60_000 }, async () => {
    const receiver = await OtlpReceiver.start();
    const server = await SagaflowProcess.start({ target: "test/fixtures/bank-states", env: otelEnv(receiver, "http/json") });
    try {
      assert.equal((await postJson(`${server.url}/wallet/carol/create`, { initialBalance: 7 })).status, 200);
      const spans = await waitForSpans(receiver, (all) => all.some((s) => s.name === "view balances update"));
      const create = spans.find((s) => s.name === "wallet.create")!;
      const update = spans.find((s) => s.name === "view balances update")!;
      assert.deepEqual(update.links, [{ traceId: create.traceId, spanId: create.spanId }]);
      const traceId = randomBytes(16).toString("hex");
      const rows = await requestJson(`${server.url}/views/balances/all`, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` } });
      assert.deepEqual(rows.body.rows, [{ id: "carol", balance: 7 }]);
      const query = (await waitForSpans(receiver, (all) => all.some((s) => s.name === "view balances query all"))).find((s) => s.name === "view balances query all")!;
      const request = receiver.spans.find((s) => s.traceId === traceId && s.name.startsWith("GET "));
      assert.equal(query.traceId, traceId);
      assert.equal(query.parentSpanId, request?.spanId);
    } finally {
      await server.cleanup();
      await receiver.close();
    }
  });
});

describe("traces of consumer deliveries", () => {
  it("a delivery span is linked to the span of the command that wrote the entry", { timeout: 60_000 }, async () => {
    const receiver = await OtlpReceiver.start();
    const server = await SagaflowProcess.start({ target: "test/fixtures/observe", env: otelEnv(receiver, "http/json") });
    try {
      assert.equal((await postJson(`${server.url}/meter/m1/tick`, {})).status, 200);
      const spans = await waitForSpans(receiver, (all) => all.some((s) => s.name === "audit deliver"));
      const tick = spans.find((s) => s.name === "meter.tick")!;
      const delivery = spans.find((s) => s.name === "audit deliver")!;
      assert.deepEqual(delivery.links, [{ traceId: tick.traceId, spanId: tick.spanId }], JSON.stringify(spans));
    } finally {
      await server.cleanup();
      await receiver.close();
    }
  });
});
