import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { z } from "zod";
import { access } from "../define/access.ts";
import { endpoint, reply, route } from "../define/endpoint.ts";
import { entity } from "../define/entity.ts";
import { SagaflowError } from "../define/errors.ts";
import { keyValue } from "../define/key-value.ts";
import { service } from "../define/service.ts";
import { table, view } from "../define/view.ts";
import { workflow } from "../define/workflow.ts";
import { createSagaflow, type Sagaflow } from "../host/create-sagaflow.ts";
import { sqlite } from "../host/stores.ts";
import { testService } from "../testkit/service-testkit.ts";
import { assertErrorBody, requestJson } from "../../test/support/http.ts";
import { tempDir } from "../../test/support/server-process.ts";
import { rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

/**
 * Exposure and access over real HTTP: what a definition does not expose answers exactly as what
 * does not exist; rules run before the body is read or any handler runs; endpoints route, check
 * and answer; the principal reaches handlers and a workflow's record.
 */

const secret = "exposure-test-secret-0123456789abcdef";
const token = (claims: Record<string, unknown> & { sub?: string }) => {
  const { sub, ...rest } = claims;
  const jwt = new SignJWT(rest).setProtectedHeader({ alg: "HS256" }).setIssuer("tests").setIssuedAt().setExpirationTime("5m");
  return (sub === undefined ? jwt : jwt.setSubject(sub)).sign(new TextEncoder().encode(secret));
};
const bearer = async (claims: Record<string, unknown> & { sub?: string }) => ({ authorization: `Bearer ${await token(claims)}` });

/** Handler runs, to prove refused requests never reach one. */
let runs = 0;

const note = entity(
  "note",
  { initial: () => ({ text: "", by: null as string | null }), events: { written: (_s, e: { text: string; by: string | null }) => e } },
  {
    // `write` is public; `erase` and `secret` are not exposed; `read` needs the owner.
    expose: { write: access.anyone, read: access.subjectIs("id") },
    commands: {
      write: (_s, c: { text: string }, fx) => {
        runs++;
        return fx.emit("written", { text: c.text, by: fx.principal?.subject ?? null }).reply((s) => s);
      },
      erase: (_s, _c: {}, fx) => {
        runs++;
        return fx.reply({ erased: true });
      },
      sign: (_s, c: { text: string }, fx) => {
        runs++;
        return fx.emit("written", { text: c.text, by: fx.principal?.subject ?? null }).reply((s) => s);
      },
    },
    queries: { read: (s, _: {}, fx) => fx.reply(s), secret: (s, _: {}, fx) => fx.reply(s) },
  },
);
/** The same note, exposed with a rule on `sign`: the principal reaches the handler. */
const signed = entity(
  "signed",
  { initial: () => ({ by: null as string | null }), events: { signed: (_s, e: { by: string | null }) => e } },
  {
    expose: { sign: access.authenticated },
    commands: { sign: (_s, _c: {}, fx) => { runs++; return fx.emit("signed", { by: fx.principal?.subject ?? null }).reply((s) => s); } },
    inputs: { sign: z.object({}).strict() },
  },
);
const hiddenEntity = entity("hidden-entity", { initial: () => ({}), events: {} }, { commands: { poke: (_s, _c: {}, fx) => { runs++; return fx.reply({}); } } });
const hiddenKv = keyValue("hidden-kv", { initial: () => 0, commands: { poke: (s, _c: {}, fx) => { runs++; return fx.reply(s); } } });
/** Absent until set: its state, and `get`'s reply, is null. */
const maybe = keyValue("maybe", {
  initial: (): { n: number } | null => null,
  commands: { set: (_s, c: { n: number }, fx) => fx.update({ n: c.n }).reply((s) => s), clear: (_s, _c: {}, fx) => fx.update(null).reply((s) => s) },
  queries: { get: (s, _: {}, fx) => fx.reply(s) },
  expose: access.anyone,
});
const hiddenWorkflow = workflow("hidden-flow", { start: (_: {}) => ({}), steps: { only: (s, _i, ctx) => ctx.update(s).end() } });
const hiddenView = view("hidden-view", { version: 1, tables: { notes: table(note, { events: { written: (_r, e, { id }) => ({ id, text: e.text }) } }) }, queries: { all: "SELECT * AS notes FROM notes" } });
const approval = workflow("approval", {
  expose: { start: access.role("clerk"), $result: access.authenticated },
  start: (input: { amount: number }) => input,
  steps: { done: (s, _i, ctx) => ctx.update(s).end() },
});
/** Waits for an approval that never comes. */
const pending = workflow("pending", { start: (_: {}) => ({}), steps: { wait: (s, _i, ctx) => ctx.update(s).pause() } });
/** What ended the endpoint's wait for a pending workflow's result. */
let pendingWaitEnded: unknown;

const notes = view("notes", {
  version: 1,
  expose: { all: access.anyone },
  tables: { notes: table(note, { events: { written: (_r, e, { id }) => ({ id, text: e.text }) } }) },
  queries: { all: "SELECT * AS notes FROM notes ORDER BY id", mine: "SELECT * AS notes FROM notes WHERE id = :id" },
});

/** Events read from the endless stream (to show a HEAD reads none). */
let endlessRead = 0;
async function* endless() {
  for (;;) {
    endlessRead++;
    yield { event: "tick", data: {} };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Events of 16 KB, up to 5,000 (80 MB): far more than a socket that is not read can buffer. */
let firehoseRead = 0;
async function* firehose() {
  const data = "x".repeat(16 * 1024);
  for (; firehoseRead < 5_000; firehoseRead++) yield { event: "chunk", data };
}

async function* ticks(count: number) {
  for (let i = 1; i <= count; i++) yield { event: "tick", data: { n: i } };
}

const api = endpoint("api", [
  route.get("/notes/:id/summary", { access: access.anyone }, async ({ params }, { client }) => {
    const state = await client.call(note, params.id).read();
    if (state.text === "") throw new SagaflowError("not_found", `no note "${params.id}"`, { status: 404 });
    return { id: params.id, length: state.text.length };
  }),
  route.post(
    "/notes/:id/copy",
    { access: access.authenticated, params: z.object({ id: z.string().regex(/^n/) }), body: z.object({ to: z.string().min(1) }), query: z.object({ loud: z.boolean().optional() }) },
    async ({ params, body, query, principal }, { client }) => {
      const { text } = await client.call(note, params.id).read();
      await client.call(note, body.to).write({ text: query.loud ? text.toUpperCase() : text });
      return reply.json({ copied: body.to, by: principal?.subject }, { status: 201, headers: { location: `/notes/${body.to}/summary` } });
    },
  ),
  route.get("/text", { access: access.anyone }, () => reply.text("plain words", { status: 202 })),
  route.get("/ticks", { access: access.anyone }, () => reply.events(ticks(3))),
  route.get("/endless", { access: access.anyone }, () => reply.events(endless())),
  route.get("/firehose", { access: access.anyone }, () => reply.events(firehose())),
  route.get("/pending/:id/outcome", { access: access.anyone }, async ({ params }, { client }) => {
    await client.call(pending, params.id).start({});
    try {
      return await client.result(pending, params.id, 30);
    } catch (error) {
      pendingWaitEnded = error;
      throw error;
    }
  }),
  route.get("/boom", { access: access.anyone }, () => {
    throw new Error("a bug");
  }),
]);

const components = [note, signed, hiddenEntity, hiddenKv, maybe, hiddenWorkflow, hiddenView, approval, pending, notes, api];
const bankService = service("exposure", components, { auth: { issuers: [{ issuer: "tests", algorithms: ["HS256"], secret }] } });

let app: Sagaflow;
let base = "";
let admin = "";
const dataDir = tempDir("sagaflow-exposure-");
before(async () => {
  app = createSagaflow(bankService, { store: sqlite(join(dataDir, "db.sqlite")), log: () => {} });
  const listening = await app.listen({ port: 0 });
  base = listening.url;
  admin = listening.adminUrl!;
});
after(async () => {
  await app.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** An error body with the name it mentions replaced, to compare two answers' shapes exactly. */
const shape = (res: { status: number; text: string }, name: string) => ({ status: res.status, body: res.text.split(name).join("NAME") });

describe("exposure: deny by default", () => {
  for (const [kind, name, path] of [
    ["entity", "hidden-entity", "/NAME/x/poke"],
    ["key-value entity", "hidden-kv", "/NAME/x/poke"],
    ["workflow (start)", "hidden-flow", "/NAME/x/start"],
  ] as const) {
    it(`an unexposed ${kind} answers exactly as an unknown component, to POST and GET`, async () => {
      for (const method of ["POST", "GET", "PUT"]) {
        const hidden = await requestJson(base + path.replace("NAME", name), { method, ...(method === "GET" ? {} : { body: {} }) });
        const unknown = await requestJson(base + path.replace("NAME", "no-such-thing"), { method, ...(method === "GET" ? {} : { body: {} }) });
        assertErrorBody(hidden, 404, "unknown_component");
        assert.deepEqual(shape(hidden, name), shape(unknown, "no-such-thing"), method);
      }
      assert.equal(runs, 0);
    });
  }

  it("an unexposed workflow's GET /{workflow}/{id} answers as an unknown one", async () => {
    const hidden = await requestJson(`${base}/hidden-flow/x`);
    const unknown = await requestJson(`${base}/no-such-thing/x`);
    assertErrorBody(hidden, 404, "unknown_component");
    assert.deepEqual(shape(hidden, "hidden-flow"), shape(unknown, "no-such-thing"));
  });

  it("an unexposed view, and an unexposed query of an exposed view, answer as unknown ones", async () => {
    const hidden = await requestJson(`${base}/views/hidden-view/all`);
    const unknown = await requestJson(`${base}/views/no-such-view/all`);
    assertErrorBody(hidden, 404, "unknown_view");
    assert.deepEqual(shape(hidden, "hidden-view"), shape(unknown, "no-such-view"));
    const mine = await requestJson(`${base}/views/notes/mine?id="a"`);
    const none = await requestJson(`${base}/views/notes/nothing`);
    assertErrorBody(mine, 404, "unknown_query");
    assert.deepEqual(shape(mine, "mine"), shape(none, "nothing"));
    assert.equal((await requestJson(`${base}/views/notes/all`)).status, 200);
  });

  it("an exposed command beside unexposed ones: the others answer as handlers that do not exist", async () => {
    const written = await requestJson(`${base}/note/n1/write`, { body: { text: "hello" } });
    assert.equal(written.status, 200, written.text);
    assert.equal(runs, 1);
    for (const [method, handler] of [["POST", "erase"], ["POST", "sign"], ["GET", "secret"]] as const) {
      const hidden = await requestJson(`${base}/note/n1/${handler}`, { method, ...(method === "POST" ? { body: {} } : {}) });
      const unknown = await requestJson(`${base}/note/n1/nothing`, { method, ...(method === "POST" ? { body: {} } : {}) });
      assertErrorBody(hidden, 404, "unknown_command");
      assert.deepEqual(shape(hidden, handler), shape(unknown, "nothing"));
    }
    assert.equal(runs, 1);
  });

  it("in-process calls reach unexposed handlers", async () => {
    assert.deepEqual(await app.client.call(hiddenKv, "k").poke({}), 0);
    runs = 0;
  });
});

describe("access rules", () => {
  it("no token: 401 with WWW-Authenticate: Bearer, before the body is read (a malformed body is not even parsed)", async () => {
    const res = await requestJson(`${base}/signed/s1/sign`, { method: "POST", rawBody: "{not json", headers: { "content-type": "application/json" } });
    assertErrorBody(res, 401, "missing_token");
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
    const bad = await requestJson(`${base}/signed/s1/sign`, { method: "POST", rawBody: "{not json", headers: { "content-type": "application/json", authorization: "Bearer x.y.z" } });
    assert.equal(bad.status, 401, bad.text);
    assert.match(bad.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
    // The input validator (strict: no extra fields) did not run either: 401, not 400.
    assert.equal((await requestJson(`${base}/signed/s1/sign`, { body: { extra: 1 } })).status, 401);
    assert.equal(runs, 0);
  });

  it("sub must equal {id}: another subject is 403, the owner passes", async () => {
    assertErrorBody(await requestJson(`${base}/note/n1/read`, { headers: await bearer({ sub: "n2" }) }), 403, "forbidden");
    const own = await requestJson(`${base}/note/n1/read`, { headers: await bearer({ sub: "n1" }) });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.body.text, "hello");
  });

  it("the principal reaches the command handler as fx.principal; public routes get none", async () => {
    const res = await requestJson(`${base}/signed/s1/sign`, { body: {}, headers: await bearer({ sub: "alice" }) });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { by: "alice" });
    assert.equal((await requestJson(`${base}/note/n9/write`, { body: { text: "x" }, headers: await bearer({ sub: "alice" }) })).body.by, null);
  });

  it("roles: a string is not a list (403); the role starts the workflow, which records who started it", async () => {
    assertErrorBody(await requestJson(`${base}/approval/a1/start`, { body: { amount: 5 }, headers: await bearer({ sub: "bob", roles: "clerk" }) }), 403, "forbidden");
    const started = await requestJson(`${base}/approval/a1/start`, { body: { amount: 5 }, headers: await bearer({ sub: "bob", roles: ["clerk"] }) });
    assert.equal(started.status, 200, started.text);
    const result = await requestJson(`${base}/approval/a1?wait=5`, { headers: await bearer({ sub: "anyone" }) });
    assert.equal(result.body.status, "ended", result.text);
    assertErrorBody(await requestJson(`${base}/approval/a1`), 401, "missing_token");
    const shown = await requestJson(`${admin}/workflows/approval/a1`);
    assert.deepEqual(shown.body.workflow.startedBy, { subject: "bob", issuer: "tests" }, shown.text);
  });
});

describe("endpoints over HTTP", () => {
  it("path params reach the handler, which calls components through the client", async () => {
    const res = await requestJson(`${base}/notes/n1/summary`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { id: "n1", length: 5 });
  });

  it("a SagaflowError thrown by the handler is the usual JSON error; a bug is a 500 with a correlation id", async () => {
    assertErrorBody(await requestJson(`${base}/notes/nothing-here/summary`), 404, "not_found");
    const boom = await requestJson(`${base}/boom`);
    assertErrorBody(boom, 500, "internal");
    assert.equal(typeof boom.body.error.details.correlationId, "string");
  });

  it("validates params, query and body (400 invalid_input with paths), after the access check", async () => {
    const auth = await bearer({ sub: "carol" });
    assertErrorBody(await requestJson(`${base}/notes/n1/copy`, { body: {} }), 401, "missing_token");
    const badBody = assertErrorBody(await requestJson(`${base}/notes/n1/copy`, { body: { to: "" }, headers: auth }), 400, "invalid_input");
    assert.deepEqual(badBody.details.issues.map((i: { path: string[] }) => i.path), [["to"]]);
    const badParam = assertErrorBody(await requestJson(`${base}/notes/x1/copy`, { body: { to: "n5" }, headers: auth }), 400, "invalid_input");
    assert.deepEqual(badParam.details.issues.map((i: { path: string[] }) => i.path), [["id"]]);
    const badQuery = assertErrorBody(await requestJson(`${base}/notes/n1/copy?loud=maybe`, { body: { to: "n5" }, headers: auth }), 400, "invalid_input");
    assert.deepEqual(badQuery.details.issues.map((i: { path: string[] }) => i.path), [["loud"]]);
    const copied = await requestJson(`${base}/notes/n1/copy?loud=true`, { body: { to: "n5" }, headers: auth });
    assert.equal(copied.status, 201, copied.text);
    assert.equal(copied.headers.get("location"), "/notes/n5/summary");
    assert.deepEqual(copied.body, { copied: "n5", by: "carol" });
    // The endpoint's calls carry its caller, as a call over HTTP with that token would.
    assert.deepEqual(await app.client.call(note, "n5").read(), { text: "HELLO", by: "carol" });
  });

  it("a handler's wait for a workflow's result ends when its caller goes away", async () => {
    await assert.rejects(fetch(`${base}/pending/p1/outcome`, { signal: AbortSignal.timeout(300) }), { name: "TimeoutError" });
    const deadline = Date.now() + 5_000;
    while (pendingWaitEnded === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(pendingWaitEnded !== undefined, "the 30 s wait went on after the caller left");
  });

  it("an event stream whose reader does not read takes no more events than the socket holds", async () => {
    const { port } = new URL(base);
    const slow = connect(Number(port), "127.0.0.1");
    slow.write("GET /firehose HTTP/1.1\r\nhost: x\r\n\r\n");
    slow.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    slow.destroy();
    assert.ok(firehoseRead > 0 && firehoseRead < 2_000, `${firehoseRead} events of 16 KB taken from the producer for a reader that read none`);
  });

  it("a route's path with another method is 405 naming the methods it answers (HEAD answers as GET)", async () => {
    const wrong = await requestJson(`${base}/notes/n1/copy`);
    assertErrorBody(wrong, 405, "method_not_allowed");
    assert.equal(wrong.headers.get("allow"), "POST");
    assert.match(wrong.body.error.message, /\/notes\/n1\/copy answers POST, not GET/);
    const deleted = await requestJson(`${base}/text`, { method: "DELETE" });
    assertErrorBody(deleted, 405, "method_not_allowed");
    assert.equal(deleted.headers.get("allow"), "GET, HEAD");
    const head = await fetch(`${base}/text`, { method: "HEAD" });
    assert.equal(head.status, 202);
    assert.equal(await head.text(), "");
    // An event stream's HEAD ends after its headers, without reading the events.
    const streamHead = await fetch(`${base}/endless`, { method: "HEAD", signal: AbortSignal.timeout(3_000) });
    assert.deepEqual([streamHead.status, streamHead.headers.get("content-type"), await streamHead.text()], [200, "text/event-stream", ""]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(endlessRead, 0, "no event was read for a HEAD");
    // The automatic routes' 405s name their methods too; an unknown path is still 404.
    const command = await requestJson(`${base}/note/n1/write`);
    assertErrorBody(command, 405, "method_not_allowed");
    assert.equal(command.headers.get("allow"), "POST");
    assert.equal((await requestJson(`${base}/note/n1/write`, { method: "PUT" })).headers.get("allow"), "GET, HEAD, POST");
    assertErrorBody(await requestJson(`${base}/nothing/here/at-all`, { method: "DELETE" }), 404, "unknown_component");
  });

  it("a reply of null is null over HTTP, as in process (it was {})", async () => {
    const never = await requestJson(`${base}/maybe/m1/get`);
    assert.deepEqual([never.status, never.text], [200, "null"]);
    assert.deepEqual((await requestJson(`${base}/maybe/m1/set`, { body: { n: 1 } })).body, { n: 1 });
    assert.equal((await requestJson(`${base}/maybe/m1/clear`, { body: {} })).text, "null");
    assert.equal((await requestJson(`${base}/maybe/m1/get`)).text, "null");
  });

  it("answers text with its status, and streams text/event-stream", async () => {
    const text = await fetch(`${base}/text`);
    assert.equal(text.status, 202);
    assert.match(text.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(await text.text(), "plain words");
    const stream = await fetch(`${base}/ticks`);
    assert.equal(stream.headers.get("content-type"), "text/event-stream");
    assert.equal(await stream.text(), 'event: tick\ndata: {"n":1}\n\nevent: tick\ndata: {"n":2}\n\nevent: tick\ndata: {"n":3}\n\n');
  });
});

describe("route conflicts fail start-up, naming both", () => {
  const handler = () => ({});
  it("two endpoint routes matching one request", () => {
    const a = endpoint("a", [route.get("/orders/:id", { access: access.anyone }, handler)]);
    const b = endpoint("b", [route.get("/orders/latest", { access: access.anyone }, handler)]);
    assert.throws(() => createSagaflow(service("s", [a, b]), { store: sqlite(":memory:") }), /GET \/orders\/:id \(endpoint "a"\) and GET \/orders\/latest \(endpoint "b"\)/);
  });

  it("an endpoint route and an exposed component route; an unexposed component takes no route", () => {
    const shadow = endpoint("shadow", [route.post("/note/:id/write", { access: access.anyone }, handler)]);
    assert.throws(() => createSagaflow(service("s", [note, shadow]), { store: sqlite(":memory:") }), /POST \/note\/:id\/write \(endpoint "shadow"\) and the component route POST \/note\/\{id\}\/write/);
    const overErase = endpoint("over-erase", [route.post("/note/:id/erase", { access: access.anyone }, handler)]);
    assert.doesNotThrow(() => createSagaflow(service("s", [note, overErase]), { store: sqlite(":memory:") }));
    const overView = endpoint("over-view", [route.get("/views/:v/all", { access: access.anyone }, handler)]);
    assert.throws(() => createSagaflow(service("s", [note, notes, overView]), { store: sqlite(":memory:") }), /the view query GET \/views\/notes\/all/);
  });

  it("an expose naming no handler, or a route without an access rule, is refused when defined", () => {
    assert.throws(() => keyValue("typo", { initial: () => 0, commands: { a: (s, _c: {}, fx) => fx.reply(s) }, expose: { b: access.anyone } as never }), /expose names "b"/);
    assert.throws(() => route.get("/x", {} as never, handler), /access must be an access rule/);
  });

  it("a rule reading a path parameter the route lacks is refused when defined (it would refuse every caller)", () => {
    assert.throws(
      () => route.get("/me/orders", { access: access.anyOf(access.subjectIs("id"), access.subjectIs("id")) }, handler),
      /route GET \/me\/orders: its access rule \(sub = :id or sub = :id\) reads the path parameter :id, which the route does not have \(it has none\)/,
    );
    // One branch that can pass without it is fine: admins pass here.
    route.get("/admin/report", { access: access.anyOf(access.subjectIs("id"), access.role("admin")) }, handler);
    assert.throws(() => route.post("/users/:userId/orders", { access: access.subjectIs("id") }, handler), /reads the path parameter :id, which the route does not have \(it has :userId\)/);
    assert.throws(() => keyValue("owned", { initial: () => 0, commands: { a: (s, _c: {}, fx) => fx.reply(s) }, expose: { a: access.subjectIs("owner") } }), /component "owned": expose\.a: .*:owner/);
    assert.throws(() => view("mine", { version: 1, tables: { notes: table(note, { events: { written: (_r, e, { id }) => ({ id, text: e.text }) } }) }, queries: { all: "SELECT * AS notes FROM notes" }, expose: access.subjectIs("id") }), /component "mine": expose: .*:id.*\(it has none\)/);
    // The routes that have them are fine.
    route.get("/users/:id/orders", { access: access.subjectIs("id") }, handler);
    keyValue("owned-ok", { initial: () => 0, commands: { a: (s, _c: {}, fx) => fx.reply(s) }, expose: { a: access.subjectIs("id") } });
  });
});

describe("endpoints in the testkit, without a socket", () => {
  it("routes, checks access and validates as over HTTP", async () => {
    const t = await testService([note, api]);
    try {
      await t.client.call(note, "n1").write({ text: "abc" });
      assert.deepEqual(await t.request("GET", "/notes/n1/summary"), { status: 200, headers: {}, body: { id: "n1", length: 3 } });
      assert.equal((await t.request("POST", "/notes/n1/copy", { body: { to: "n2" } })).status, 401);
      const principal = { subject: "dan", issuer: "tests", claims: { sub: "dan" } };
      const bad = await t.request("POST", "/notes/n1/copy", { body: {}, principal });
      assert.equal(bad.status, 400);
      assert.equal((bad.body as { error: { code: string } }).error.code, "invalid_input");
      const copied = await t.request("POST", "/notes/n1/copy", { body: { to: "n2" }, principal });
      assert.deepEqual(copied.body, { copied: "n2", by: "dan" });
      assert.deepEqual((await t.request("GET", "/ticks")).events?.length, 3);
      assert.equal((await t.request("GET", "/nowhere")).status, 404);
      const wrongMethod = await t.request("GET", "/notes/n1/copy");
      assert.deepEqual([wrongMethod.status, wrongMethod.headers], [405, { allow: "POST" }]);
    } finally {
      await t.stop();
    }
  });

  it("a route conflict fails testService itself, as it fails serve", async () => {
    const clash = endpoint("clash", [route.get("/health", { access: access.anyone }, () => ({}))]);
    await assert.rejects(testService([note, clash]), /route conflict: GET \/health \(endpoint "clash"\) and the built-in health check GET \/health/);
  });
});
