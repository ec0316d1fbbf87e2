import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { access } from "../define/access.ts";
import { entity } from "../define/entity.ts";
import { SagaflowError, isRefusal } from "../define/errors.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { Runtime } from "../runtime/runtime.ts";
import { createIngress } from "./ingress.ts";
import { ExposedRoutes } from "./exposed-routes.ts";

/** A refusal carries the 4xx its handler gave: over HTTP, to callers in process, and on repeats. */

const door = entity(
  "door",
  { initial: () => ({ opened: 0 }), events: { opened: (s: { opened: number }, _e: {}) => ({ opened: s.opened + 1 }) } },
  {
    expose: access.anyone,
    commands: {
      open: (s, _c: {}, fx) => (s.opened > 0 ? fx.error("already_open", "the door is open", { status: 409 }) : fx.emit("opened", {}).reply({ ok: true })),
      knock: (_s, _c: {}, fx) => fx.error("nobody_home"),
      misuse: (_s, c: { status: number }, fx) => fx.error("oops", "a 5xx is not a refusal", { status: c.status }),
    },
    queries: { find: (s, _q: {}, fx) => (s.opened > 0 ? fx.reply(s) : fx.error("not_found", "no such door", { status: 404 })) },
  },
);

describe("refusal status", () => {
  const runtime = new Runtime({ store: new MemoryStore(), components: [door], log: () => {} });
  const server = createIngress(runtime.service, { log: () => {}, exposed: new ExposedRoutes([door]) });
  let base = "";
  before(async () => {
    await runtime.start();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await runtime.stop();
  });
  const post = async (path: string, body: unknown = {}, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };

  it("a refusal answers with the status its handler gave, or 400", async () => {
    const missing = await fetch(`${base}/door/d1/find`);
    assert.equal(missing.status, 404);
    assert.deepEqual(((await missing.json()) as any).error.code, "not_found");
    assert.equal((await post("/door/d1/open")).status, 200);
    assert.deepEqual(await post("/door/d1/open"), { status: 409, body: { error: { code: "already_open", message: "the door is open" } } });
    assert.equal((await post("/door/d1/knock")).status, 400);
  });

  it("a repeated keyed call gets the stored refusal with its status, changing nothing", async () => {
    await post("/door/d2/open");
    const first = await post("/door/d2/open", {}, { "idempotency-key": "k1" });
    const again = await post("/door/d2/open", {}, { "idempotency-key": "k1" });
    assert.deepEqual([first.status, again.status], [409, 409]);
    assert.deepEqual(again.body, first.body);
    assert.deepEqual(await runtime.call("door", "d2", "find", {}, { queryOnly: true }), { opened: 1 });
  });

  it("in process the refusal is a SagaflowError with that status, which a workflow step does not retry", async () => {
    const error = await runtime.call("door", "d3", "find", {}, { queryOnly: true }).catch((e: unknown) => e);
    assert.ok(error instanceof SagaflowError);
    assert.equal(error.status, 404);
    assert.equal(isRefusal(error), true);
  });

  it("a status outside 400–499 is a bug in the handler: 500, and nothing changes", async () => {
    for (const status of [500, 200, 404.5]) {
      const res = await post("/door/d4/misuse", { status });
      assert.equal(res.status, 500, `status ${status}`);
      assert.equal(res.body.error.code, "internal");
    }
    assert.equal((await post("/door/d4/open")).status, 200, "the door was never touched");
  });
});
