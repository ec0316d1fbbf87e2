/**
 * The HTTP side of the auth bench: the bench service on SQLite behind one server whose first path
 * segment picks how callers are checked before the ingress runs (as an access rule does):
 *   /public/…         nobody is checked
 *   /hs256/…          an HS256 token (verified-token cache on, the default)
 *   /es256/…          an ES256 token, its key from a JWKS served by this process (fetched once, cached)
 *   /hs256-nocache/…, /es256-nocache/…   the same with the verified-token cache off (every signature checked)
 * Forked by bench/auth.ts. Arguments: `<data dir> <hs secret> <es public JWK as JSON>`.
 * IPC: sends {type:"ready", url}; on {type:"close"} stops and exits.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createAuthenticator, type Authenticator } from "../src/auth/authenticator.ts";
import { createSagaflow, sqlite } from "../src/index.ts";
import bench from "./entity-commands-service.ts";

const [dir, secret, jwk] = process.argv.slice(2);
if (!dir || !secret || !jwk || !process.send) {
  console.error("usage: forked by bench/auth.ts with <data dir> <hs secret> <es public JWK>");
  process.exit(2);
}

const app = createSagaflow(bench, { store: sqlite(join(dir, "sagaflow.db")), log: (line) => console.error(line) });
await app.start();

let jwksUrl = "";
const checkers = new Map<string, Authenticator | undefined>();
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const url = req.url ?? "/";
  if (url === "/jwks") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [JSON.parse(jwk)] }));
    return;
  }
  const slash = url.indexOf("/", 1);
  const route = url.slice(1, slash);
  if (!checkers.has(route)) {
    res.writeHead(404).end();
    return;
  }
  req.url = url.slice(slash);
  const checker = checkers.get(route);
  if (!checker) {
    app.handler(req, res);
    return;
  }
  void checker.authenticate(req.headers.authorization).then((result) => {
    if (result.ok) app.handler(req, res);
    else res.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" }).end(JSON.stringify({ error: { code: result.code, message: result.message } }));
  });
});
await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
jwksUrl = `${base}/jwks`;
const hs = (cache: boolean) => createAuthenticator({ issuers: [{ issuer: "bench-hs", algorithms: ["HS256"], secret }] }, cache ? {} : { tokenCacheSize: 0 });
const es = (cache: boolean) => createAuthenticator({ issuers: [{ issuer: "bench-es", algorithms: ["ES256"], jwksUrl }] }, cache ? {} : { tokenCacheSize: 0 });
checkers.set("public", undefined);
checkers.set("hs256", hs(true));
checkers.set("es256", es(true));
checkers.set("hs256-nocache", hs(false));
checkers.set("es256-nocache", es(false));
process.send({ type: "ready", url: base });

process.on("message", (message: { type?: string }) => {
  if (message.type !== "close") return;
  server.closeAllConnections();
  server.close();
  app.stop().then(() => process.exit(0), () => process.exit(1));
});
process.on("disconnect", () => process.exit(0));
