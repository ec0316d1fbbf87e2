import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { cli } from "./support/cli.ts";

/**
 * Where the CLI's `--admin` points, as an operator gets it wrong or sets it up behind a proxy: a
 * server that never answers, an admin API under a path, a refused token, https against http.
 * Each stands in for the admin API with a few lines of node:http (no service needed).
 */
describe("the CLI's admin target", () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const adminAnswer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "sagaflow-api": "admin" });
    res.end(JSON.stringify(body));
  };

  it("a-server-that-takes-the-request-and-never-answers-is-given-up-on-with-a-message", async () => {
    const silent = await serve(() => {});
    const run = await cli(["consumers", "--admin", silent], { SAGAFLOW_ADMIN_TIMEOUT_MS: "300" });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /took the request and did not answer within 0\.3 s/);
  });

  it("an-admin-api-under-a-path-is-asked-under-that-path", async () => {
    const paths: string[] = [];
    const proxied = await serve((req, res) => {
      paths.push(req.url ?? "");
      adminAnswer(res, 200, { consumers: [] });
    });
    const run = await cli(["consumers", "--admin", `${proxied}/sagaflow-admin/`]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(paths, ["/sagaflow-admin/consumers"]);
  });

  it("a-refused-token-says-where-it-came-from", async () => {
    const guarded = await serve((_req, res) => adminAnswer(res, 401, { error: { code: "invalid_token", message: "the admin token is not the right one" } }));
    const fromEnv = await cli(["nodes", "--admin", guarded], { SAGAFLOW_ADMIN_TOKEN: "not-the-right-one-at-all" });
    assert.match(fromEnv.stderr, /invalid_token: the admin token is not the right one \(the token came from SAGAFLOW_ADMIN_TOKEN/);
    const fromFlag = await cli(["nodes", "--admin", guarded, "--admin-token", "not-the-right-one-at-all"]);
    assert.match(fromFlag.stderr, /\(the token came from --admin-token/);
  });

  it("https-against-a-plain-http-admin-api-names-the-cause", async () => {
    const plain = await serve((_req, res) => adminAnswer(res, 200, { consumers: [] }));
    const run = await cli(["consumers", "--admin", plain.replace("http:", "https:")]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot reach the admin API at https:\/\/127\.0\.0\.1:\d+\/ \([A-Z_]+|.*ssl.*\): is the service running, and is this its admin port, http or https/i);
  });
});
