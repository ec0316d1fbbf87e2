import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { assertErrorBody, getJson, postJson, requestJson } from "./support/http.ts";
import { cli } from "./support/cli.ts";
import { SagaflowProcess } from "./support/server-process.ts";

/**
 * Issue 11, point 8, over real HTTP against a real `sagaflow serve` process: the mistakes a new
 * user makes by accident get a clear 4xx (or a 500 that names the bug) and start nothing.
 */

let server: SagaflowProcess;
let base: string;

before(async () => {
  server = await SagaflowProcess.start({ target: "test/fixtures/bad-input", args: ["--log-format", "pretty"] });
  base = server.url;
});

after(async () => {
  await server?.cleanup();
});

describe("workflow and saga start input (real process)", () => {
  it("a transfer started with the wrong types is 400 invalid_input, and nothing is started", async () => {
    for (const name of ["transfer", "transfer-workflow"]) {
      const bad: unknown[] = [
        { from: 5, to: null, amount: "x" },
        { from: "a", to: "b", amount: -5 },
        { from: "a", to: "b", amount: 1.5 },
        { from: "a", to: "b" },
        "hello",
        [1, 2],
      ];
      for (const [i, body] of bad.entries()) {
        const id = `bad-${i}`;
        const error = assertErrorBody(await postJson(`${base}/${name}/${id}/start`, body), 400, "invalid_input");
        assert.match(error.message, /invalid input for /);
        assertErrorBody(await getJson(`${base}/${name}/${id}`), 404, "not_found");
      }
    }
  });

  it("the invalid_input of the issue's example names the field", async () => {
    const res = await postJson(`${base}/transfer/x/start`, { from: 5, to: null, amount: "x" });
    const error = assertErrorBody(res, 400, "invalid_input");
    assert.match(error.message, /from|to|amount/);
    assert.ok(Array.isArray(error.details?.issues) && error.details.issues.length >= 3, res.text);
    assertErrorBody(await getJson(`${base}/transfer/x`), 404, "not_found");
  });

  it("a good transfer still starts and completes", async () => {
    assert.equal((await postJson(`${base}/wallet/ga/create`, { initialBalance: 10 })).status, 200);
    assert.equal((await postJson(`${base}/wallet/gb/create`, { initialBalance: 0 })).status, 200);
    const started = await postJson(`${base}/transfer/good/start`, { from: "ga", to: "gb", amount: 4 });
    assert.equal(started.status, 200, started.text);
    const result = await getJson(`${base}/transfer/good`, { wait: 10 });
    assert.equal(result.body.state.status, "completed", result.text);
    assert.deepEqual((await getJson(`${base}/wallet/gb/balance`)).body, { balance: 4 });
  });

  it("a saga without a schema refuses a string input (400) instead of spreading it into {\"0\": …}", async () => {
    for (const [i, body] of (["hello", 7, [1], null] as unknown[]).entries()) {
      const res = await postJson(`${base}/echo/s-${i}/start`, body);
      // null is read as no input ({}), which is an object: that one starts.
      if (body === null) {
        assert.equal(res.status, 200, res.text);
        continue;
      }
      const error = assertErrorBody(res, 400, "invalid_input");
      assert.match(error.message, /saga "echo" starts from an object/);
      assertErrorBody(await getJson(`${base}/echo/s-${i}`), 404, "not_found");
    }
    const ok = await postJson(`${base}/echo/s-ok/start`, { note: "hi" });
    assert.equal(ok.status, 200, ok.text);
    const result = await getJson(`${base}/echo/s-ok`, { wait: 10 });
    assert.equal(result.body.state.note, "hi", result.text);
    assert.equal(result.body.state["0"], undefined);
  });
});

