import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { access, createSagaflow, entity, memoryStore, service } from "../src/index.ts";
import { requestJson } from "./support/http.ts";

/** Issue 12, point 6: CORS per service (preflight answered without a handler) and security headers on every answer. */

let runs = 0;
const counter = entity(
  "counter",
  { initial: () => ({ n: 0 }), events: { bumped: (s: { n: number }) => ({ n: s.n + 1 }) } },
  {
    commands: {
      bump: (_s, _c: {}, fx) => {
        runs++;
        return fx.emit("bumped", {}).reply((s) => ({ n: s.n }));
      },
    },
    queries: { get: (s, _: {}, fx) => fx.reply({ n: s.n }) },
    expose: access.anyone,
  },
);

const APP = "https://app.example.com";

async function started(cors?: Parameters<typeof service>[2]) {
  const app = createSagaflow(service("counting", [counter], cors), { store: memoryStore(), log: () => {} });
  const listening = await app.listen({ port: 0, adminPort: -1 });
  return { app, url: listening.url };
}

function preflight(url: string, origin: string, method = "POST") {
  return requestJson(url, { method: "OPTIONS", headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization, content-type" } });
}

describe("CORS", () => {
  it("a preflight from an allowed origin is answered 204 with the rules, and no handler runs", async () => {
    const { app, url } = await started({ cors: { origins: [APP], methods: ["GET", "POST"], maxAgeSeconds: 120 } });
    try {
      const before = runs;
      const answer = await preflight(`${url}/counter/c1/bump`, APP);
      assert.equal(answer.status, 204);
      assert.equal(answer.headers.get("access-control-allow-origin"), APP);
      assert.equal(answer.headers.get("access-control-allow-methods"), "GET, POST");
      assert.match(answer.headers.get("access-control-allow-headers") ?? "", /authorization/);
      assert.equal(answer.headers.get("access-control-max-age"), "120");
      assert.match(answer.headers.get("vary") ?? "", /Origin/);
      assert.equal(runs, before, "the preflight ran no command");
      assert.deepEqual((await requestJson(`${url}/counter/c1/get`)).body, { n: 0 });

      // The real request from that origin runs and carries its CORS headers.
      const real = await requestJson(`${url}/counter/c1/bump`, { method: "POST", body: {}, headers: { origin: APP } });
      assert.equal(real.status, 200);
      assert.equal(real.headers.get("access-control-allow-origin"), APP);
      assert.match(real.headers.get("access-control-expose-headers") ?? "", /sagaflow-position/);
      assert.equal(runs, before + 1);
    } finally {
      await app.stop();
    }
  });

  it("another origin: preflight 403 origin_not_allowed without running anything; plain requests get no CORS headers", async () => {
    const { app, url } = await started({ cors: { origins: [APP] } });
    try {
      const before = runs;
      const answer = await preflight(`${url}/counter/c2/bump`, "https://evil.example");
      assert.equal(answer.status, 403);
      assert.equal(answer.body.error.code, "origin_not_allowed");
      assert.equal(answer.headers.get("access-control-allow-origin"), null);
      assert.equal(runs, before);
      const plain = await requestJson(`${url}/counter/c2/get`, { headers: { origin: "https://evil.example" } });
      assert.equal(plain.headers.get("access-control-allow-origin"), null);
    } finally {
      await app.stop();
    }
  });

  it("origins \"*\" answers with *; a service without CORS answers a preflight like any unsupported method", async () => {
    const any = await started({ cors: { origins: "*" } });
    try {
      assert.equal((await preflight(`${any.url}/counter/c3/bump`, "https://x.example")).headers.get("access-control-allow-origin"), "*");
    } finally {
      await any.app.stop();
    }
    const none = await started();
    try {
      const before = runs;
      const answer = await preflight(`${none.url}/counter/c3/bump`, APP);
      assert.equal(answer.headers.get("access-control-allow-origin"), null);
      assert.ok(answer.status >= 400 && answer.status < 500);
      assert.equal(runs, before);
    } finally {
      await none.app.stop();
    }
  });

  it("a bad CORS configuration fails when the service is defined", () => {
    assert.throws(() => service("s", [counter], { cors: { origins: ["https://app.example.com/path"] } }), /not an origin/);
    assert.throws(() => service("s", [counter], { cors: { origins: "*", credentials: true } }), /cannot be allowed for every origin/);
  });
});

describe("security headers", () => {
  it("on every answer: success, refusal, unknown route, bad input; no HSTS over plain HTTP", async () => {
    const { app, url } = await started();
    try {
      const answers = [
        await requestJson(`${url}/counter/c9/bump`, { method: "POST", body: {} }),
        await requestJson(`${url}/nope/c9/bump`, { method: "POST", body: {} }),
        await requestJson(`${url}/counter/c9/bump`, { method: "POST", rawBody: "{not json", headers: { "content-type": "application/json" } }),
        await requestJson(`${url}/health`),
      ];
      assert.deepEqual(answers.map((a) => a.status), [200, 404, 400, 200]);
      for (const answer of answers) {
        assert.equal(answer.headers.get("x-content-type-options"), "nosniff");
        assert.equal(answer.headers.get("referrer-policy"), "no-referrer");
        assert.equal(answer.headers.get("x-frame-options"), "DENY");
        assert.match(answer.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
        assert.equal(answer.headers.get("cache-control"), "no-store");
        assert.equal(answer.headers.get("strict-transport-security"), null);
      }
    } finally {
      await app.stop();
    }
  });
});
