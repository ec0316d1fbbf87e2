/**
 * The transfers bench's `bare` server: the same service, store and engine as `sagaflow serve`,
 * behind the barest HTTP handler that can drive it, in place of Sagaflow's own. Between the
 * floor (HTTP alone, ./http-floor-server.mjs) and the full server, it splits a transfer's time
 * into the engine with its store and what Sagaflow's HTTP layer adds (access rules, limits,
 * metrics and spans per request, in-order handling, error shapes).
 *
 * Started by ./sagaflow-nodes.ts in place of `bin/sagaflow.mjs`, with the arguments the bench
 * gives `serve` (`serve <service> --port 0 --data DIR --sync MODE`, or `--postgres URL
 * --postgres-schema S --node-name N`), and it prints the two lines `serve` prints. It serves
 * `POST /{component}/{id}/{handler}` (JSON body), `GET /{component}/{id}/{query}` and
 * `GET /{workflow}/{id}?wait=N` through the in-process client, on the port `--port` asks for,
 * and the admin API (the bench reads `GET /nodes`) on a free port of its own. Nothing checks
 * access: not a way to serve anything. The service module is found as `serve` finds it.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createSagaflow, postgres, SagaflowError, sqlite, type ServiceDefinition, type WorkflowDefinition } from "sagaflow";
import { loadService } from "../../src/cli/load-service.ts";

const [command, serviceDir, ...rest] = process.argv.slice(2);
if (command !== "serve" || serviceDir === undefined) throw new Error("usage: bare-serve.ts serve <service> --port N [--data DIR --sync MODE | --postgres URL --postgres-schema S --node-name N]");
const flag = (name: string) => {
  const at = rest.indexOf(name);
  return at === -1 ? undefined : rest[at + 1];
};

const service: ServiceDefinition = await loadService(serviceDir);
const postgresUrl = flag("--postgres");
const store = postgresUrl
  ? postgres(postgresUrl, { schema: flag("--postgres-schema") ?? "sagaflow" })
  : sqlite(join(flag("--data") ?? ".sagaflow", "sagaflow.db"), { synchronous: (flag("--sync") ?? "FULL") as "FULL" | "NORMAL" | "OFF" });
const nodeName = flag("--node-name");
const app = createSagaflow(service, { store, ...(nodeName === undefined ? {} : { nodeName }) });
await app.start();

const definitions = new Map(service.components.map((c) => [c.name, c]));
type Handlers = Record<string, (input: unknown) => Promise<unknown>>;

function answer(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

async function handle(req: http.IncomingMessage, body: string): Promise<unknown> {
  const target = new URL(req.url ?? "/", "http://localhost");
  const [name, id, handler] = target.pathname.split("/").slice(1).map(decodeURIComponent);
  const definition = name === undefined ? undefined : definitions.get(name);
  if (definition === undefined || id === undefined) throw new SagaflowError("not_found", `no route for ${req.method} ${target.pathname}`, { status: 404 });
  if (handler === undefined) {
    return app.client.result(definition as WorkflowDefinition<unknown>, id, Number(target.searchParams.get("wait") ?? 0));
  }
  const instance = (app.client.call as (d: unknown, id: string) => Handlers)(definition, id);
  return instance[handler]!(req.method === "POST" ? JSON.parse(body) : {});
}

const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk: string) => (body += chunk));
  req.on("end", () => {
    handle(req, body).then(
      (value) => answer(res, 200, value),
      (error: unknown) => answer(res, error instanceof SagaflowError ? error.status : 500, { error: error instanceof SagaflowError ? error.toJSON() : String(error) }),
    );
  });
});
const admin = http.createServer(app.adminHandler);
const listen = (s: http.Server, port: number) => new Promise<number>((ready) => s.listen(port, "127.0.0.1", () => ready((s.address() as AddressInfo).port)));
const port = await listen(server, Number(flag("--port") ?? 0));
const adminPort = await listen(admin, 0);
console.log(`bare: serving "${service.name}" behind a bare handler on http://127.0.0.1:${port}`);
console.log(`bare: admin API on http://127.0.0.1:${adminPort}`);

process.once("SIGTERM", () => {
  server.close();
  admin.close();
  server.closeAllConnections();
  admin.closeAllConnections();
  void app.stop().then(() => process.exit(0));
});