describe("unknown workflow instances are 404 everywhere (real process)", () => {
  it("GET, a command and a query on a workflow never started are all 404 not_found", async () => {
    assertErrorBody(await getJson(`${base}/transfer/nope`), 404, "not_found");
    assertErrorBody(await postJson(`${base}/wayward/nope/derail`, {}), 404, "not_found");
    assertErrorBody(await getJson(`${base}/wayward/nope/peek`), 404, "not_found");
    assertErrorBody(await postJson(`${base}/transfer/nope/someCommand`, {}), 404, "unknown_command");
    assertErrorBody(await getJson(`${base}/wayward/nope`), 404, "not_found");
  });
});

describe("a command's transition to an undefined step (real process)", () => {
  it("is an error naming the step and the command, and changes nothing", async () => {
    assert.equal((await postJson(`${base}/wayward/w1/start`, {})).status, 200);
    const error = assertErrorBody(await postJson(`${base}/wayward/w1/derail`, {}), 500, "unknown_step");
    assert.match(error.message, /wayward\.derail/);
    assert.match(error.message, /"nowhere"/);
    const view = await getJson(`${base}/wayward/w1`);
    assert.equal(view.status, 200, view.text);
    assert.notEqual(view.body.step, "nowhere");
  });
});

describe("POST to a view query (real process)", () => {
  it("is 405 with Allow: GET and a message saying views are read with GET", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await requestJson(`${base}/views/carts/byUser`, { method, body: { userId: "u1" } });
      const error = assertErrorBody(res, 405, "method_not_allowed");
      assert.equal(res.headers.get("allow"), "GET, HEAD");
      assert.match(error.message, /views are read with GET/);
    }
    const res = await getJson(`${base}/views/carts/byUser`, { userId: "u1" });
    assert.equal(res.status, 200, res.text);
  });
});

describe("parked messages and components the service does not list (real process)", () => {
  it("a parked message is one warning line (consumer, position, error) and counted in `sagaflow consumers`", async () => {
    const rung = await postJson(`${base}/bell/b1/ring`, {});
    assert.equal(rung.status, 200, rung.text);
    await postJson(`${base}/bell/b1/ring`, {});
    const warning = await server.waitForOutput(/WARNING: consumer ringer parked the message at position (\d+) .*/, 10_000);
    assert.match(warning[0], /\(bell "b1" rung\)/);
    assert.match(warning[0], /unknown_component: no component named "ghost"/);
    // The unlisted component is named once, loudly.
    await server.waitForOutput(/ERROR: a consumer calls component "ghost", which the service does not list/, 10_000);
    await postJson(`${base}/bell/b2/ring`, {});
    await server.waitForOutput(/WARNING: consumer ringer parked the message at position \d+ \(bell "b2"/, 10_000);
    assert.equal(server.output().match(/calls component "ghost"/g)?.length, 1, server.output());

    const run = await cli(["consumers", "--admin", await server.admin()]);
    assert.equal(run.code, 0, run.stderr);
    const [header, row] = run.stdout.trim().split("\n");
    assert.match(header!, /name\s+source\s+offset\s+head\s+lag\s+parked/);
    assert.match(row!, /^ringer\s+bell\s+.*\s3$/, run.stdout);
  });

  it("a workflow step calling a component the service does not list is logged, naming it", async () => {
    assert.equal((await postJson(`${base}/seance/s1/start`, {})).status, 200);
    await server.waitForOutput(/ERROR: a workflow step calls component "phantom", which the service does not list/, 10_000);
    const result = await getJson(`${base}/seance/s1`, { wait: 10 });
    assert.equal(result.body.state.status, "rejected", result.text);
    assert.equal(result.body.state.failure.code, "unknown_component");
  });

  it("a consumer whose source the service does not list stops start-up, naming both", async () => {
    const refused = SagaflowProcess.create({ target: "test/fixtures/bad-input-unlisted-source", args: ["--log-format", "pretty"], readyTimeoutMs: 15_000 });
    try {
      await assert.rejects(refused.start());
      assert.equal((await refused.exited).code, 1);
      assert.match(refused.output(), /service "unlisted-source": consumer "ringer" reads "bell", which the service does not list/);
    } finally {
      await refused.cleanup();
    }
  });
});
