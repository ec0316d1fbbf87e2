/**
 * A local OTLP/HTTP receiver for bench/observe-overhead.ts: accepts every export (traces, metrics;
 * protobuf or JSON), reads it whole and answers 200, so that the exporting process pays what it
 * would pay a collector on the same machine. Prints `{"url":…}` on stdout once listening; on
 * SIGTERM prints `{"requests":…,"bytes":…}` and exits.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

let requests = 0;
let bytes = 0;
const server = createServer((req, res) => {
  req.on("data", (chunk: Buffer) => (bytes += chunk.length));
  req.on("end", () => {
    requests++;
    const json = (req.headers["content-type"] ?? "").includes("json");
    res.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" });
    res.end(json ? "{}" : undefined);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.on("SIGTERM", () => {
  process.stdout.write(`${JSON.stringify({ requests, bytes })}\n`);
  process.exit(0);
});
